"""The layers stay closed: data access only under kimiyi/adapters/, adapters never reach up into the
relay or the turn pipeline, and the functions that only report figures never load the turn pipeline."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "layers" / "core" / "kimiyi"
AWS_SDK = ("boto3", "botocore")
# settings.py reads SSM secrets lazily, inside a method: the one reader that is not an adapter.
SDK_OUTSIDE_ADAPTERS = {"settings.py"}


def imports(path: Path) -> set[str]:
    """Absolute names of every module `path` imports, at any depth (lazy imports count too)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
                found.add(module)
                found.update(f"{module}.{alias.name}" for alias in node.names)
            else:
                found.add(node.module or "")
    return found


def modules(under: Path) -> list[Path]:
    return sorted(under.rglob("*.py"))


@pytest.mark.parametrize("path", modules(PACKAGE), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_adapters_touch_the_aws_sdk(path):
    if path.is_relative_to(PACKAGE / "adapters") or path.name in SDK_OUTSIDE_ADAPTERS:
        return
    reached = {name for name in imports(path) if name.split(".")[0] in AWS_SDK}
    assert not reached, (
        f"{path.relative_to(PACKAGE)} imports {sorted(reached)}: data access belongs in adapters/"
    )


@pytest.mark.parametrize("path", modules(PACKAGE / "adapters"), ids=lambda p: p.name)
def test_adapters_never_reach_into_the_relay_or_the_turn_pipeline(path):
    reached = {n for n in imports(path) if n.startswith(("kimiyi.relay", "kimiyi.conversation"))}
    assert not reached, f"adapters/{path.name} imports {sorted(reached)}"


def test_the_relay_module_imports_are_one_way():
    relay = {n for p in modules(PACKAGE / "relay") for n in imports(p)}
    assert "kimiyi.adapters.websocket_sender" in relay  # the relay uses the adapter, never the reverse


@pytest.mark.parametrize("function", ["metrics", "health"])
def test_the_reporting_functions_do_not_load_the_turn_pipeline(function):
    probe = (
        f"import sys; import {function}_handler; "
        "print(__import__('json').dumps(sorted(m for m in sys.modules if m.startswith('kimiyi'))))"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "core"), str(ROOT / "functions" / function)]),
        "CALLS_TABLE": "calls",
        "CACHE_TABLE": "cache",
        "IDEMPOTENCY_TABLE": "idempotency",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
        ).stdout
    )
    heavy = [
        m
        for m in loaded
        if m.startswith(("kimiyi.conversation", "kimiyi.workflow", "kimiyi.cache", "kimiyi.relay"))
    ]
    assert heavy == []
