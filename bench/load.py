"""Load: 10, 50 and 200 concurrent simulated calls against the local stack on loopback.

One local stack runs in this process with the real relay handler (the harness of relay_turns.py), and
every reply is streamed by the local LLM server. For each level, that many callers open their calls
(make-call dryRun, TwiML, a signed WebSocket each, on their own thread), then all start talking at
once: a fixed number of turns each with a short think time between them, then "goodbye". Each level
is bounded in time; turns not started by its deadline are counted as not attempted.

    python bench/load.py --levels 10 50 200 --turns-per-call 5 --level-seconds 60

Per level: turns attempted and completed, errors (prompts without a TurnReport, API Gateway error
frames, timeouts, connection failures), turns answered by a fallback, lost turns (a prompt whose reply
never fully arrived, or a completed turn missing from the call's stored state), server-side turn
latency (TurnReport.latency_ms) and client-observed first text, throughput and the CPU this process
used. Everything (stack, DynamoDB, LLM server, clients) shares this machine's cores: at high levels
the latency measures the box, not Lambda, where each invocation has its own CPU.

Writes bench/results/load.json and, when matplotlib is installed, docs/benchmarks/load.png.
"""

from __future__ import annotations

import logging
import os
import random
import resource
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack, redirect_stdout
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # so `python bench/load.py` finds the `bench` package

import httpx  # noqa: E402
from websockets.exceptions import WebSocketException  # noqa: E402

from bench import common  # noqa: E402
from bench import relay_turns as harness  # noqa: E402
from kimiyi.adapters.calls_store import CallsStore  # noqa: E402
from kimiyi_local import llm_server  # noqa: E402
from kimiyi_local.llm_server import LocalLLMServer  # noqa: E402
from kimiyi_local.stack import LocalStack  # noqa: E402

STAGING_AT_ONCE = 20  # calls being set up at the same time, as a dialler ramps up
STAGING_TIMEOUT_S = 120.0  # for all calls of a level to be set up
FDS_PER_CALL = 8  # client socket, server socket, LLM and management-API connections, with margin
# The local LLM server stands for a hosted API; socketserver's default listen backlog of 5 would drop
# the SYNs of a burst of new streams (a 1 s retransmit each) and measure the fake server instead.
LLM_LISTEN_BACKLOG = 1024


@dataclass(frozen=True)
class Settings:
    levels: tuple[int, ...]
    turns_per_call: int
    think_s: tuple[float, float]
    level_seconds: float
    turn_timeout_s: float
    first_token_ms: float
    token_ms: float
    reply: str


@dataclass
class CallRecord:
    """What one caller saw."""

    index: int
    tracking_id: str | None = None
    sent: list[str] = field(default_factory=list)  # utterances whose prompt went out
    completed: list[str] = field(default_factory=list)  # ... and whose reply ended with `last`
    first_text_ms: list[float] = field(default_factory=list)
    not_attempted: int = 0  # turns left when the level's deadline passed
    goodbye: bool = False
    errors: Counter = field(default_factory=Counter)


class LoadRecorder(harness.RelayRecorder):
    """The relay_turns recorder, plus a cheap wait for a call's n-th recorded turn: relay_turns polls
    the whole invocation list, which 200 waiting callers would turn into a CPU load of its own."""

    def __init__(self) -> None:
        super().__init__()
        self._recorded = threading.Condition()
        self._turns: Counter = Counter()

    def __call__(self, event: dict, context: Any) -> Any:
        result = super().__call__(event, context)
        if event["requestContext"]["routeKey"] == "$default":
            connection_id = event["requestContext"]["connectionId"]
            # A caller sends one frame at a time, so the newest invocation on this connection is ours.
            with self._lock:  # RelayRecorder's private lock over `invocations`
                mine = next(i for i in reversed(self.invocations) if i.connection_id == connection_id)
            if mine.report is not None:
                with self._recorded:
                    self._turns[mine.report.tracking_id] += 1
                    self._recorded.notify_all()
        return result

    def wait_recorded(self, tracking_id: str, count: int, timeout_s: float) -> bool:
        """True once the server has returned from `count` turns of the call (its state saved)."""
        with self._recorded:
            return self._recorded.wait_for(lambda: self._turns[tracking_id] >= count, timeout=timeout_s)


@dataclass
class Level:
    """The shared pieces one level's callers use."""

    calls: int
    settings: Settings
    client: httpx.Client
    base_url: str
    recorder: LoadRecorder
    staging: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(STAGING_AT_ONCE))
    ready: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    go: threading.Event = field(default_factory=threading.Event)
    deadline: float = 0.0  # time.monotonic(); set when `go` is


def play(level: Level, record: CallRecord) -> None:
    """One caller: open the call, wait for everyone, talk, say goodbye. Errors are counted, not raised."""
    settings = level.settings
    rng = random.Random(record.index)  # the same think times on every run
    signalled = False
    phase = "connecting"
    try:
        with ExitStack() as call:
            with level.staging:
                tracking_id, ws = call.enter_context(
                    harness.open_call(level.client, level.base_url, f"Shop {record.index}", pause_s=0)
                )
            record.tracking_id = tracking_id
            level.ready.release()
            signalled = True
            level.go.wait()
            time.sleep(rng.uniform(0, settings.think_s[1]))  # callers do not all speak at the same instant
            phase = "talking"
            for index in range(settings.turns_per_call):
                if time.monotonic() >= level.deadline:
                    record.not_attempted = settings.turns_per_call - index
                    return
                utterance = harness.UTTERANCES[index % len(harness.UTTERANCES)]
                record.sent.append(utterance)
                if not _talk(level, record, ws, utterance, index):
                    return
                time.sleep(rng.uniform(*settings.think_s))
            phase = "goodbye"
            harness.say_goodbye(ws)
            record.goodbye = level.recorder.wait_recorded(
                tracking_id, len(record.completed) + 1, settings.turn_timeout_s
            )
    except (OSError, httpx.HTTPError, WebSocketException, harness.BenchError, SystemExit) as error:
        # SystemExit: simulator.play_turn's way of reporting an API Gateway error frame (goodbye).
        record.errors[f"{phase}_failure"] += 1
        record.errors[f"detail: {phase}: {type(error).__name__}: {str(error)[:80]}"] += 1
    finally:
        if not signalled:
            level.ready.release()


def _talk(level: Level, record: CallRecord, ws: Any, utterance: str, index: int) -> bool:
    """One turn; False when the call cannot go on (the socket's state is then unknown)."""
    try:
        turn = harness.stream_turn(ws, utterance, barge_in=False, quiet_s=0.0)
    except harness.BenchError as error:
        if "Internal server error" in str(error):
            record.errors["gateway_error_frame"] += 1
        elif "did not finish" in str(error):
            record.errors["timeout"] += 1
        else:
            record.errors["unexpected_frame"] += 1
            record.errors[f"detail: talking: {str(error)[:80]}"] += 1
        return False
    record.completed.append(utterance)
    record.first_text_ms.append(turn.first_text_ms)
    if turn.text.strip() != level.settings.reply:
        record.errors["changed_reply"] += 1
    if not level.recorder.wait_recorded(record.tracking_id or "", index + 1, level.settings.turn_timeout_s):
        record.errors["not_recorded"] += 1
        return False
    return True


def run_level(
    calls: int, settings: Settings, stack: LocalStack, recorder: LoadRecorder, store: CallsStore
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=STAGING_AT_ONCE * 2, max_keepalive_connections=STAGING_AT_ONCE)
    with httpx.Client(timeout=30.0, limits=limits) as client:
        level = Level(calls, settings, client, stack.base_url, recorder)
        records = [CallRecord(index) for index in range(calls)]
        threads = [
            threading.Thread(target=play, args=(level, record), name=f"caller-{record.index}", daemon=True)
            for record in records
        ]
        staging_started = time.perf_counter()
        for thread in threads:
            thread.start()
        staging_deadline = time.monotonic() + STAGING_TIMEOUT_S
        for _ in records:
            level.ready.acquire(timeout=max(staging_deadline - time.monotonic(), 0.001))
        staged_s = time.perf_counter() - staging_started
        invocations_before = len(recorder.invocations)
        cpu_before = time.process_time()
        started = time.perf_counter()
        level.deadline = time.monotonic() + settings.level_seconds
        level.go.set()
        # A turn under way at the deadline may still take a turn timeout, plus its goodbye.
        join_by = time.monotonic() + settings.level_seconds + 2 * settings.turn_timeout_s + 10
        for thread in threads:
            thread.join(timeout=max(join_by - time.monotonic(), 0.001))
        elapsed_s = time.perf_counter() - started
        cpu_s = time.process_time() - cpu_before
        stuck = sum(1 for thread in threads if thread.is_alive())
    return summarize_level(
        calls, records, recorder.invocations[invocations_before:], store, elapsed_s, cpu_s, staged_s, stuck
    )


def summarize_level(
    calls: int,
    records: list[CallRecord],
    invocations: list[harness.Invocation],
    store: CallsStore,
    elapsed_s: float,
    cpu_s: float,
    staged_s: float,
    stuck: int,
) -> dict[str, Any]:
    errors: Counter = Counter()
    for record in records:
        errors.update(record.errors)
    prompts = [i for i in invocations if i.message_type == "prompt"]
    talk = [i.report for i in prompts if i.report and _answered_at_talk(i.report)]
    completed = sum(len(record.completed) for record in records)
    return {
        "calls": calls,
        **_call_counts(records, staged_s),
        "errors": _errors(errors, prompts, stuck),
        "errorDetails": {key[8:]: n for key, n in errors.items() if key.startswith("detail: ")},
        **_fallbacks(talk, errors),
        "lostTurns": {
            "noReply": sum(len(record.sent) - len(record.completed) for record in records),
            "missingFromState": sum(_missing_from_state(store, record) for record in records),
        },
        **_latencies(talk, records),
        "elapsedSeconds": round(elapsed_s, 1),
        "turnsPerSecond": round(completed / elapsed_s, 2),
        "processCpuSeconds": round(cpu_s, 1),
        "cpuBusyPercentOfAllCores": round(100 * cpu_s / elapsed_s / (os.cpu_count() or 1), 1),
        "samples": {
            "serverTurnLatencyMs": _server_ms(talk),
            "clientFirstTextMs": [ms for record in records for ms in record.first_text_ms],
        },
    }


def _answered_at_talk(report: harness.TurnReport) -> bool:
    return report.outcome is not None and report.outcome.node_path == ("talk",)


def _call_counts(records: list[CallRecord], staged_s: float) -> dict[str, Any]:
    return {
        "callsConnected": sum(1 for record in records if record.tracking_id),
        "stagingSeconds": round(staged_s, 1),
        "turnsAttempted": sum(len(record.sent) for record in records),
        "turnsCompleted": sum(len(record.completed) for record in records),
        "turnsNotAttempted": sum(record.not_attempted for record in records),
        "goodbyes": sum(1 for record in records if record.goodbye),
    }


def _errors(errors: Counter, prompts: list[harness.Invocation], stuck: int) -> dict[str, int]:
    return {
        "handlerFailures": sum(1 for i in prompts if i.report is None),
        "gatewayErrorFrames": errors["gateway_error_frame"],
        "timeouts": errors["timeout"],
        "unexpectedFrames": errors["unexpected_frame"],
        "connectFailures": errors["connecting_failure"],
        "midCallFailures": errors["talking_failure"],
        "goodbyeFailures": errors["goodbye_failure"],
        "notRecorded": errors["not_recorded"],
        "callersStuckAtEnd": stuck,
    }


def _fallbacks(talk: list[harness.TurnReport], errors: Counter) -> dict[str, Any]:
    """Turns another provider answered (the chain's reasons), cross-checked from the client's side."""
    outcomes = [r.outcome for r in talk if r.outcome]
    fallback = [o for o in outcomes if o.provider != "compatible" or o.failures]
    return {
        "fallbackTurns": len(fallback),
        "fallbackReasons": dict(Counter(f for o in fallback for f in o.failures).most_common(5)),
        # Cross-check of fallbackTurns from the client: replies that were not the LLM server's text.
        "repliesNotFromLlm": errors["changed_reply"],
    }


def _server_ms(talk: list[harness.TurnReport]) -> list[float]:
    return [r.latency_ms for r in talk if r.latency_ms is not None]


def _latencies(talk: list[harness.TurnReport], records: list[CallRecord]) -> dict[str, Any]:
    marks = [r.outcome.marks.as_ms() for r in talk if r.outcome and r.outcome.provider == "compatible"]
    return {
        "serverTurnLatencyMs": common.summary_or_none(_server_ms(talk)),
        "clientFirstTextMs": common.summary_or_none(ms for record in records for ms in record.first_text_ms),
        # Where a streamed turn's time goes, from its received time (LLM-answered turns only).
        "receivedToLlmRequestMs": common.summary_or_none(m["llmRequest"] for m in marks if "llmRequest" in m),
        "receivedToFirstTokenMs": common.summary_or_none(m["firstToken"] for m in marks if "firstToken" in m),
    }


def _missing_from_state(store: CallsStore, record: CallRecord) -> int:
    """Turns the caller completed that the call's stored state does not hold: the state's `turns`
    count and the caller's words in its history must cover every turn the caller heard answered."""
    if record.tracking_id is None:
        return 0
    expected = record.completed + ([harness.GOODBYE] if record.goodbye else [])
    state, _ = store.load_state(record.tracking_id)
    state = state or {}
    said = [m["content"] for m in state.get("history", []) if m["role"] == "user"]
    not_in_history = sum((Counter(expected) - Counter(said)).values())
    return max(not_in_history, len(expected) - int(state.get("turns", 0)), 0)


# --- report ---------------------------------------------------------------------------------------------


def table(levels: list[dict[str, Any]]) -> str:
    headers = [
        "calls",
        "attempted",
        "completed",
        "not started",
        "errors",
        "fallback",
        "lost",
        "srv p50",
        "srv p95",
        "srv p99",
        "cli p50",
        "cli p99",
        "turns/s",
        "CPU %",
    ]
    rows = []
    for level in levels:
        server = level["serverTurnLatencyMs"] or {}
        client = level["clientFirstTextMs"] or {}
        rows.append(
            [
                str(level["calls"]),
                level["turnsAttempted"],
                level["turnsCompleted"],
                level["turnsNotAttempted"],
                sum(level["errors"].values()),
                level["fallbackTurns"],
                sum(level["lostTurns"].values()),
                server.get("p50"),
                server.get("p95"),
                server.get("p99"),
                client.get("p50"),
                client.get("p99"),
                float(level["turnsPerSecond"]),
                float(level["cpuBusyPercentOfAllCores"]),
            ]
        )
    return common.format_table(headers, rows)


def breakdown(levels: list[dict[str, Any]]) -> str:
    """Where the server-side time goes: before the LLM request (state, workflow) and to its first token."""
    rows = []
    for level in levels:
        request = level["receivedToLlmRequestMs"] or {}
        token = level["receivedToFirstTokenMs"] or {}
        rows.append(
            [str(level["calls"]), request.get("p50"), request.get("p99"), token.get("p50"), token.get("p99")]
        )
    headers = ["calls", "recv->LLM req p50", "p99", "recv->1st token p50", "p99"]
    return common.format_table(headers, rows)


def plot(levels: list[dict[str, Any]], path: Path) -> Path | None:
    """Latency percentiles and throughput against concurrent calls; None without matplotlib."""
    plt = common.pyplot()
    if plt is None:
        return None
    calls = [level["calls"] for level in levels]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for key, who, style in (("serverTurnLatencyMs", "server", "-"), ("clientFirstTextMs", "client", "--")):
        for q in ("p50", "p95", "p99"):
            values = [(level[key] or {}).get(q) for level in levels]
            if key == "clientFirstTextMs" and q == "p95":
                continue
            left.plot(calls, values, style, marker="o", label=f"{who} {q}")
    left.set(
        xscale="log",
        yscale="log",
        xlabel="concurrent calls",
        ylabel="ms to the first text frame",
        title="Turn latency under load (one 2-core box)",
    )
    left.set_xticks(calls, [str(c) for c in calls])
    left.legend(fontsize=8)
    left.grid(alpha=0.3, which="both")
    labels = [str(c) for c in calls]
    fallback = [level["fallbackTurns"] / level["elapsedSeconds"] for level in levels]
    answered = [level["turnsPerSecond"] - rate for level, rate in zip(levels, fallback, strict=True)]
    right.bar(labels, answered, label="answered by the LLM")
    right.bar(labels, fallback, bottom=answered, color="C1", label="answered by a fallback")
    right.set_ylim(0, 1.3 * max(level["turnsPerSecond"] for level in levels))  # room for the legends
    right.legend(fontsize=8, loc="upper right")
    right.set(xlabel="concurrent calls", ylabel="completed turns per second", title="Throughput")
    twin = right.twinx()
    twin.plot(
        labels,
        [level["cpuBusyPercentOfAllCores"] for level in levels],
        "C3o-",
        label="process CPU, % of all cores",
    )
    twin.set(ylabel="% of all cores", ylim=(0, 130))
    twin.legend(fontsize=8, loc="upper left")
    return common.save_figure(figure, path)


# --- main -----------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> Settings:
    parser = common.new_parser(__doc__)
    parser.add_argument("--levels", type=int, nargs="+", default=[10, 50, 200], help="concurrent calls")
    parser.add_argument("--turns-per-call", type=int, default=5, help="streamed turns per call (default 5)")
    parser.add_argument("--think-min-s", type=float, default=0.5, help="caller's pause between turns, from")
    parser.add_argument("--think-max-s", type=float, default=1.5, help="... to (uniform)")
    parser.add_argument("--level-seconds", type=float, default=60.0, help="no turn starts after this")
    parser.add_argument("--turn-timeout-s", type=float, default=30.0, help="a reply not done by then is lost")
    common.add_llm_flags(parser)
    args = parser.parse_args(argv)
    if not args.levels or min(args.levels) < 1:
        parser.error("--levels must be at least 1")
    if not 0 <= args.think_min_s <= args.think_max_s:
        parser.error("--think-min-s must be >= 0 and <= --think-max-s")
    common.check_args(
        parser, args, at_least_one=("turns_per_call",), positive=("level_seconds", "turn_timeout_s")
    )
    return Settings(
        tuple(args.levels),
        args.turns_per_call,
        (args.think_min_s, args.think_max_s),
        args.level_seconds,
        args.turn_timeout_s,
        args.first_token_ms,
        args.token_ms,
        harness.DEFAULT_REPLY,
    )


def raise_fd_limit(calls: int) -> tuple[int, int]:
    """Lifts the soft open-files limit to what the largest level needs, within the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1024 + FDS_PER_CALL * calls
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        if new < wanted:
            print(f"warning: open files limited to {new}; {calls} calls may need {wanted}", file=sys.stderr)
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def run(settings: Settings) -> list[dict[str, Any]]:
    harness.RECV_TIMEOUT_S = settings.turn_timeout_s  # stream_turn's per-turn limit
    llm_server._HTTPServer.request_queue_size = LLM_LISTEN_BACKLOG  # private: see LLM_LISTEN_BACKLOG
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)  # "pool is full" at 200 calls
    recorder = LoadRecorder()
    timing = {"first_token_ms": settings.first_token_ms, "token_ms": settings.token_ms}
    results = []
    with LocalLLMServer(reply=settings.reply, **timing) as llm:
        common.use_local_llm(llm.openai_base_url, metrics=True)  # the EMF lines are part of the load
        with harness.running_stack(recorder) as stack:
            store = harness.calls_store(stack)
            run_level(2, settings, stack, recorder, store)  # warm-up: imports, first connections; not counted
            for calls in settings.levels:
                print(f"level {calls}: running ...", file=sys.stderr, flush=True)
                results.append(run_level(calls, settings, stack, recorder, store))
                time.sleep(2)  # let the level's $disconnects finish before the next starts
    return results


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    fd_limit = raise_fd_limit(max(settings.levels))
    started = time.perf_counter()
    # The relay prints one EMF metrics line per call to stdout, as in Lambda: still produced (the work is
    # part of the load), but not shown between the tables.
    with open(os.devnull, "w", encoding="utf-8") as devnull, redirect_stdout(devnull):
        levels = run(settings)
    elapsed_s = time.perf_counter() - started
    print(f"\n{common.machine_line()}")
    print(
        "Everything in this one process on those cores: uvicorn (local API Gateway), the relay handler on "
        "worker threads, moto DynamoDB, the local LLM server and every caller thread."
    )
    print(
        f"LLM: first token {settings.first_token_ms:g} ms, {settings.token_ms:g} ms/token; "
        f"{settings.turns_per_call} turns a call + goodbye, think {settings.think_s[0]:g}-"
        f"{settings.think_s[1]:g} s; each level bounded at {settings.level_seconds:g} s"
    )
    print(table(levels))
    print(
        "srv = server: frame received -> first text frame posted (TurnReport.latency_ms); cli = client: "
        "prompt sent -> first text frame received (ms). errors: handler failures + API Gateway error "
        "frames + timeouts + connection/goodbye failures; fallback: turns answered by another provider; "
        "lost: prompts without a full reply + completed turns missing from the stored state."
    )
    print(
        "CPU % = this process's CPU time / wall time / cores. About 100/cores % is one core: the GIL runs "
        "the Python of the whole stack one thread at a time, so the box saturates near one core."
    )
    print("\nServer-side breakdown (ms from the frame received; LLM-answered turns):")
    print(breakdown(levels))
    for level in levels:
        if any(level["errors"].values()) or level["errorDetails"] or level["fallbackTurns"]:
            print(
                f"  {level['calls']} calls: errors {level['errors']} {level['errorDetails']}; "
                f"fallback reasons {level['fallbackReasons']}"
            )
    figures = {
        "settings": asdict(settings),
        "openFilesLimit": list(fd_limit),
        "levels": levels,
        "runSeconds": round(elapsed_s, 1),
    }
    common.finish("load", figures, elapsed_s, lambda path: plot(levels, path))
    lost = sum(sum(level["lostTurns"].values()) for level in levels)
    return 1 if lost else 0


if __name__ == "__main__":
    raise SystemExit(main())
