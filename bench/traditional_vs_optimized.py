"""Traditional vs optimized: time to the first speakable text for the same workflow and the same LLM,
the classic <Gather> cycle against ConversationRelay streaming with the predictive cache, as a ratio per
turn and overall.

Both pipelines run through the real handlers of the local stack (in this process) and the real openai
client against the local LLM server on 127.0.0.1, which streams the same reply to every request at a set
first-token time and gap between tokens. Calls are staged with make-call dryRun, mode "classic" or
"stream", and played as Twilio plays them:

  classic  the TwiML webhook is fetched with a signed POST; each caller turn is a signed form POST of
           SpeechResult to the <Gather> action URL. A turn is timed from the POST sent to the TwiML
           response fully received: a <Gather> loop can only <Say> a finished text, so that is the
           first moment Twilio could start speaking. Classic mode has no cache: every turn asks the LLM.
  stream   the ConversationRelay TwiML is fetched and the WebSocket opened with Twilio's signatures,
           `setup` sent, then one `prompt` frame per caller turn. A turn is timed from the prompt frame
           sent to the first `text` frame received.

Every call plays the same script: common phrases first (context-free, so the stream pipeline answers them
from the cache once the first call has filled it), then questions only the LLM can answer, then goodbye.
Classic and stream calls alternate; the first call of each pipeline is a warm-up, not counted. Every
turn is checked to have taken the path its figure describes: the classic <Say> and the streamed text are
the LLM's reply, the server's per-turn records (GET /api/performance-metrics/{trackingId}) show the
stream pipeline's cache hits exactly on the common phrases, and the LLM server saw one request per
classic turn and per stream turn that missed the cache.

    python bench/traditional_vs_optimized.py --calls 6 --first-token-ms 200 --token-ms 10

Prints the tables, writes bench/results/traditional_vs_optimized.json and, when matplotlib is
installed, docs/benchmarks/traditional_vs_optimized.png. About 40 seconds with the defaults.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import textwrap
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # so `python bench/traditional_vs_optimized.py` finds the `bench` package

import httpx  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from bench import common  # noqa: E402
from bench.relay_turns import (  # noqa: E402  the relay harness: workflow, defaults, socket, turns
    API_KEY,
    AUTH_TOKEN,
    BENCH_WORKFLOW,
    CALL,
    DEFAULT_REPLY,
    GOODBYE,
    BenchError,
    check_reply,
    open_call,
    running_stack,
    say_goodbye,
    stream_turn,
)
from bench.relay_turns import CACHE_PHRASES as COMMON_PHRASES  # noqa: E402
from kimiyi.llm.tokens import split_into_tokens  # noqa: E402
from kimiyi.twiml import SPEECH_TIMEOUT_S  # noqa: E402
from kimiyi_local import simulator  # noqa: E402
from kimiyi_local.llm_server import LocalLLMServer  # noqa: E402

NAME = "traditional_vs_optimized"
# One shop for every call: the variables are part of the cache key, so calls share cached replies.
VARIABLES = {"shop": "Corner Bikes"}

QUESTIONS = (
    "What time do you open on Saturday?",
    "Is there parking near the shop?",
    "Can I bring my dog inside?",
)
# Common phrases first: context-free while every caller turn so far is one of them (kimiyi.cache.policy).
SCRIPT = COMMON_PHRASES + QUESTIONS
CACHED, LLM = "cached", "llm"  # turn kinds: what the stream pipeline should do with the turn

TIMEOUT_S = 10.0  # per request or turn: none here should take more than a second or two
RECORD_POLL_S = 0.01  # between reads of the server's per-turn records


@dataclass(frozen=True)
class Settings:
    calls: int
    first_token_ms: float
    token_ms: float
    reply: str


@dataclass
class PlayedCall:
    """One call of one pipeline: the client-observed time to the first speakable text of each script
    turn, and (stream only) whether the server answered the turn from its cache."""

    pipeline: str  # "classic" or "stream"
    tracking_id: str
    turns_ms: list[float] = field(default_factory=list)
    cache_hits: list[bool | None] = field(default_factory=list)


# --- pure helpers ----------------------------------------------------------------------------------------


def kind_of(utterance: str) -> str:
    return CACHED if utterance in COMMON_PHRASES else LLM


def say_text(root: ET.Element) -> str:
    """Everything the TwiML says, in document order, as one string."""
    return " ".join((say.text or "").strip() for say in root.iter("Say")).strip()


def same_words(said: str, expected: str) -> bool:
    """Equal up to whitespace: the classic <Say> joins clauses with single spaces."""
    return said.split() == expected.split()


def sum_ratio(classic_ms: Sequence[float], stream_ms: Sequence[float]) -> float:
    """Total classic time over total stream time: how many times longer the caller waits overall."""
    if not classic_ms or len(classic_ms) != len(stream_ms):
        raise ValueError("the ratio needs the same, non-zero number of classic and stream turns")
    return sum(classic_ms) / sum(stream_ms)


def paired_ratios(classic: Sequence[Sequence[float]], stream: Sequence[Sequence[float]]) -> list[float]:
    """Per turn: the classic call's time over the stream call's time for the same turn, calls paired in
    the order they were played (classic call j with stream call j)."""
    if len(classic) != len(stream):
        raise ValueError("pair as many classic calls as stream calls")
    return [
        c / s
        for c_call, s_call in zip(classic, stream, strict=True)
        for c, s in zip(c_call, s_call, strict=True)
    ]


def column(calls: Sequence[Sequence[float]], index: int) -> list[float]:
    return [call[index] for call in calls]


def of_kind(calls: Sequence[Sequence[float]], kinds: Sequence[str], kind: str) -> list[list[float]]:
    """Each call's turns of one kind (the script's positions are the same in every call)."""
    return [[ms for ms, k in zip(call, kinds, strict=True) if k == kind] for call in calls]


def flat(calls: Sequence[Sequence[float]]) -> list[float]:
    return [value for call in calls for value in call]


def ratios_of(
    classic: Sequence[Sequence[float]], stream: Sequence[Sequence[float]], kinds: Sequence[str]
) -> dict:
    """Overall: sum(classic)/sum(stream) and the median of the paired per-turn ratios; then the same two
    for the cached turns and for the LLM turns alone. The per-turn ratios are bimodal (a cache hit against
    a whole LLM reply, or a first clause against a whole reply), so the overall median lands in one mode
    or between the two depending on the script's mix: the per-kind figures are the ones that generalise."""
    ratios = {
        "overall": sum_ratio(flat(classic), flat(stream)),
        "median": statistics.median(paired_ratios(classic, stream)),
    }
    for kind in (CACHED, LLM):
        if kind in kinds:
            kind_classic, kind_stream = of_kind(classic, kinds, kind), of_kind(stream, kinds, kind)
            ratios[kind] = sum_ratio(flat(kind_classic), flat(kind_stream))
            ratios[f"{kind}Median"] = statistics.median(paired_ratios(kind_classic, kind_stream))
    return {name: round(value, 3) for name, value in ratios.items()}


# --- the client side: Twilio, in both modes ----------------------------------------------------------------


def stage(client: httpx.Client, base_url: str, mode: str) -> dict:
    """make-call with dryRun: the call is stored and its TwiML URL returned, nothing is dialled."""
    body = {**BENCH_WORKFLOW, **CALL, "variables": VARIABLES, "mode": mode, "dryRun": True}
    response = client.post(f"{base_url}/api/make-call-optimized", json=body, headers={"x-api-key": API_KEY})
    if response.status_code >= 300:
        raise BenchError(f"make-call ({mode}) answered {response.status_code}: {response.text}")
    return response.json()


def voice_form(call_sid: str, **extra: str) -> dict[str, str]:
    """The parameters Twilio's voice webhook posts (and, with SpeechResult, a <Gather> action)."""
    return {
        "AccountSid": simulator.ACCOUNT_SID,
        "CallSid": call_sid,
        "CallStatus": "in-progress",
        "Direction": "outbound-api",
        "From": CALL["from"],
        "To": CALL["to"],
        "ApiVersion": "2010-04-01",
        **extra,
    }


def timed_twiml(client: httpx.Client, url: str, form: dict[str, str]) -> tuple[ET.Element, float]:
    """A signed POST as Twilio sends it; the TwiML and the ms from sending to the whole body received
    (the signature is computed before the clock starts: Twilio signs before it sends too)."""
    headers = {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, form)}
    sent = time.perf_counter()
    response = client.post(url, data=form, headers=headers)
    received = time.perf_counter()
    if response.status_code != 200:
        raise BenchError(f"the TwiML webhook answered {response.status_code}: {response.text}")
    return ET.fromstring(response.text), (received - sent) * 1000


def play_classic(client: httpx.Client, base_url: str, reply: str) -> PlayedCall:
    """A classic call: the greeting's <Gather>, one SpeechResult POST per script turn, then goodbye."""
    staged = stage(client, base_url, "classic")
    played = PlayedCall("classic", staged["trackingId"])
    call_sid = "CA" + uuid.uuid4().hex
    root, _ = timed_twiml(client, staged["twimlUrl"], voice_form(call_sid))
    for utterance in (*SCRIPT, GOODBYE):
        gather = root.find("Gather")
        if gather is None:
            raise BenchError(f"classic call {played.tracking_id}: no <Gather> before {utterance!r}:\n{root}")
        form = voice_form(call_sid, SpeechResult=utterance, Confidence="0.92")
        root, ms = timed_twiml(client, gather.attrib["action"], form)
        said = say_text(root)
        if utterance == GOODBYE:
            if root.find("Hangup") is None:
                raise BenchError(f"classic call {played.tracking_id}: {GOODBYE!r} did not hang up ({said!r})")
            break
        if root.find("Gather") is None or not same_words(said, reply):
            raise BenchError(
                f"classic call {played.tracking_id}, {utterance!r}: expected <Say> of the LLM's reply in a "
                f"<Gather>, got {ET.tostring(root, encoding='unicode')}"
            )
        played.turns_ms.append(ms)
        played.cache_hits.append(None)  # classic mode has no cache
    return played


def turn_records(client: httpx.Client, base_url: str, tracking_id: str, count: int) -> list[dict]:
    """The server's records of the call's turns, once there are `count` of them. A turn is recorded after
    it has spoken and saved its state, so waiting for it also starts the next turn on a quiet call, as
    after a caller's pause (and as the classic POST does, which returns only once its state is saved)."""
    url = f"{base_url}/api/performance-metrics/{tracking_id}"
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        response = client.get(url, headers={"x-api-key": API_KEY})
        turns = response.json().get("turns", []) if response.status_code == 200 else []
        if len(turns) >= count:
            return sorted(turns, key=lambda record: record["turn"])
        time.sleep(RECORD_POLL_S)
    raise BenchError(f"stream call {tracking_id}: the server recorded fewer than {count} turns")


def play_stream(client: httpx.Client, base_url: str, reply: str) -> PlayedCall:
    """A stream call: one prompt frame per script turn, then goodbye; cache hits from the server's records."""
    with open_call(client, base_url, VARIABLES["shop"]) as (tracking_id, ws):
        played = PlayedCall("stream", tracking_id)
        for index, utterance in enumerate(SCRIPT):
            turn = stream_turn(ws, utterance, barge_in=False, quiet_s=TIMEOUT_S)
            ms, text = turn.first_text_ms, turn.text
            if not text.strip() or not same_words(text, reply):
                raise BenchError(
                    f"stream call {tracking_id}, {utterance!r}: streamed {text!r}, not the reply"
                )
            played.turns_ms.append(ms)
            turn_records(client, base_url, tracking_id, index + 1)
        say_goodbye(ws)
    records = turn_records(client, base_url, tracking_id, len(SCRIPT) + 1)
    played.cache_hits = [record.get("cacheHit") for record in records[: len(SCRIPT)]]
    for utterance, record in zip(SCRIPT, records, strict=False):
        if record.get("latencyMs") is None:
            raise BenchError(f"stream call {tracking_id}, {utterance!r}: the server says nothing was said")
    return played


# --- checks: every figure describes the path it claims -------------------------------------------------------


def check_stream_paths(measured: list[PlayedCall]) -> None:
    """In every measured stream call, the common phrases are cache hits and the questions LLM answers."""
    for call in measured:
        for utterance, hit in zip(SCRIPT, call.cache_hits, strict=True):
            expected = kind_of(utterance) == CACHED
            if hit is not expected:
                raise BenchError(
                    f"stream call {call.tracking_id}, {utterance!r}: cacheHit is {hit}, expected {expected} "
                    f"(the turn would not be the {kind_of(utterance)} turn it is counted as)"
                )


def check_llm_requests(requests: int, calls: int) -> None:
    """One LLM request per classic turn (classic has no cache), per turn of the stream warm-up call, and
    per question of the measured stream calls: nothing else asked the LLM, nothing was skipped."""
    expected = calls * len(SCRIPT) + len(SCRIPT) + (calls - 1) * len(QUESTIONS)
    if requests != expected:
        raise BenchError(f"the LLM server saw {requests} requests, expected {expected}")


# --- the run -------------------------------------------------------------------------------------------------


def run(settings: Settings) -> tuple[list[PlayedCall], list[PlayedCall]]:
    """Plays the calls, classic and stream alternating; returns (classic, stream) with the warm-ups first."""
    timing = {"first_token_ms": settings.first_token_ms, "token_ms": settings.token_ms}
    classic: list[PlayedCall] = []
    stream: list[PlayedCall] = []
    with LocalLLMServer(reply=settings.reply, **timing) as llm:
        common.use_local_llm(llm.openai_base_url)
        with running_stack() as stack, httpx.Client(timeout=TIMEOUT_S) as client:
            for _ in range(settings.calls):
                classic.append(play_classic(client, stack.base_url, settings.reply))
                stream.append(play_stream(client, stack.base_url, settings.reply))
        requests = len(llm.stream_timings())
    check_stream_paths(stream[1:])
    check_llm_requests(requests, settings.calls)
    return classic, stream


def figures_of(classic: list[PlayedCall], stream: list[PlayedCall]) -> dict[str, Any]:
    """Summaries, per-turn rows, ratios and samples of the measured calls (the warm-ups left out)."""
    classic_ms = [call.turns_ms for call in classic[1:]]
    stream_ms = [call.turns_ms for call in stream[1:]]
    kinds = [kind_of(utterance) for utterance in SCRIPT]
    per_turn = []
    for index, utterance in enumerate(SCRIPT):
        classic_p50 = statistics.median(column(classic_ms, index))
        stream_p50 = statistics.median(column(stream_ms, index))
        hits = sum(1 for call in stream[1:] if call.cache_hits[index])
        per_turn.append(
            {
                "turn": index + 1,
                "utterance": utterance,
                "kind": kinds[index],
                "classicP50Ms": round(classic_p50, 3),
                "streamP50Ms": round(stream_p50, 3),
                "ratioP50": round(classic_p50 / stream_p50, 3),
                "streamCacheHits": hits,
                "calls": len(stream_ms),
            }
        )
    metrics = {
        name: {
            "all": common.summarize(flat(calls)),
            **{kind: common.summarize(flat(of_kind(calls, kinds, kind))) for kind in (CACHED, LLM)},
        }
        for name, calls in (("classic", classic_ms), ("stream", stream_ms))
    }
    samples = {
        "classic": [
            {"trackingId": c.tracking_id, "turnsMs": [round(v, 3) for v in c.turns_ms]} for c in classic
        ],
        "stream": [
            {
                "trackingId": c.tracking_id,
                "turnsMs": [round(v, 3) for v in c.turns_ms],
                "cacheHits": c.cache_hits,
            }
            for c in stream
        ],
        "warmUp": "the first call of each list, not counted",
    }
    return {
        "metrics": metrics,
        "perTurn": per_turn,
        "ratios": ratios_of(classic_ms, stream_ms, kinds),
        "samples": samples,
    }


# --- output ----------------------------------------------------------------------------------------------


def per_turn_table(rows: list[dict]) -> str:
    body = [
        [
            f"{row['turn']}. {row['utterance']}",
            row["kind"],
            row["classicP50Ms"],
            row["streamP50Ms"],
            f"{row['ratioP50']:.1f}x",
            f"{row['streamCacheHits']}/{row['calls']}",
        ]
        for row in rows
    ]
    headers = ["caller turn", "kind", "classic p50 ms", "stream p50 ms", "ratio", "stream cache hits"]
    return common.format_table(headers, body)


def summary_table(metrics: dict) -> str:
    rows = []
    for name, label in (("classic", "classic <Gather>"), ("stream", "stream + cache")):
        for kind in ("all", CACHED, LLM):
            s = metrics[name][kind]
            rows.append([f"{label}, {kind} turns", int(s["n"]), s["p50"], s["p95"], s["mean"], s["max"]])
    return common.format_table(["time to first speakable text (ms)", "n", "p50", "p95", "mean", "max"], rows)


def ratios_table(ratios: dict) -> str:
    rows = [
        ["all turns", f"{ratios['overall']:.2f}x", f"{ratios['median']:.2f}x"],
        ["cached turns (common phrases)", f"{ratios[CACHED]:.2f}x", f"{ratios[f'{CACHED}Median']:.2f}x"],
        ["LLM turns (questions)", f"{ratios[LLM]:.2f}x", f"{ratios[f'{LLM}Median']:.2f}x"],
    ]
    headers = ["ratio classic / stream", "sum(classic) / sum(stream)", "median of per-turn ratios"]
    return common.format_table(headers, rows)


def plot(rows: list[dict], ratios: dict, settings: Settings, path: Path) -> Path | None:
    """Grouped bars per turn: classic and stream p50 (log scale: a cache hit is tens of times shorter),
    the ratio over each group; None without matplotlib."""
    plt = common.pyplot()
    if plt is None:
        return None
    figure, axes = plt.subplots(figsize=(11, 5))
    positions = range(len(rows))
    width = 0.38
    classic = [row["classicP50Ms"] for row in rows]
    stream = [row["streamP50Ms"] for row in rows]
    axes.bar(
        [p - width / 2 for p in positions], classic, width, label="classic <Gather>: POST -> TwiML received"
    )
    axes.bar(
        [p + width / 2 for p in positions], stream, width, label="stream + cache: prompt -> first text frame"
    )
    for p, row in zip(positions, rows, strict=True):
        axes.annotate(
            f"{row['ratioP50']:.1f}x", (p, max(row["classicP50Ms"], row["streamP50Ms"]) * 1.15), ha="center"
        )
    # Wrapped: the questions are longer than a bar group is wide.
    labels = [textwrap.fill(f"{row['turn']}. {row['utterance']}", 18) + f"\n({row['kind']})" for row in rows]
    axes.set_xticks(list(positions), labels, fontsize=8)
    axes.set_yscale("log")
    axes.set_ylim(top=max(classic) * 2.5)
    axes.set_ylabel("p50 ms to the first speakable text (log)")
    axes.set_title(
        f"Classic <Gather> vs ConversationRelay + cache: {ratios['overall']:.1f}x overall "
        f"(LLM turns {ratios[LLM]:.1f}x, cached {ratios[CACHED]:.1f}x)\n"
        f"LLM: first token {settings.first_token_ms:g} ms, {settings.token_ms:g} ms/token",
        fontsize=10,
    )
    axes.legend(fontsize=8, loc="upper left")
    axes.grid(axis="y", alpha=0.3, which="both")
    return common.save_figure(figure, path)


# --- main ------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> Settings:
    parser = common.new_parser(__doc__)
    parser.add_argument(
        "--calls", type=int, default=6, help="calls of each pipeline, the first a warm-up (default 6)"
    )
    common.add_llm_flags(parser)
    parser.add_argument("--reply", default=DEFAULT_REPLY, help="what the LLM server streams every turn")
    args = parser.parse_args(argv)
    if args.calls < 2:
        parser.error("--calls must be at least 2 (the first call of each pipeline is a warm-up)")
    common.check_args(parser, args)
    check_reply(parser, args.reply)
    return Settings(args.calls, args.first_token_ms, args.token_ms, args.reply)


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    started = time.perf_counter()
    classic, stream = run(settings)
    elapsed_s = time.perf_counter() - started
    figures = figures_of(classic, stream)
    measured = settings.calls - 1

    print(common.machine_line())
    print(
        f"Local stack in process, real handlers; local LLM server: first token {settings.first_token_ms:g} ms, "
        f"{settings.token_ms:g} ms/token; reply of {len(split_into_tokens(settings.reply))} tokens"
    )
    print(
        f"{measured} measured calls of each pipeline, alternating (plus one warm-up call each), "
        f"{len(SCRIPT)} caller turns per call, then goodbye.\n"
        "classic: signed <Gather> POST sent -> TwiML received (no cache in classic mode); "
        "stream: prompt frame sent -> first text frame received.\n"
    )
    print(per_turn_table(figures["perTurn"]))
    print()
    print(summary_table(figures["metrics"]))
    print()
    print(ratios_table(figures["ratios"]))
    print(
        "   Per-turn ratios are bimodal (cache hit vs LLM turn): the all-turns median depends on the "
        "script's mix of the two; the per-kind rows do not."
    )
    print(
        f"\nNot measured, on Twilio's side of both paths: speech recognition and end-of-speech detection "
        f"(<Gather> posts only after speechTimeout={SPEECH_TIMEOUT_S} s of silence in this project's TwiML, "
        f"ConversationRelay when its own turn detection fires) and the time text-to-speech takes to start."
    )

    record = {"settings": {**dataclasses.asdict(settings), "script": list(SCRIPT), "goodbye": GOODBYE}}
    common.finish(
        NAME,
        {**record, **figures, "runSeconds": round(elapsed_s, 1)},
        elapsed_s,
        lambda path: plot(figures["perTurn"], figures["ratios"], settings, path),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
