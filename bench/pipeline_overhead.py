"""How much latency the turn pipeline adds on top of the LLM, and what failover costs the caller.

Every turn runs `run_turn` through a FailoverChain of CompatibleProviders (the lean streaming client,
kimiyi/llm/http_stream.py) against LocalLLMServer on 127.0.0.1, whose first-token time and per-token gap are set, so
whatever the turn takes beyond the server's own waits is pipeline + client + loopback cost. One chain
and one client per provider serve every turn of a run, as in a warm Lambda.

    python bench/pipeline_overhead.py --turns 200 --first-token-ms 200 --token-ms 10

Prints tables, writes bench/results/pipeline_overhead.json and, when matplotlib is installed,
docs/benchmarks/pipeline_overhead.png.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # so `python bench/pipeline_overhead.py` finds the `bench` package

import httpx  # noqa: E402  (development dependency: the bare client the pipeline is compared with)

from bench import common  # noqa: E402
from kimiyi.chunking import ClauseChunker  # noqa: E402
from kimiyi.conversation import CallState, Say, TurnInput, TurnOutcome, run_turn  # noqa: E402
from kimiyi.conversation.turn import LlmRequested, opening  # noqa: E402
from kimiyi.languages import get_language  # noqa: E402
from kimiyi.llm import BreakerSettings, CompatibleProvider, FailoverChain, ProviderTimeouts  # noqa: E402
from kimiyi.llm.tokens import split_into_tokens  # noqa: E402
from kimiyi.workflow import Workflow, parse_workflow  # noqa: E402
from kimiyi_local.llm_server import LocalLLMServer  # noqa: E402

# The first clause ("Sure,") is complete at the 2nd token, so the server's wait before it is known.
FIXED_REPLY = "Sure, I can help."
# Matches no keyword or intent of the bench workflow, which has no LLM-judged edge: one LLM call a turn.
ISOLATED_UTTERANCE = "What are your opening hours on Saturday?"
# At the clinic's ask_confirm: no keyword or intent matches, so the three LLM edges are judged; it
# shares no word with them, so the local server's router answers 0 and the call stays at ask_confirm.
JUDGED_UTTERANCE = "Where is the clinic?"

TIMEOUTS = ProviderTimeouts(connect_s=2.0, read_s=5.0)
NEVER_OPEN = BreakerSettings(failure_threshold=10**9)  # every failover turn pays the primary's failure
DROP_AFTER_TOKENS = 3  # the primary's tokens before it drops the connection
FAILOVER_WARMUP = 3  # also what opens the default breaker (3 failures) in the circuit-open case

# The relay benchmarks' workflow: one conversation node that loops on itself and an end node, no LLM-judged
# edge, so a turn is exactly one streamed LLM call. {{shop}} is its one variable.
BENCH_WORKFLOW = common.load_workflow("shop")
BENCH_VARIABLES = {"shop": "Corner Bikes"}


class BenchError(RuntimeError):
    """A turn did not take the path being measured: its figures would describe something else."""


@dataclass(frozen=True)
class Settings:
    turns: int
    warmup: int
    judged_turns: int
    failover_turns: int
    first_token_ms: float
    token_ms: float
    deadline_ms: float


@dataclass(frozen=True)
class Scenario:
    """A turn played over and over from the same state, so every turn sends the same request."""

    key: str
    description: str
    workflow: Workflow
    state: CallState
    utterance: str
    judge_calls: int  # LLM calls before the streamed reply (edge judging)


@dataclass(frozen=True)
class FailoverCase:
    key: str
    label: str
    primary_mode: str | None  # the primary server's mode; None: a port with nothing listening
    answered_by: str  # the provider expected to write the reply
    failure: str  # the failure record expected on every measured turn
    deadline_counts: bool  # the primary is given up only at the first-token deadline
    breaker: BreakerSettings = NEVER_OPEN


FAILOVER_CASES = (
    FailoverCase("dead", "primary dead (connection refused)", None, "secondary", "primary:error", False),
    FailoverCase(
        "hang", "primary hangs after headers", "hang_after_headers", "secondary", "primary:timeout", True
    ),
    FailoverCase("error", "primary answers HTTP 500", "error", "secondary", "primary:error", False),
    FailoverCase("drop", "primary drops mid-stream", "drop", "secondary", "primary:dropped", False),
    FailoverCase(
        "open",
        "primary dead, circuit open (default breaker)",
        None,
        "secondary",
        "primary:circuit-open",
        False,
        BreakerSettings(),
    ),
)


# --- playing turns ------------------------------------------------------------------------------------


def play(scenario: Scenario, chain: FailoverChain) -> TurnOutcome:
    """One turn, consumed as the relay would; returns its outcome (the chunks are in outcome.reply)."""
    outcome = None
    for event in run_turn(scenario.workflow, scenario.state, TurnInput(scenario.utterance), chain):
        if isinstance(event, TurnOutcome):
            outcome = event
        elif not isinstance(event, Say | LlmRequested):
            raise BenchError(f"{scenario.key}: unexpected event {event!r} (a language switch?)")
    if outcome is None:
        raise BenchError(f"{scenario.key}: the turn ended without an outcome")
    return outcome


def play_many(
    scenario: Scenario,
    chain: FailoverChain,
    turns: int,
    warmup: int,
    check: Callable[[TurnOutcome], str | None],
) -> list[TurnOutcome]:
    """warmup + turns turns in sequence; returns the measured ones. `check` names what went wrong."""
    measured = []
    for index in range(warmup + turns):
        outcome = play(scenario, chain)
        problem = check(outcome)
        if problem:
            raise BenchError(f"{scenario.key}, turn {index}: {problem}")
        if index >= warmup:
            measured.append(outcome)
    return measured


def expect(
    provider: str, failures: tuple[str, ...], path: tuple[str, ...]
) -> Callable[[TurnOutcome], str | None]:
    def check(outcome: TurnOutcome) -> str | None:
        if outcome.provider != provider:
            return f"answered by {outcome.provider!r}, expected {provider!r} (failures: {outcome.failures})"
        if outcome.failures != failures:
            return f"failures {outcome.failures}, expected {failures}"
        if outcome.node_path != path:
            return f"went {outcome.node_path}, expected {path}"
        if outcome.marks.first_chunk is None or outcome.marks.first_token is None:
            return "no streamed reply"
        return None

    return check


def tokens_to_first_clause(reply: str, language: str) -> int:
    """How many of the server's tokens must arrive before the chunker releases the reply's first clause."""
    chunker = ClauseChunker(get_language(language).clause_delimiters)
    tokens = split_into_tokens(reply)
    for count, token in enumerate(tokens, start=1):
        if chunker.feed(token):
            return count
    return len(tokens)  # no boundary: the whole reply is flushed at the end


# --- scenario 1: pipeline overhead --------------------------------------------------------------------


def overhead_samples(
    outcomes: list[TurnOutcome], scenario: Scenario, settings: Settings
) -> dict[str, list[float]]:
    """Per-turn figures in ms; `server wait` is what the local server sleeps before the first clause."""
    samples: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        samples.setdefault(name, []).append(value)

    for outcome in outcomes:
        ms = outcome.marks.as_ms()
        k = tokens_to_first_clause(outcome.reply, scenario.state.language)
        reply_wait = settings.first_token_ms + (k - 1) * settings.token_ms
        server_wait = scenario.judge_calls * settings.first_token_ms + reply_wait
        add("a_received_to_llm_request", ms["llmRequest"])
        if scenario.judge_calls:
            add("a1_judge_call", ms["stepDone"])
            add(
                "a1_judge_call_minus_first_token",
                ms["stepDone"] - scenario.judge_calls * settings.first_token_ms,
            )
        add("b_llm_request_to_first_token", ms["firstToken"] - ms["llmRequest"])
        add("b1_client_and_chain", ms["firstToken"] - ms["llmRequest"] - settings.first_token_ms)
        add("c_first_token_to_first_chunk", ms["firstChunk"] - ms["firstToken"])
        add("c1_chunking", ms["firstChunk"] - ms["firstToken"] - (k - 1) * settings.token_ms)
        add("d_received_to_first_chunk", ms["firstChunk"])
        add("e_overhead", ms["firstChunk"] - server_wait)
        add("tokens_to_first_clause", k)
    return samples


ROW_LABELS = {
    "a_received_to_llm_request": "(a)  received -> LLM request",
    "a1_judge_call": "     of which judging: received -> step done",
    "a1_judge_call_minus_first_token": "     judging minus server first-token time",
    "b_llm_request_to_first_token": "(b)  LLM request -> first token",
    "b1_client_and_chain": "     (b) minus server first-token time",
    "c_first_token_to_first_chunk": "(c)  first token -> first chunk",
    "c1_chunking": "     (c) minus server token gaps",
    "d_received_to_first_chunk": "(d)  received -> first chunk",
    "e_overhead": "(e)  overhead = (d) minus server waits",
}


def run_scenario(
    scenario: Scenario, chain: FailoverChain, turns: int, settings: Settings, server: LocalLLMServer
) -> dict:
    path = (scenario.state.node_id,)
    server.reset_stats()
    outcomes = play_many(scenario, chain, turns, settings.warmup, expect("primary", (), path))
    check_requests(scenario, server, turns + settings.warmup, 1 + scenario.judge_calls)
    samples = overhead_samples(outcomes, scenario, settings)
    return scenario_result(scenario, outcomes, samples, 1 + scenario.judge_calls)


def check_requests(scenario: Scenario, server: LocalLLMServer, turns: int, expected: float) -> None:
    requests = server.request_count / turns
    if requests != expected:
        raise BenchError(f"{scenario.key}: {requests:g} LLM requests a turn, expected {expected:g}")


def scenario_result(
    scenario: Scenario, outcomes: list[TurnOutcome], samples: dict[str, list[float]], requests: float
) -> dict:
    return {
        "description": scenario.description,
        "utterance": scenario.utterance,
        "reply": outcomes[-1].reply,
        "llmRequestsPerTurn": requests,
        "tokensToFirstClause": sorted(set(samples.pop("tokens_to_first_clause"))),
        "metricsMs": common.summaries(samples),
        "samplesMs": {name: [round(v, 3) for v in values] for name, values in samples.items()},
        "turnsMs": [outcome.marks.as_ms() for outcome in outcomes],
    }


# --- scenario 1c: the pipeline against a bare client, turn for turn ---------------------------------------


class RecordingProvider:
    """The provider the pipeline uses, noting the messages it sends, so the bare client sends the same."""

    def __init__(self, inner: CompatibleProvider) -> None:
        self.inner = inner
        self.name = inner.name
        self.messages: list[Any] = []

    def stream(self, messages: Sequence[Any], **options: Any) -> Any:
        self.messages = list(messages)
        return self.inner.stream(messages, **options)

    def describe(self) -> dict[str, str]:
        return self.inner.describe()


def bare_client_ms(client: httpx.Client, base_url: str, messages: list[Any], tokens: int) -> float:
    """The same request with nothing around it: httpx streams it and the loop counts content deltas.
    Returns ms from sending to the `tokens`-th delta (the one that completes the first clause)."""
    body = {
        "model": "local-fake",
        "messages": messages,
        "max_tokens": 400,
        "temperature": 0.7,
        "stream": True,
    }
    started = time.perf_counter()
    elapsed = None
    seen = 0
    with client.stream("POST", f"{base_url}/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if elapsed is not None or not line.startswith("data: ") or line == "data: [DONE]":
                continue  # the rest is read to the end, as the pipeline's client does
            choices = json.loads(line[6:]).get("choices") or [{}]
            if choices[0].get("delta", {}).get("content"):
                seen += 1
                if seen == tokens:
                    elapsed = (time.perf_counter() - started) * 1000
    if elapsed is None:
        raise BenchError(f"the bare client's stream ended after {seen} deltas, before {tokens}")
    return elapsed


def run_against_bare_client(scenario: Scenario, base_url: str, turns: int, settings: Settings) -> dict:
    """Turns alternate between the pipeline and the bare client on one server, so both see the same
    machine; each is measured from its own start to the first clause, minus the server's waits."""
    provider = RecordingProvider(provider_for(base_url, "primary"))
    chain = FailoverChain([provider], first_token_timeout_s=settings.first_token_ms / 1000 + 2.0)
    check = expect("primary", (), (scenario.state.node_id,))
    samples = common.Samples()
    with httpx.Client(headers={"Authorization": "Bearer bench-key"}) as client:
        for index in range(settings.warmup + turns):
            outcome = play(scenario, chain)
            if problem := check(outcome):
                raise BenchError(f"{scenario.key} against the bare client, turn {index}: {problem}")
            k = tokens_to_first_clause(outcome.reply, scenario.state.language)
            server_wait = settings.first_token_ms + (k - 1) * settings.token_ms
            bare = bare_client_ms(client, base_url, provider.messages, k)
            if index >= settings.warmup:
                samples.add("pipeline_overhead", outcome.marks.as_ms()["firstChunk"] - server_wait)
                samples.add("bare_client_overhead", bare - server_wait)
    figures = common.summaries(samples)
    ratio = figures["pipeline_overhead"]["p99"] / max(figures["bare_client_overhead"]["p99"], 0.001)
    return {"turns": turns, "metricsMs": figures, "p99Ratio": round(ratio, 2), "samplesMs": dict(samples)}


# --- scenario 2: failover -----------------------------------------------------------------------------


def unused_port() -> int:
    """A loopback port nothing listens on (bound and released: connecting to it is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def provider_for(base_url: str, name: str) -> CompatibleProvider:
    return CompatibleProvider(base_url, "local-fake", "bench-key", timeouts=TIMEOUTS, name=name)


def failover_samples(
    outcomes: list[TurnOutcome], case: FailoverCase, settings: Settings
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {"received_to_first_chunk": [], "received_to_first_token": []}
    for outcome in outcomes:
        ms = outcome.marks.as_ms()
        samples["received_to_first_chunk"].append(ms["firstChunk"])
        samples["received_to_first_token"].append(ms["firstToken"])
        if "recovered" in ms:  # the primary spoke, then dropped: the secondary continues the reply
            dropped_at = (
                ms["llmRequest"] + settings.first_token_ms + (DROP_AFTER_TOKENS - 1) * settings.token_ms
            )
            gap = ms["recovered"] - dropped_at - settings.first_token_ms
            samples.setdefault("drop_to_continuation", []).append(gap)
        else:
            deadline = settings.deadline_ms if case.deadline_counts else 0.0
            gap = ms["firstToken"] - deadline - settings.first_token_ms
            samples.setdefault("failure_to_secondary_first_token", []).append(gap)
    return samples


def run_failover_case(
    case: FailoverCase,
    scenario: Scenario,
    primary: LocalLLMServer,
    secondary_provider: CompatibleProvider,
    settings: Settings,
) -> dict:
    if case.primary_mode is None:
        primary_provider = provider_for(f"http://127.0.0.1:{unused_port()}/v1", "primary")
    else:
        primary.configure(mode=case.primary_mode, reply=FIXED_REPLY, fail_after_tokens=DROP_AFTER_TOKENS)
        primary_provider = provider_for(primary.openai_base_url, "primary")
    chain = FailoverChain(
        [primary_provider, secondary_provider],
        first_token_timeout_s=settings.deadline_ms / 1000,
        breaker=case.breaker,
    )
    check = expect(case.answered_by, (case.failure,), (scenario.state.node_id,))
    warmup = play_many(scenario, chain, FAILOVER_WARMUP, 0, lambda _: None)  # opens the default breaker
    outcomes = play_many(scenario, chain, settings.failover_turns, 0, check)
    primary.configure(mode="ok")
    samples = failover_samples(outcomes, case, settings)
    return {
        "label": case.label,
        "answeredBy": case.answered_by,
        "failures": list(outcomes[-1].failures),
        "callerHears": sorted({outcome.reply for outcome in outcomes}),
        "warmupFailures": [list(outcome.failures) for outcome in warmup],
        "metricsMs": common.summaries(samples),
        "turnsMs": [outcome.marks.as_ms() for outcome in outcomes],
    }


# --- report -------------------------------------------------------------------------------------------


def overhead_table(title: str, result: dict) -> str:
    rows = [
        [ROW_LABELS[name], s["p50"], s["p95"], s["p99"], s["max"]] for name, s in result["metricsMs"].items()
    ]
    return common.format_table([f"{title} (ms)", "p50", "p95", "p99", "max"], rows)


def bare_client_table(result: dict) -> str:
    labels = {
        "pipeline_overhead": "pipeline: received -> first chunk, minus server waits",
        "bare_client_overhead": "bare httpx loop: send -> first clause's last delta, minus server waits",
    }
    rows = [[labels[name], s["p50"], s["p95"], s["p99"], s["max"]] for name, s in result["metricsMs"].items()]
    table = common.format_table(["overhead (ms)", "p50", "p95", "p99", "max"], rows)
    return f"{table}\np99 ratio, pipeline / bare client: {result['p99Ratio']:g} (target <= 1.5)"


def failover_table(results: dict[str, dict]) -> str:
    rows = []
    for result in results.values():
        metrics = result["metricsMs"]
        chunk, token = metrics["received_to_first_chunk"], metrics["received_to_first_token"]
        gap = metrics.get("failure_to_secondary_first_token") or metrics["drop_to_continuation"]
        rows.append(
            [
                result["label"],
                result["answeredBy"],
                chunk["p50"],
                chunk["p99"],
                token["p50"],
                token["p99"],
                gap["p50"],
                gap["p99"],
            ]
        )
    headers = [
        "failover case (ms)",
        "answered",
        "chunk p50",
        "chunk p99",
        "token p50",
        "token p99",
        "gap p50",
        "gap p99",
    ]
    return common.format_table(headers, rows)


def explain(settings: Settings, isolated: dict, judged: dict) -> str:
    f, t = settings.first_token_ms, settings.token_ms
    k_iso, k_judged = isolated["tokensToFirstClause"][0], judged["tokensToFirstClause"][0]
    return "\n".join(
        [
            "Server waits: the local server sleeps first_token_ms before a reply's first token and token_ms",
            "between tokens; the chunker releases the first clause when token k arrives, so",
            f"  (e) overhead = (d) - judge_calls*{f:g} - {f:g} - (k-1)*{t:g} ms",
            f"  isolated: reply {isolated['reply']!r}, k={k_iso}, judge_calls=0",
            f"  judged:   reply {judged['reply']!r}, k={k_judged}, judge_calls=1 (its answer '0' is one token)",
            "(e) is everything that is not the server sleeping: workflow step, message building, the HTTP",
            "client, the chain's reader thread, loopback HTTP and the fake server's own Python handling on",
            "the same cores. It is therefore an upper bound on the pipeline's own cost; 1c compares it turn",
            "for turn with a bare client's, which pays the same loopback and server costs and nothing else.",
        ]
    )


def failover_note(settings: Settings) -> str:
    return "\n".join(
        [
            "chunk/token: received -> first chunk / first token the caller's turn gets, whoever wrote it.",
            f"gap (dead, hang, 500, open): received -> secondary's first token, minus the secondary's {settings.first_token_ms:g} ms",
            f"  first-token time, minus the {settings.deadline_ms:g} ms first-token deadline for the hang only:",
            "  the time lost detecting the primary's failure and starting the secondary. 'open' skips the",
            "  primary, so its gap is the secondary's own client + chain cost: the baseline to compare with.",
            f"gap (drop): the server drops after 3 tokens ({settings.first_token_ms:g} + 2*{settings.token_ms:g} ms after the request);",
            f"  gap = that moment -> the secondary's first token of the continuation, minus its {settings.first_token_ms:g} ms.",
            "Breaker never opens in dead/hang/500/drop (every turn pays the failure); 'open' uses the default",
            f"  breaker, opened by {FAILOVER_WARMUP} warm-up failures, so the primary is skipped.",
        ]
    )


def plot(isolated: dict, judged: dict, failover: dict[str, dict], path: Path) -> Path | None:
    """CDFs of turn latency and overhead, and failover latency bars; None when matplotlib is missing."""
    plt = common.pyplot()
    if plt is None:
        return None
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for label, result, color in (("one LLM call", isolated, "C0"), ("clinic, with judging", judged, "C1")):
        for key, style, what in (
            ("d_received_to_first_chunk", "-", "received -> first chunk"),
            ("e_overhead", ":", "overhead (e)"),
        ):
            values = [max(value, 0.01) for value in result["samplesMs"][key]]  # log axis
            common.plot_cdf(left, values, style, color=color, label=f"{label}: {what}")
    left.set(
        xscale="log",
        xlabel="ms (log)",
        ylabel="fraction of turns",
        title="Turn latency and pipeline overhead",
    )
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    labels = [result["label"] for result in failover.values()]
    p50 = [result["metricsMs"]["received_to_first_chunk"]["p50"] for result in failover.values()]
    p99 = [result["metricsMs"]["received_to_first_chunk"]["p99"] for result in failover.values()]
    positions = range(len(labels))
    right.barh([p - 0.2 for p in positions], p50, height=0.4, label="p50")
    right.barh([p + 0.2 for p in positions], p99, height=0.4, label="p99")
    right.set(
        yticks=list(positions), yticklabels=labels, xlabel="ms", title="Failover: received -> first chunk"
    )
    right.invert_yaxis()
    right.legend()
    return common.save_figure(figure, path)


# --- main ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> Settings:
    parser = common.new_parser(__doc__)
    parser.add_argument(
        "--turns", type=int, default=200, help="measured turns, one LLM call each (default 200)"
    )
    parser.add_argument("--warmup", type=int, default=10, help="turns run first and not counted (default 10)")
    parser.add_argument(
        "--judged-turns", type=int, default=30, help="measured clinic turns with judging (default 30)"
    )
    parser.add_argument(
        "--failover-turns", type=int, default=20, help="measured turns per failover case (default 20)"
    )
    common.add_llm_flags(parser)
    parser.add_argument(
        "--deadline-ms", type=float, default=300.0, help="the failover chain's first-token deadline"
    )
    args = parser.parse_args(argv)
    common.check_args(
        parser,
        args,
        at_least_one=("turns", "judged_turns", "failover_turns"),
        non_negative=("warmup", "first_token_ms", "token_ms"),
    )
    if args.deadline_ms <= args.first_token_ms + 50:
        parser.error(
            "--deadline-ms must exceed --first-token-ms by more than 50 ms, or the secondary times out too"
        )
    return Settings(
        args.turns,
        args.warmup,
        args.judged_turns,
        args.failover_turns,
        args.first_token_ms,
        args.token_ms,
        args.deadline_ms,
    )


def scenarios() -> tuple[Scenario, Scenario]:
    bench = parse_workflow(BENCH_WORKFLOW)
    example = common.load_example("clinic-appointment")
    clinic = parse_workflow(example)
    isolated = Scenario(
        "isolated",
        "bench workflow, conversation node 'talk' (no LLM-judged edges), utterance matching no edge: "
        "exactly one streamed LLM call per turn",
        bench,
        opening(bench, BENCH_VARIABLES)[1],
        ISOLATED_UTTERANCE,
        judge_calls=0,
    )
    judged = Scenario(
        "judged",
        "clinic example at ask_confirm, utterance matching no keyword/intent: one judging call "
        "(router answers 0, stay) then the streamed reply",
        clinic,
        opening(clinic, example["config"]["variables"])[1],
        JUDGED_UTTERANCE,
        judge_calls=1,
    )
    return isolated, judged


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    started = time.perf_counter()
    isolated_scenario, judged_scenario = scenarios()
    server_timing = {
        "first_token_ms": settings.first_token_ms,
        "token_ms": settings.token_ms,
        "max_hang_s": 1.0,
    }
    with (
        LocalLLMServer(reply=FIXED_REPLY, **server_timing) as primary,
        LocalLLMServer(reply=FIXED_REPLY, **server_timing) as secondary,
    ):
        chain = FailoverChain(
            [provider_for(primary.openai_base_url, "primary")],
            first_token_timeout_s=settings.first_token_ms / 1000 + 2.0,  # no failover: measure the primary
        )
        isolated = run_scenario(isolated_scenario, chain, settings.turns, settings, primary)
        versus_bare = run_against_bare_client(
            isolated_scenario, primary.openai_base_url, settings.turns, settings
        )
        primary.configure(reply=None)  # the server's router answers the judge; replies echo the caller
        judged = run_scenario(judged_scenario, chain, settings.judged_turns, settings, primary)
        secondary_provider = provider_for(secondary.openai_base_url, "secondary")
        failover = {
            case.key: run_failover_case(case, isolated_scenario, primary, secondary_provider, settings)
            for case in FAILOVER_CASES
        }
    elapsed_s = time.perf_counter() - started

    print(common.machine_line())
    print(
        f"Local LLM server: first token {settings.first_token_ms:g} ms, {settings.token_ms:g} ms/token; "
        f"the lean streaming client via FailoverChain, one chain reused; warm-up {settings.warmup} turns not counted"
    )
    print(f"\n1a. {isolated['description']}\n    utterance {ISOLATED_UTTERANCE!r}")
    print(overhead_table(f"one LLM call, {settings.turns} turns", isolated))
    print(
        f"\n1c. the same turn, alternating with a bare httpx loop sending the same request ({settings.turns} each)"
    )
    print(bare_client_table(versus_bare))
    print(f"\n1b. {judged['description']}\n    utterance {JUDGED_UTTERANCE!r}")
    print(overhead_table(f"clinic + judging, {settings.judged_turns} turns", judged))
    print()
    print(explain(settings, isolated, judged))
    print(
        f"\n2. Failover, chain [primary, secondary, scripted], first-token deadline {settings.deadline_ms:g} ms, "
        f"{settings.failover_turns} turns each (bench workflow)"
    )
    print(failover_table(failover))
    for result in failover.values():
        print(f"  {result['label']}: caller hears {' | '.join(map(repr, result['callerHears']))}")
    print(failover_note(settings))

    figures = {
        "settings": dataclasses.asdict(settings),
        "isolated": isolated,
        "judged": judged,
        "versusBareClient": versus_bare,
        "failover": failover,
        "formulas": {
            "overhead": "firstChunk - judge_calls*first_token_ms - first_token_ms - (k-1)*token_ms",
            "failoverGap": "firstToken - (deadline if hang) - secondary first_token_ms",
            "dropGap": "recovered - (llmRequest + first_token_ms + 2*token_ms) - secondary first_token_ms",
        },
        "runSeconds": round(elapsed_s, 1),
    }
    common.finish(
        "pipeline_overhead", figures, elapsed_s, lambda path: plot(isolated, judged, failover, path)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
