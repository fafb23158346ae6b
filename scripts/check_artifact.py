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


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("build_dir", type=Path)
    parser.add_argument("--python", default="python3.12")
    args = parser.parse_args()
    return 1 if check(args.build_dir.resolve(), args.python) else 0


if __name__ == "__main__":
    sys.exit(main())
