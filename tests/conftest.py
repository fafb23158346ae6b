"""Shared fixtures: a Lambda context, Powertools settings, and local stacks run as real processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "kimiyi-voice-test")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "KimiyiVoiceTest")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


@dataclass
class FakeLambdaContext:
    function_name: str = "test-function"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    memory_limit_in_mb: int = 512
    aws_request_id: str = ""
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "test"

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 5000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@dataclass
class RunningStack:
    base_url: str
    process: subprocess.Popen
    output: list[str]
    reader: threading.Thread  # ends at the output's end: join it to have every line of a stopped stack

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def dynamodb(self):
        """The stack's own DynamoDB (its moto server), as a test reaches it from outside."""
        import boto3

        line = next(line for line in self.output if "DynamoDB (moto)" in line)
        return boto3.resource(
            "dynamodb",
            endpoint_url=line.split()[2].rstrip(":"),
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )


def start_stack(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> RunningStack:
    """Starts `python -m kimiyi_local serve` on a free port and waits until it says it is ready."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kimiyi_local", "serve", "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    output: list[str] = []
    base_url: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if found := re.search(r"local stack on (http://127\.0\.0\.1:\d+)", line):
                base_url.append(found.group(1))
            if line.startswith("ready in"):
                ready.set()
        ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not ready.wait(timeout) or not base_url or process.poll() is not None:
        process.kill()
        raise RuntimeError("local stack did not start:\n" + "".join(output))
    return RunningStack(base_url[0], process, output, reader)


def stop_stack(stack: RunningStack) -> None:
    stack.process.terminate()
    try:
        stack.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        stack.process.kill()
        stack.process.wait()


@pytest.fixture(scope="session")
def app_stack() -> Iterator[RunningStack]:
    """The real template, as `make dev` serves it, with a second tenant added as docs/tenants.md says."""
    stack = start_stack(
        "--env-file", "/nonexistent", env={"KIMIYI_API_KEYS": "local-dev-key,acme:acme-dev-key"}
    )
    yield stack
    stop_stack(stack)
