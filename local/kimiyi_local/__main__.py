"""`python -m kimiyi_local serve` (make dev) and `python -m kimiyi_local run` (make run)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

from kimiyi.api_keys import plain_entry

from . import simulator
from .llm_server import LocalLLMServer
from .stack import LocalStack
from .template import PROJECT_ROOT, TEMPLATE_PATH

DEFAULT_ENV_FILE = PROJECT_ROOT / "env.local.json"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kimiyi_local", description=__doc__)
    parser.add_argument("command", choices=["serve", "run"])
    parser.add_argument(
        "--llm",
        choices=["offline", "local"],
        default="offline",
        help="run: offline = the scripted responder (or your real LLM if its key is set); "
        "local = the local LLM server with a realistic first-token time",
    )
    parser.add_argument("--first-token-ms", type=float, default=300.0, help="with --llm local")
    parser.add_argument("--interactive", action="store_true", help="run: type the caller's words")
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
        # Ctrl-C at any point stops cleanly: uvicorn shuts down gracefully and re-raises it.
        with contextlib.suppress(KeyboardInterrupt):
            try:
                serve(stack, started)
            finally:
                stack.dynamodb.stop()
        print("local stack stopped", flush=True)
        return 0
    # The transcript is the output; the functions' JSON logs and EMF metric lines would interleave with it
    # (the call's figures are printed after it, from the performance-metrics API).
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    return run(stack, args, started)


def serve(stack: LocalStack, started: float) -> None:
    spec = stack.prepare()
    print(f"Kimiyi Voice local stack on {stack.base_url}")
    for route in spec.http_routes:
        print(f"  HTTP {route.route_key:<45} -> {route.function}")
    if spec.websocket_stage:
        routes = ", ".join(spec.websocket_routes)
        print(f"  WebSocket ws://127.0.0.1:{stack.port}/{spec.websocket_stage}  ({routes})")
    print(f"  DynamoDB (moto) {stack.dynamodb.endpoint_url}: {', '.join(t.name for t in spec.tables)}")
    stack.serve_forever(
        on_started=lambda: print(
            f"ready in {(time.perf_counter() - started) * 1000:.0f} ms; Ctrl-C stops it", flush=True
        )
    )


def run(stack: LocalStack, args: argparse.Namespace, started: float) -> int:
    """The main job: a simulated call of the example workflow through the whole local stack."""
    with contextlib.ExitStack() as cleanup:
        if args.llm == "local":
            server = cleanup.enter_context(LocalLLMServer(first_token_ms=args.first_token_ms, token_ms=15))
            os.environ.update({"LLM_BASE_URL": server.openai_base_url, "LLM_MODEL": "local-fake"})
            os.environ.update({"LLM_API_KEY": "local", "LLM_PROVIDER_ORDER": "compatible,scripted"})
            print(f"local LLM server: first token {args.first_token_ms:.0f} ms, 15 ms per token")
        stack.start()
        cleanup.callback(stack.stop)
        print(f"local stack up on {stack.base_url} in {(time.perf_counter() - started) * 1000:.0f} ms")
        workflow = json.loads(simulator.DEFAULT_WORKFLOW.read_text(encoding="utf-8"))
        call = json.loads(simulator.DEFAULT_SCRIPT.read_text(encoding="utf-8"))
        print(f"\n{call['description']}\n")
        result = simulator.simulate(
            stack.base_url,
            workflow,
            call,
            api_key=plain_entry(os.environ.get("KIMIYI_API_KEYS", "local-dev-key").split(",")[0])[1],
            auth_token=os.environ.get("TWILIO_AUTH_TOKEN", "local-auth-token"),
            turns=simulator.typed_turns() if args.interactive else None,
        )
        simulator.print_summary(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
