"""What 1,000 call-minutes cost on AWS, from the requests a call really makes, measured in the local stack.

A few calls go through the real relay in the local stack (relay_turns.py's harness: make-call dryRun,
TwiML, the signed WebSocket, prompts streamed by the local LLM server), plus Twilio's four status
callbacks per call. Every Lambda invocation is counted and timed in process (the wall time of the
handler, as Lambda bills it), and a botocore hook on boto3's default session, which every handler's
clients come from, counts DynamoDB reads and writes (with item sizes, for request units) and
post_to_connection messages, each attributed to the invocation that made it. Per-turn and per-call
figures are then priced at us-east-1 on-demand list prices (PRICES below, with their date and source).

    python bench/cost.py --calls 3 --turns-per-call 10 --turns-per-minute 6 --call-minutes 3

Prints the request counts and the cost table and writes bench/results/cost.json. About 30 seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import boto3  # noqa: E402

boto3.setup_default_session()  # before any handler builds a client: they copy the session's hooks

from bench import common, relay_turns  # noqa: E402

PRICES_AS_OF = "2026-11-24"
REGION = "us-east-1"
# us-east-1 on-demand list prices, first tier, in USD. Checked on PRICES_AS_OF against the AWS pricing
# pages (through public copies and third-party summaries citing them: see VERIFIED below).
PRICES = {
    "lambda_request": 0.20 / 1e6,  # per invocation
    "lambda_gb_second_arm64": 0.0000133334,  # first 7.5 billion GB-s a month
    "websocket_message": 1.00 / 1e6,  # per message sent or received, metered in 32 KB increments
    "websocket_connection_minute": 0.25 / 1e6,
    "http_api_request": 1.00 / 1e6,  # first 300 million a month, metered in 512 KB increments
    "dynamodb_read_request_unit": 0.125 / 1e6,  # on-demand, after the November 2024 cut
    "dynamodb_write_request_unit": 0.625 / 1e6,
    "cloudwatch_logs_ingest_gb": 0.50,  # standard log class
}
VERIFIED = {
    "lambda_gb_second_arm64": "cloudchipr.com Lambda pricing guide (us-east-1 Arm first tier), aws.amazon.com/lambda/pricing",
    "lambda_request": "aws.amazon.com/lambda/pricing ($0.20 per 1M requests; stated from the page's standard rate)",
    "websocket_message": "aws.amazon.com/api-gateway/pricing (32 KB metering), amnic.com and awsforengineers.com summaries",
    "websocket_connection_minute": "amnic.com summary of aws.amazon.com/api-gateway/pricing",
    "http_api_request": "learnaws.org and amnic.com summaries of aws.amazon.com/api-gateway/pricing",
    "dynamodb_read_request_unit": "airbyte.com DynamoDB pricing guide (us-east-1, after the Nov 2024 cut)",
    "dynamodb_write_request_unit": "airbyte.com DynamoDB pricing guide (us-east-1, after the Nov 2024 cut)",
    "cloudwatch_logs_ingest_gb": "not checked in this run: the commonly published $0.50/GB standard ingestion",
}
# Hosted platforms' published per-minute list prices: what each includes differs, so each says so.
HOSTED = [
    {
        "platform": "Vapi",
        "usdPerMinute": 0.05,
        "includes": "platform fee only; STT, LLM, TTS and telephony billed on top at cost",
        "source": "Vapi docs (billing, cost routing) and 2026 third-party breakdowns",
    },
    {
        "platform": "Retell AI",
        "usdPerMinute": 0.07,
        "includes": "voice engine (STT+TTS) from $0.07; LLM (~$0.006-0.08) and telephony (~$0.01-0.03) extra",
        "source": "third-party summaries of retellai.com/pricing (2025-2026); not read on Retell's own page",
    },
    {
        "platform": "Bland AI",
        "usdPerMinute": 0.09,
        "includes": "bundles LLM, STT, TTS and telephony; $0.09 is the long-standing connected-minute rate, "
        "plan-dependent since 2025",
        "source": "Bland docs (llms.txt: per-minute price bundles LLM/STT/TTS/telephony); the figure is not "
        "confirmed on bland.ai/pricing in this run",
    },
]
LOG_BYTES_PER_INVOCATION = 1024  # START/END/REPORT platform lines plus one structured line: an estimate
DYNAMODB_READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")  # what make-call asks Twilio for
READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024


# --- counting -------------------------------------------------------------------------------------------


@dataclass
class InvocationRecord:
    function: str
    kind: str  # function, or the relay's route and frame type, e.g. "$default:prompt"
    memory_mb: int
    connection_id: str | None = None
    started: float = 0.0
    returned: float = 0.0
    duration_ms: float = 0.0
    reads: int = 0
    read_units: float = 0.0
    writes: int = 0
    write_units: float = 0.0
    write_units_floor: float = 0.0  # UpdateItem/DeleteItem at 1 WRU each: the lower bound
    posts: int = 0
    post_messages: int = 0  # 32 KB increments
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class AwsCounter:
    """Counts AWS calls per Lambda invocation: a thread-local names the invocation running on a thread."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self.invocations: list[InvocationRecord] = []
        self.unattributed: dict[str, int] = defaultdict(int)
        self.item_bytes: dict[str, int] = defaultdict(int)  # the largest item seen per table
        # The relay posts from its own event-loop thread: posts are matched to invocations by connection
        # and time afterwards (attribute_posts).
        self.posts: list[tuple[str, float, int]] = []  # (connection id, when, 32 KB messages)
        self.enabled = True

    def install(self) -> None:
        events = boto3.DEFAULT_SESSION.events
        events.register("before-parameter-build", self._before_call)
        events.register("after-call", self._after_call)

    def wrap(self, function: Any, handler: Any) -> Any:
        def timed(event: dict, context: Any) -> Any:
            record = InvocationRecord(
                function.logical_id, _kind(function.logical_id, event), function.memory_mb
            )
            record.connection_id = event.get("requestContext", {}).get("connectionId")
            self._local.current = record
            record.started = time.perf_counter()
            try:
                return handler(event, context)
            finally:
                record.returned = time.perf_counter()
                record.duration_ms = (record.returned - record.started) * 1000
                self._local.current = None
                if self.enabled:
                    with self._lock:
                        self.invocations.append(record)

        return timed

    def _before_call(self, params: dict, context: dict, **_: Any) -> None:
        context["cost_params"] = dict(params)  # the API parameters, before serialisation

    def _after_call(self, model: Any, parsed: dict, context: dict, **_: Any) -> None:
        if not self.enabled:
            return
        try:
            self._count(model, parsed, context)
        except Exception as error:  # a counting bug must not fail the product's call
            with self._lock:
                self.unattributed[f"counting error: {error!r}"] += 1

    def _count(self, model: Any, parsed: dict, context: dict) -> None:
        service = model.service_model.service_name
        operation = model.name
        params = context.get("cost_params") or {}
        if service == "apigatewaymanagementapi" and operation == "PostToConnection":
            messages = max(1, math.ceil(len(params.get("Data", b"")) / 32768))
            with self._lock:
                self.posts.append((params.get("ConnectionId", "?"), time.perf_counter(), messages))
            return
        record: InvocationRecord | None = getattr(self._local, "current", None)
        if record is None:
            with self._lock:
                self.unattributed[f"{service}.{operation}"] += 1
            return
        table = (context.get("cost_params") or {}).get("TableName")
        record.calls[f"{service}.{operation}" + (f"({table})" if table else "")] += 1
        if service == "dynamodb":
            self._count_dynamodb(record, operation, params, parsed)

    def _count_dynamodb(self, record: InvocationRecord, operation: str, params: dict, parsed: dict) -> None:
        table = params.get("TableName", "?")
        if operation in DYNAMODB_READS:
            items = _items_read(operation, parsed)
            sizes = [_item_bytes(item) for item in items]
            for size in sizes:
                self.item_bytes[table] = max(self.item_bytes[table], size)
            factor = 1.0 if params.get("ConsistentRead") else 0.5
            factor *= 2 if operation == "TransactGetItems" else 1
            units = (
                math.ceil(max(sum(sizes), 1) / READ_UNIT_BYTES)
                if operation in {"Query", "Scan"}
                else sum(math.ceil(max(size, 1) / READ_UNIT_BYTES) for size in sizes or [1])
            )
            record.reads += 1
            record.read_units += units * factor
        elif operation in DYNAMODB_WRITES:
            sizes = _item_sizes_written(operation, params, self.item_bytes)
            factor = 2 if operation == "TransactWriteItems" else 1
            record.writes += 1
            record.write_units += factor * sum(math.ceil(max(size, 1) / WRITE_UNIT_BYTES) for size in sizes)
            if operation in {"UpdateItem", "DeleteItem"}:
                record.write_units_floor += 1
            else:
                record.write_units_floor += factor * sum(
                    math.ceil(max(s, 1) / WRITE_UNIT_BYTES) for s in sizes
                )


def attribute_posts(counter: AwsCounter) -> None:
    """Gives each post_to_connection to the invocation on its connection that was running when it returned."""
    for connection_id, when, messages in counter.posts:
        owner = next(
            (
                r
                for r in counter.invocations
                if r.connection_id == connection_id and r.started <= when <= r.returned
            ),
            None,
        )
        if owner is None:
            counter.unattributed["apigatewaymanagementapi.PostToConnection"] += 1
            continue
        owner.posts += 1
        owner.post_messages += messages
        owner.calls["apigatewaymanagementapi.PostToConnection"] += 1


def _kind(function_id: str, event: dict) -> str:
    route = event.get("requestContext", {}).get("routeKey")
    if function_id != relay_turns.RELAY_FUNCTION or not route:
        return function_id
    if route != "$default":
        return route
    return f"$default:{relay_turns._message_type(event.get('body'))}"


def _items_read(operation: str, parsed: dict) -> list[dict]:
    if operation == "GetItem":
        return [parsed["Item"]] if "Item" in parsed else []
    if operation in {"Query", "Scan"}:
        return list(parsed.get("Items", []))
    if operation == "BatchGetItem":
        return [item for items in parsed.get("Responses", {}).values() for item in items]
    if operation == "TransactGetItems":
        return [r["Item"] for r in parsed.get("Responses", []) if "Item" in r]
    return []


def _item_sizes_written(operation: str, params: dict, largest: dict[str, int]) -> list[int]:
    """Item sizes a write is billed on. UpdateItem and DeleteItem bill on the stored item, which the
    request does not carry: the largest item seen in that table stands in (an upper bound)."""
    if operation == "PutItem":
        size = _item_bytes(params.get("Item", {}))
        table = params.get("TableName", "?")
        largest[table] = max(largest[table], size)
        return [size]
    if operation in {"UpdateItem", "DeleteItem"}:
        return [largest.get(params.get("TableName", "?"), 1)]
    if operation == "BatchWriteItem":
        return [
            _item_bytes(request.get("PutRequest", {}).get("Item", {})) or largest.get(table, 1)
            for table, requests in params.get("RequestItems", {}).items()
            for request in requests
        ]
    if operation == "TransactWriteItems":
        sizes = []
        for entry in params.get("TransactItems", []):
            (action, body), *_ = entry.items()
            sizes.append(
                _item_bytes(body.get("Item", {}))
                if action == "Put"
                else largest.get(body.get("TableName"), 1)
            )
        return sizes
    return [1]


def _item_bytes(item: dict) -> int:
    """DynamoDB's item size: attribute names plus values (UTF-8 strings, ~1 byte per 2 digits of a number)."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: Any) -> int:
    if not isinstance(value, dict) or len(value) != 1:
        return len(json.dumps(value, default=str).encode())
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return len(inner.lstrip("-").replace(".", "")) // 2 + 1
    if kind == "B":
        return len(inner)
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_bytes(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(_value_bytes(v) + 1 for v in inner)
    if kind in {"SS", "NS", "BS"}:
        return sum(len(str(v).encode()) for v in inner)
    return len(json.dumps(inner, default=str).encode())


# --- running calls --------------------------------------------------------------------------------------


def send_status_callbacks(client: Any, base_url: str, tracking_id: str) -> list[int]:
    """Twilio's status callbacks for one call, signed as Twilio signs them; returns the HTTP statuses."""
    url = f"{base_url}/api/call-status?trackingId={tracking_id}"
    call_sid = "CA" + uuid.uuid4().hex
    statuses = []
    for status in STATUS_EVENTS:
        form = {"CallSid": call_sid, "CallStatus": status, "AccountSid": "AC" + "0" * 32}
        if status == "completed":
            form["CallDuration"] = "60"
        statuses.append(
            relay_turns.simulator._signed_post(client, url, form, relay_turns.AUTH_TOKEN).status_code
        )
    return statuses


def run(args: argparse.Namespace) -> tuple[AwsCounter, list[int], int]:
    import httpx

    from kimiyi_local.llm_server import LocalLLMServer
    from kimiyi_local.stack import LocalStack

    def count_invocations(stack: LocalStack) -> None:
        original_handler = stack._handler
        stack._handler = lambda function: counter.wrap(function, original_handler(function))  # type: ignore[method-assign]

    counter = AwsCounter()
    counter.install()
    recorder = relay_turns.RelayRecorder()
    statuses: list[int] = []
    with LocalLLMServer(
        reply=relay_turns.DEFAULT_REPLY, first_token_ms=args.first_token_ms, token_ms=args.token_ms
    ) as llm:
        common.use_local_llm(llm.openai_base_url, metrics=True)  # writing the EMF lines is part of the cost
        with (
            relay_turns.running_stack(recorder, count_invocations) as stack,
            httpx.Client(timeout=relay_turns.RECV_TIMEOUT_S) as client,
        ):

            def call(turns: int, shop: str) -> None:
                played = relay_turns.play_call(
                    client,
                    stack.base_url,
                    recorder,
                    None,
                    turns,  # type: ignore[arg-type]
                    shop=shop,
                    reply=relay_turns.DEFAULT_REPLY,
                    barge_in=False,
                    quiet_s=1.0,
                )
                time.sleep(0.2)  # let $disconnect run before the next call's count
                statuses.extend(send_status_callbacks(client, stack.base_url, played.tracking_id))

            counter.enabled = False
            call(2, "Shop warm-up")  # warm-up: imports, first clients, table creation are not a call's cost
            counter.enabled = True
            for index in range(args.calls):
                call(args.turns_per_call, relay_turns.shop_name(index))
    attribute_posts(counter)
    return counter, statuses, args.calls


# --- pricing ----------------------------------------------------------------------------------------------


def per_kind(counter: AwsCounter) -> dict[str, dict[str, float]]:
    grouped: dict[str, list[InvocationRecord]] = defaultdict(list)
    for record in counter.invocations:
        grouped[record.kind].append(record)
    table = {}
    for kind, records in sorted(grouped.items()):
        n = len(records)
        table[kind] = {
            "invocations": n,
            "memoryMb": records[0].memory_mb,
            "meanDurationMs": round(sum(r.duration_ms for r in records) / n, 2),
            "gbSeconds": sum(math.ceil(r.duration_ms) / 1000 * r.memory_mb / 1024 for r in records),
            "dynamodbReads": sum(r.reads for r in records),
            "readUnits": sum(r.read_units for r in records),
            "dynamodbWrites": sum(r.writes for r in records),
            "writeUnits": sum(r.write_units for r in records),
            "writeUnitsFloor": sum(r.write_units_floor for r in records),
            "posts": sum(r.posts for r in records),
            "postMessages": sum(r.post_messages for r in records),
            "operations": dict(sorted(sum((Counter(r.calls) for r in records), Counter()).items())),
        }
    return table


def usage(kinds: dict[str, dict[str, float]], calls: int, turns_per_call: int) -> dict[str, dict[str, float]]:
    """Per turn (a caller prompt: its $default invocation and what it did) and per call (the rest)."""
    per_turn_kinds = {"$default:prompt"}
    turns = calls * (turns_per_call + 1)  # the goodbye is a prompt too
    out = {}
    for scope, divisor, selected in (
        ("perTurn", turns, [k for k in kinds if k in per_turn_kinds]),
        ("perCall", calls, [k for k in kinds if k not in per_turn_kinds]),
    ):
        numeric = [
            key
            for key in next(iter(kinds.values()))
            if key not in {"memoryMb", "meanDurationMs", "operations"}
        ]
        totals = {key: sum(kinds[k][key] for k in selected) for key in numeric}
        out[scope] = {key: value / divisor for key, value in totals.items()}
    # Frames Twilio sends are WebSocket messages received: one per $default invocation.
    out["perTurn"]["inboundMessages"] = out["perTurn"]["invocations"]
    out["perCall"]["inboundMessages"] = (
        sum(kinds[k]["invocations"] for k in kinds if k.startswith("$default") and k not in per_turn_kinds)
        / calls
    )
    out["perCall"]["httpRequests"] = (
        sum(kinds[k]["invocations"] for k in kinds if not k.startswith("$") and k != "AuthorizerFunction")
        / calls
    )
    return out


def cost_per_1000_minutes(
    use: dict, turns_per_minute: float, call_minutes: float
) -> list[tuple[str, float, str]]:
    minutes = 1000.0
    turns = minutes * turns_per_minute
    calls = minutes / call_minutes
    t, c = use["perTurn"], use["perCall"]
    invocations = t["invocations"] * turns + c["invocations"] * calls
    rows = [
        ("Lambda requests", invocations * PRICES["lambda_request"], f"{invocations:,.0f} invocations"),
        (
            "Lambda duration (arm64)",
            (gbs := t["gbSeconds"] * turns + c["gbSeconds"] * calls) * PRICES["lambda_gb_second_arm64"],
            f"{gbs:,.1f} GB-s",
        ),
        (
            "WebSocket messages",
            (
                msgs := (t["postMessages"] + t["inboundMessages"]) * turns
                + (c["postMessages"] + c["inboundMessages"]) * calls
            )
            * PRICES["websocket_message"],
            f"{msgs:,.0f} messages (in + out)",
        ),
        (
            "WebSocket connection minutes",
            minutes * PRICES["websocket_connection_minute"],
            f"{minutes:,.0f} min",
        ),
        (
            "HTTP API requests",
            (http := c["httpRequests"] * calls) * PRICES["http_api_request"],
            f"{http:,.0f} requests",
        ),
        (
            "DynamoDB reads (on-demand)",
            (rru := t["readUnits"] * turns + c["readUnits"] * calls) * PRICES["dynamodb_read_request_unit"],
            f"{rru:,.0f} RRU",
        ),
        (
            "DynamoDB writes (on-demand)",
            (wru := t["writeUnits"] * turns + c["writeUnits"] * calls)
            * PRICES["dynamodb_write_request_unit"],
            f"{wru:,.0f} WRU (floor {t['writeUnitsFloor'] * turns + c['writeUnitsFloor'] * calls:,.0f}: "
            "updates and deletes at 1 WRU)",
        ),
        (
            "CloudWatch Logs ingestion (est.)",
            invocations * LOG_BYTES_PER_INVOCATION / 1e9 * PRICES["cloudwatch_logs_ingest_gb"],
            f"~{LOG_BYTES_PER_INVOCATION} B/invocation",
        ),
    ]
    return rows


# --- main -------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = common.new_parser(__doc__)
    parser.add_argument("--calls", type=int, default=3, help="measured calls (default 3)")
    parser.add_argument("--turns-per-call", type=int, default=10, help="caller turns per call (default 10)")
    parser.add_argument(
        "--turns-per-minute", type=float, default=6.0, help="caller turns per call-minute (default 6)"
    )
    parser.add_argument(
        "--call-minutes", type=float, default=3.0, help="mean call length in minutes (default 3)"
    )
    common.add_llm_flags(parser)
    args = parser.parse_args(argv)
    common.check_args(
        parser, args, at_least_one=("calls", "turns_per_call"), positive=("turns_per_minute", "call_minutes")
    )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    counter, statuses, calls = run(args)
    kinds = per_kind(counter)
    use = usage(kinds, calls, args.turns_per_call)
    rows = cost_per_1000_minutes(use, args.turns_per_minute, args.call_minutes)
    total = sum(cost for _, cost, _ in rows)

    print(common.machine_line())
    print(
        f"{calls} calls x {args.turns_per_call} turns (+ goodbye) through the real relay; LLM server "
        f"{args.first_token_ms:g} ms first token, {args.token_ms:g} ms/token; 4 status callbacks per call"
    )
    print("\n1. Measured per invocation kind (totals over the measured calls)")
    print(
        common.format_table(
            ["invocation", "n", "MB", "mean ms", "DDB reads", "RRU", "DDB writes", "WRU", "posts"],
            [
                [
                    k,
                    int(v["invocations"]),
                    int(v["memoryMb"]),
                    v["meanDurationMs"],
                    int(v["dynamodbReads"]),
                    v["readUnits"],
                    int(v["dynamodbWrites"]),
                    v["writeUnits"],
                    int(v["posts"]),
                ]
                for k, v in kinds.items()
            ],
        )
    )
    print("   AWS operations per invocation kind:")
    for kind, values in kinds.items():
        print(f"     {kind}: " + ", ".join(f"{op} x{n}" for op, n in values["operations"].items()))
    if counter.unattributed:
        print(f"   AWS calls outside any invocation (not priced): {dict(counter.unattributed)}")
    print("\n2. Per turn and per call")
    keys = [
        "invocations",
        "gbSeconds",
        "dynamodbReads",
        "readUnits",
        "dynamodbWrites",
        "writeUnits",
        "posts",
        "inboundMessages",
    ]
    print(
        common.format_table(
            ["", *keys, "httpRequests"],
            [
                [scope, *(f"{use[scope][k]:.3f}" for k in keys), f"{use[scope].get('httpRequests', 0):.3f}"]
                for scope in ("perTurn", "perCall")
            ],
        )
    )
    print(
        f"\n3. AWS cost per 1,000 call-minutes, {REGION} on-demand list prices as of {PRICES_AS_OF} "
        f"({args.turns_per_minute:g} turns/min, {args.call_minutes:g}-minute calls; free tiers ignored)"
    )
    table_rows = [[name, f"${cost:.4f}", basis] for name, cost, basis in rows]
    table_rows.append(
        ["Total (excl. Twilio voice minutes, LLM tokens)", f"${total:.4f}", f"${total / 1000:.6f}/min"]
    )
    cost_table = common.format_table(["component", "USD", "basis"], table_rows)
    print(cost_table)
    print(
        "\n4. Hosted platforms' published per-minute list prices, per 1,000 minutes (as of 2026; see notes)"
    )
    hosted_table = common.format_table(
        ["platform", "USD / 1,000 min", "includes"],
        [[h["platform"], f"${h['usdPerMinute'] * 1000:.0f}", h["includes"]] for h in HOSTED],
    )
    print(hosted_table)
    bad = [s for s in statuses if s >= 300]
    if bad:
        print(f"   note: {len(bad)} status callbacks answered {sorted(set(bad))} (invocations still counted)")
    elapsed = time.perf_counter() - started
    figures = {
        "settings": vars(args),
        "region": REGION,
        "pricesAsOf": PRICES_AS_OF,
        "prices": PRICES,
        "priceSources": VERIFIED,
        "hosted": HOSTED,
        "measured": kinds,
        "usage": use,
        "unattributedCalls": dict(counter.unattributed),
        "statusCallbackHttp": statuses,
        "costPer1000Minutes": {name: round(cost, 6) for name, cost, _ in rows},
        "costBasis": {name: basis for name, _, basis in rows},
        "totalUsdPer1000Minutes": round(total, 6),
        "excluded": [
            "Twilio voice minutes and ConversationRelay",
            "LLM tokens",
            "data transfer",
            "free tiers",
            "provisioned concurrency",
            "the <Connect action> callback (one more CallStatus request per call)",
        ],
        "runSeconds": round(elapsed, 1),
    }
    common.finish("cost", figures, elapsed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
