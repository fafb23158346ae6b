"""`python -m kimiyi_local serve` (make dev) and `python -m kimiyi_local run` (make run)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from pathlib import Path

from .stack import LocalStack
from .template import PROJECT_ROOT, TEMPLATE_PATH

DEFAULT_ENV_FILE = PROJECT_ROOT / "env.local.json"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kimiyi_local", description=__doc__)
    parser.add_argument("command", choices=["serve", "run"])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument("--template", type=Path, default=TEMPLATE_PATH)
    parser.add_argument(
        "--env-file",
        type=Path,
        default=DEFAULT_ENV_FILE,
        help="environment overrides in `sam local --env-vars` JSON form (default: env.local.json if present)",
    )
    return parser.parse_args()


def main() -> int:
    args = _arguments()
    started = time.perf_counter()
    stack = LocalStack(port=args.port, template=args.template, env_file=args.env_file)
    if args.command == "serve":
        spec = stack.prepare()
        print(f"Kimiyi Voice local stack on {stack.base_url}")
        for route in spec.http_routes:
            print(f"  HTTP {route.route_key:<45} -> {route.function}")
        if spec.websocket_stage:
            print(
                f"  WebSocket ws://127.0.0.1:{stack.port}/{spec.websocket_stage}  ({', '.join(spec.websocket_routes)})"
            )
        print(f"  DynamoDB (moto) {stack.dynamodb.endpoint_url}: {', '.join(t.name for t in spec.tables)}")
        print(f"ready in {(time.perf_counter() - started) * 1000:.0f} ms; Ctrl-C stops it", flush=True)
        stack.serve_forever()
        return 0
    stack.start()
    try:
        print(f"local stack up on {stack.base_url} in {(time.perf_counter() - started) * 1000:.0f} ms")
        with urllib.request.urlopen(f"{stack.base_url}/api/health-optimized", timeout=10) as response:
            print(json.dumps(json.loads(response.read()), indent=2))
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
