"""Imports every function's handler from a `sam build` artifact, as the Lambda runtime would.

Each handler is imported by a fresh python3.12 with nothing on sys.path but the function's folder and the
built layer (`-I -S -B`: no site-packages, no user paths, no bytecode written), with the function's
environment from the template. Prints each cold import time: of the artifact as it is, so a plain
`sam build` (no bytecode) and `make build` (bytecode compiled in) can be compared.

    python scripts/check_artifact.py .aws-sam/build --python python3.12
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from kimiyi_local.template import FunctionSpec, read_stack

PROBE = """
import sys, time, json
sys.path[:0] = {paths!r}
started = time.perf_counter()
module = __import__({module!r})
handler = getattr(module, {attribute!r})
assert callable(handler), "handler is not callable"
print(json.dumps({{"ms": (time.perf_counter() - started) * 1000, "file": module.__file__}}))
"""


def probe_env(function: FunctionSpec) -> dict[str, str]:
    """The function's template environment, with credentials as Lambda provides them and no secrets
    path, so nothing reaches AWS at import."""
    return {
        **function.environment,
        "SECRETS_PATH": "",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "check",
        "AWS_SECRET_ACCESS_KEY": "check",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def check(build_dir: Path, python: str) -> int:
    spec = read_stack("https://example.invalid")
    layer = build_dir / "CoreLayer" / "python"
    failures = 0
    for function in spec.functions.values():
        code = build_dir / function.logical_id
        env = probe_env(function)
        probe = PROBE.format(
            paths=[str(code), str(layer)], module=function.module, attribute=function.attribute
        )
        result = subprocess.run(
            [python, "-I", "-S", "-B", "-c", probe], capture_output=True, text=True, env=env
        )
        if result.returncode != 0:
            failures += 1
            print(f"FAIL {function.logical_id}: {result.stderr.strip().splitlines()[-1:]}\n{result.stderr}")
            continue
        report = json.loads(result.stdout.strip().splitlines()[-1])
        if not report["file"].startswith(str(code)):
            failures += 1
            print(f"FAIL {function.logical_id}: imported {report['file']}, not the artifact's copy")
            continue
        print(
            f"ok   {function.logical_id:<24} {function.module}.{function.attribute}  cold import {report['ms']:.0f} ms"
        )
    return failures


CLIENTS_PROBE = """
import sys, json
sys.path[:0] = {paths!r}
import boto3
urls = {{}}
for name in {services!r}:
    extra = {{"endpoint_url": "https://example.invalid"}} if name == "apigatewaymanagementapi" else {{}}
    urls[name] = boto3.client(name, region_name="us-east-1", **extra).meta.endpoint_url
print(json.dumps(urls))
"""


def check_clients(build_dir: Path, python: str) -> int:
    """A client for each service the template allows, from the (trimmed) layer, at the endpoint the
    complete botocore of the development environment resolves."""
    import boto3
    from trim_botocore import services_in

    from kimiyi_local.template import load_template

    services = sorted(services_in(load_template()))
    probe = CLIENTS_PROBE.format(paths=[str(build_dir / "CoreLayer" / "python")], services=services)
    env = {"AWS_ACCESS_KEY_ID": "check", "AWS_SECRET_ACCESS_KEY": "check", "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([python, "-I", "-S", "-B", "-c", probe], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        print(f"FAIL clients: {result.stderr}")
        return 1
    built = json.loads(result.stdout)
    failures = 0
    for name in services:
        extra = {"endpoint_url": "https://example.invalid"} if name == "apigatewaymanagementapi" else {}
        expected = boto3.client(name, region_name="us-east-1", **extra).meta.endpoint_url
        ok = built.get(name) == expected
        failures += not ok
        print(
            f"{'ok  ' if ok else 'FAIL'} client {name:<24} {built.get(name)}"
            + ("" if ok else f" (expected {expected})")
        )
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("build_dir", type=Path)
    parser.add_argument("--python", default="python3.12")
    args = parser.parse_args()
    build_dir = args.build_dir.resolve()
    return 1 if check(build_dir, args.python) + check_clients(build_dir, args.python) else 0


if __name__ == "__main__":
    sys.exit(main())
