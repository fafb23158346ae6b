"""The streaming conversation through the real relay handler in the local stack: turn latency, frames
per turn against tokens per turn, and what a barge-in costs.

Calls are staged with make-call dryRun, the TwiML is fetched and the WebSocket opened with Twilio's
signatures (kimiyi_local.simulator), and every reply is streamed by the local LLM server at a set
first-token time and gap between tokens. The stack runs in this process with the real relay handler
module; a thin harness runs `relay.on_message` for each $default frame and keeps the TurnReport it
returns, and a botocore hook notes when each post_to_connection returns. The product is not changed.

    python bench/relay_turns.py --calls 10 --turns-per-call 20 --first-token-ms 200 --token-ms 10

Prints tables, writes bench/results/relay_turns.json and, when matplotlib is installed,
docs/benchmarks/relay_turns.png. About two and a half minutes with the defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # so `python bench/relay_turns.py` finds the `bench` package

import boto3  # noqa: E402
import httpx  # noqa: E402
from websockets.sync.client import ClientConnection  # noqa: E402

from bench import common  # noqa: E402
from kimiyi.adapters.calls_store import CallsStore  # noqa: E402
from kimiyi.chunking import ClauseChunker  # noqa: E402
from kimiyi.languages import get_language  # noqa: E402
from kimiyi.llm.tokens import split_into_tokens  # noqa: E402
from kimiyi.relay.service import TurnReport  # noqa: E402
from kimiyi.settings import Settings as KimiyiSettings  # noqa: E402
from kimiyi_local import simulator  # noqa: E402
from kimiyi_local.llm_server import LocalLLMServer, StreamTiming  # noqa: E402
from kimiyi_local.runtime import load_handler  # noqa: E402
from kimiyi_local.stack import LocalStack  # noqa: E402
from kimiyi_local.template import REGION, FunctionSpec  # noqa: E402

RELAY_FUNCTION = "RelayFunction"
# One conversation node that loops on itself (an `always` edge), and an end node on the goodbye intent: no
# LLM-judged edge, so a caller turn is exactly one streamed LLM reply. {{shop}} in its global prompt differs
# per call, so the LLM server's record of a request names the call that sent it.
BENCH_WORKFLOW = common.load_workflow("shop")
API_KEY = "local-dev-key"  # the local stack's documented defaults
AUTH_TOKEN = "local-auth-token"
CALL = {"to": "+12125550123", "from": "+12125550100"}

MAX_REPLY_TOKENS = BENCH_WORKFLOW["config"]["maxTokens"]  # a longer reply would be cut by the server
# 29 tokens; the first clause "Of course," is complete at the 3rd, and the reply has four clauses.
DEFAULT_REPLY = (
    "Of course, we are open on Saturday from nine to five. "
    "You can book online, or I can take your details for you right now."
)
# None matches the goodbye intent, so the call stays on the conversation node and every turn streams.
UTTERANCES = (
    "What time do you open on Saturday?",
    "Is there parking near the shop?",
    "Can I bring my dog inside?",
    "How much does a repair usually cost?",
    "Do you sell gift cards?",
)
GOODBYE = "Thanks, goodbye."
# Common phrases: while a caller has said only such words, the turn is context-free and its reply is
# cached (kimiyi.cache.policy); every call after the first is answered from the cache.
CACHE_PHRASES = ("Hello?", "Who is this?", "Who am I speaking to?")
CACHE_SHOP = "Shop cached"  # one shop for every cache call: the variables are part of the cache key
SETUP_PAUSE_S = 0.15  # a caller hears the welcome greeting before speaking; setup is handled meanwhile
RECV_TIMEOUT_S = 10.0  # per turn: no turn here should take more than a second
RECORD_TIMEOUT_S = 10.0  # waiting for the server's record of a turn


class BenchError(RuntimeError):
    """A turn did not take the path being measured: its figures would describe something else."""


@dataclass(frozen=True)
class Settings:
    calls: int
    turns_per_call: int
    barge_in_calls: int
    barge_in_turns_per_call: int
    warmup_turns: int
    first_token_ms: float
    token_ms: float
    quiet_ms: float
    reply: str
    parallel: int
    cache_calls: int


# --- the server side: the real handler, recorded --------------------------------------------------------


@dataclass(frozen=True)
class Invocation:
    """One $default invocation: when the handler got it and returned, and the relay's TurnReport."""

    connection_id: str
    message_type: str
    started: float
    returned: float
    report: TurnReport | None


@dataclass(frozen=True)
class Post:
    """A post_to_connection that succeeded: when it returned, and the frame it carried."""

    connection_id: str
    returned: float
    frame: dict


class RelayRecorder:
    """The local stack's RelayFunction: the real relay_handler module, with $default run through
    `relay.on_message` so each invocation's TurnReport is kept. $connect and $disconnect go to the real
    lambda_handler. Everything is timed with time.perf_counter, the relay's own clock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._module: Any = None
        self.invocations: list[Invocation] = []
        self.posts: list[Post] = []

    def load(self, function: FunctionSpec) -> None:
        """Imports the handler as the stack would (after the stack has set the environment)."""
        load_handler(function)
        self._module = sys.modules[function.module]
        events = self._module.relay.connections.meta.events
        events.register("before-parameter-build.apigatewaymanagementapi.PostToConnection", _keep_params)
        events.register("after-call.apigatewaymanagementapi.PostToConnection", self._note_post)

    def __call__(self, event: dict, context: Any) -> Any:
        if self._module is None:
            raise RuntimeError("RelayRecorder.load() must run before the first invocation")
        if event["requestContext"]["routeKey"] != "$default":
            return self._module.lambda_handler(event, context)
        started = time.perf_counter()
        report = self._module.relay.on_message(event)
        returned = time.perf_counter()
        invocation = Invocation(
            event["requestContext"]["connectionId"],
            _message_type(event.get("body")),
            started,
            returned,
            report,
        )
        with self._lock:
            self.invocations.append(invocation)
        return {"statusCode": 200}  # what lambda_handler returns for $default

    def _note_post(self, context: dict, http_response: Any, **_: Any) -> None:
        returned = time.perf_counter()
        params = context.get("bench_params")
        if params is None or http_response.status_code >= 300:
            return
        post = Post(params["ConnectionId"], returned, json.loads(params["Data"]))
        with self._lock:
            self.posts.append(post)

    def turns_of(self, tracking_id: str) -> list[Invocation]:
        with self._lock:
            return [i for i in self.invocations if i.report and i.report.tracking_id == tracking_id]

    def interrupts_on(self, connection_id: str) -> list[Invocation]:
        with self._lock:
            return [
                i
                for i in self.invocations
                if i.connection_id == connection_id and i.message_type == "interrupt"
            ]

    def text_posts(self, connection_id: str, start: float, end: float) -> list[Post]:
        with self._lock:
            return [
                p
                for p in self.posts
                if p.connection_id == connection_id
                and p.frame.get("type") == "text"
                and start <= p.returned <= end
            ]

    def wait_for_turns(self, tracking_id: str, count: int) -> list[Invocation]:
        """The server's records of the call's first `count` turns, once each invocation has returned
        (its state saved): the next prompt then starts on a quiet call, as after a caller's pause."""
        deadline = time.monotonic() + RECORD_TIMEOUT_S
        while time.monotonic() < deadline:
            turns = self.turns_of(tracking_id)
            if len(turns) >= count:
                return turns
            time.sleep(0.005)
        raise BenchError(f"call {tracking_id}: the server recorded fewer than {count} turns")


def _keep_params(params: dict, context: dict, **_: Any) -> None:
    context["bench_params"] = dict(params)


def _message_type(body: Any) -> str:
    try:
        return str(json.loads(body).get("type"))
    except (TypeError, ValueError, AttributeError):
        return "malformed"


# --- the client side: a Twilio-like caller ----------------------------------------------------------------


@dataclass
class ClientTurn:
    utterance: str
    sent: float
    frames: list[tuple[float, str, bool]] = field(default_factory=list)  # (received at, token, last)
    interrupt_sent: float | None = None
    heard: str = ""

    @property
    def text(self) -> str:
        return "".join(token for _, token, _ in self.frames)

    @property
    def first_text_ms(self) -> float:
        return (self.frames[0][0] - self.sent) * 1000


def shop_name(index: int) -> str:
    return f"Shop {index:04d}"


@contextmanager
def open_relay_call(
    client: httpx.Client, base_url: str, workflow: dict, variables: dict[str, Any]
) -> Iterator[tuple[str, ET.Element, ClientConnection]]:
    """Stages a call of the workflow with these variables (make-call dryRun), fetches its TwiML and opens
    the relay socket as Twilio does, then sends `setup`; yields (trackingId, the TwiML's
    <ConversationRelay>, the socket)."""
    call = {**CALL, "variables": variables}
    staged = simulator.stage_call(client, base_url, API_KEY, workflow, call)
    call_sid = "CA" + uuid.uuid4().hex
    relay = simulator.fetch_relay(client, staged["twimlUrl"], call_sid, call, AUTH_TOKEN)
    setup = simulator.setup_frame(call_sid, call, relay)
    with simulator.open_relay(relay, AUTH_TOKEN) as ws:
        ws.send(json.dumps(setup))
        yield staged["trackingId"], relay, ws


@contextmanager
def open_call(
    client: httpx.Client, base_url: str, shop: str, pause_s: float = SETUP_PAUSE_S
) -> Iterator[tuple[str, ClientConnection]]:
    """A call of the bench workflow for this shop (`open_relay_call`), after `pause_s` as a caller
    listening to the greeting would wait."""
    with open_relay_call(client, base_url, BENCH_WORKFLOW, {"shop": shop}) as (tracking_id, _, ws):
        time.sleep(pause_s)
        yield tracking_id, ws


def stream_turn(ws: ClientConnection, utterance: str, *, barge_in: bool, quiet_s: float) -> ClientTurn:
    """Sends a final prompt and reads the reply's text frames with their arrival times.

    Without barge-in the turn ends at the `last` frame. With barge-in, `interrupt` goes out the moment
    the first text frame arrives, carrying what was received so far, and the turn ends after `quiet_s`
    without a frame (an interrupted reply has no `last` frame)."""
    turn = ClientTurn(utterance, time.perf_counter())
    ws.send(json.dumps({"type": "prompt", "voicePrompt": utterance, "lang": "en-US", "last": True}))
    deadline = turn.sent + RECV_TIMEOUT_S
    while time.perf_counter() < deadline:
        wait = quiet_s if turn.interrupt_sent else deadline - time.perf_counter()
        try:
            raw = ws.recv(timeout=max(wait, 0.001))
        except TimeoutError:
            if turn.interrupt_sent:
                return turn
            break
        arrived = time.perf_counter()
        frame = json.loads(raw)
        if frame.get("type") != "text":
            raise BenchError(f"{utterance!r}: unexpected frame {frame}")
        turn.frames.append((arrived, frame.get("token", ""), bool(frame.get("last"))))
        if barge_in and turn.interrupt_sent is None:
            turn.heard = turn.text.strip()
            interrupt = {
                "type": "interrupt",
                "utteranceUntilInterrupt": turn.heard,
                "durationUntilInterruptMs": 0,
            }
            ws.send(json.dumps(interrupt))
            turn.interrupt_sent = time.perf_counter()
        elif frame.get("last") and not barge_in:
            return turn
    raise BenchError(f"{utterance!r}: the reply did not finish within {RECV_TIMEOUT_S:g} s")


def say_goodbye(ws: ClientConnection) -> None:
    ended = simulator.play_turn(ws, {"say": GOODBYE}, echo=False)
    if not ended.ended:
        raise BenchError(f"{GOODBYE!r} did not end the call: {ended}")


@dataclass
class PlayedCall:
    tracking_id: str
    shop: str
    barge_in: bool
    reply: str  # what the LLM server streams for every turn
    turns: list[ClientTurn]
    server: list[Invocation]  # the caller turns' invocations, in order (the goodbye excluded)
    cut_checks: list[dict] = field(default_factory=list)


def play_call(
    client: httpx.Client,
    base_url: str,
    recorder: RelayRecorder,
    store: CallsStore,
    turns: int,
    *,
    shop: str,
    reply: str,
    barge_in: bool,
    quiet_s: float,
    utterances: tuple[str, ...] = UTTERANCES,
) -> PlayedCall:
    with open_call(client, base_url, shop) as (tracking_id, ws):
        played = PlayedCall(tracking_id, shop, barge_in, reply, [], [])
        for index in range(turns):
            words = utterances[index % len(utterances)]
            turn = stream_turn(ws, words, barge_in=barge_in, quiet_s=quiet_s)
            played.turns.append(turn)
            recorder.wait_for_turns(tracking_id, index + 1)
            if barge_in:
                played.cut_checks.append(check_cut(store, tracking_id, turn, reply))
        played.server = recorder.wait_for_turns(tracking_id, turns)[:turns]
        say_goodbye(ws)
        recorder.wait_for_turns(tracking_id, turns + 1)
    return played


def check_cut(store: CallsStore, tracking_id: str, turn: ClientTurn, reply: str) -> dict:
    """The stored history after an interrupted turn: the caller's words, then only what they heard."""
    state, _ = store.load_state(tracking_id)
    history = (state or {}).get("history", [])
    user = next((m["content"] for m in reversed(history) if m["role"] == "user"), None)
    stored = next((m["content"] for m in reversed(history) if m["role"] == "assistant"), None)
    return {
        "heard": turn.heard,
        "stored": stored,
        "ok": user == turn.utterance and stored == turn.heard and len(stored) < len(reply),
    }


def clause_ends(reply: str, language: str = "en-US") -> list[int]:
    """After how many of the LLM server's tokens each clause of the reply is complete (the relay's chunker)."""
    chunker = ClauseChunker(get_language(language).clause_delimiters)
    tokens = split_into_tokens(reply)
    ends = [count for count, token in enumerate(tokens, start=1) for _ in chunker.feed(token)]
    return ends if chunker.flush().strip() == "" else [*ends, len(tokens)]


# --- figures --------------------------------------------------------------------------------------------


def check_streamed(call: PlayedCall, index: int, invocation: Invocation) -> TurnReport:
    """The server's report of one caller turn, after checking it took the path being measured."""
    report = invocation.report
    where = f"call {call.tracking_id}, turn {index + 1}"
    if report is None or report.outcome is None or report.latency_ms is None:
        raise BenchError(f"{where}: no reply was sent ({report})")
    outcome = report.outcome
    if outcome.provider != "compatible" or outcome.node_path != ("talk",) or outcome.failures:
        raise BenchError(
            f"{where}: answered by {outcome.provider!r} via {outcome.node_path}, failures {outcome.failures}"
        )
    turn = call.turns[index]
    if not call.barge_in and (outcome.reply != call.reply or turn.text.strip() != call.reply):
        raise BenchError(f"{where}: the reply was cut or changed: {outcome.reply!r} / {turn.text!r}")
    if not call.barge_in and report.frames != len(turn.frames):
        raise BenchError(f"{where}: {report.frames} frames posted but {len(turn.frames)} received")
    return report


def streams_of(call: PlayedCall, timings: list[StreamTiming]) -> list[StreamTiming]:
    """The LLM server's records of the call's reply requests, in order (the shop names the call)."""
    marker = f"assistant of {call.shop},"
    return sorted((t for t in timings if marker in t.system), key=lambda t: t.arrived)


def streaming_samples(
    calls: list[PlayedCall], settings: Settings, timings: list[StreamTiming]
) -> dict[str, list[float]]:
    samples = common.Samples()
    add = samples.add
    for call in calls:
        streams = streams_of(call, timings)
        if len(streams) != len(call.server):
            raise BenchError(
                f"call {call.tracking_id}: {len(streams)} LLM requests for {len(call.server)} turns"
            )
        for index, invocation in enumerate(call.server):
            report = check_streamed(call, index, invocation)
            assert report.outcome is not None and report.latency_ms is not None
            marks = report.outcome.marks.as_ms()
            k = clause_ends(report.outcome.reply)[0]
            turn = call.turns[index]
            stream = streams[index]
            # The LLM's own time, as the server saw it: request in -> the token that completes the clause.
            llm_ms = (stream.tokens[k - 1] - stream.arrived) * 1000
            add("llm_first_clause", llm_ms)
            add("server_minus_llm", report.latency_ms - llm_ms)
            add("received_to_llm_arrived", (stream.arrived - invocation.started) * 1000)
            add(
                "llm_clause_to_posted", report.latency_ms - (stream.tokens[k - 1] - invocation.started) * 1000
            )
            add("server_first_frame", report.latency_ms)
            add("server_minus_first_token", report.latency_ms - settings.first_token_ms)
            add(
                "server_minus_waits",
                report.latency_ms - settings.first_token_ms - (k - 1) * settings.token_ms,
            )
            add("received_to_llm_request", marks["llmRequest"])
            add("first_chunk_to_posted", report.latency_ms - marks["firstChunk"])
            add("client_first_text", turn.first_text_ms)
            add("client_minus_server", turn.first_text_ms - report.latency_ms)
            add("frames", report.frames)
            add("tokens", len(split_into_tokens(report.outcome.reply)))
            add("empty_closing_frames", sum(1 for _, token, last in turn.frames if last and not token))
    return samples


def cache_samples(calls: list[PlayedCall]) -> dict[str, list[float]]:
    """Turn latency of the cache calls: the first call's turns ask the LLM and fill the cache, every
    later call's turns must be hits."""
    samples: dict[str, list[float]] = {"hit": [], "miss": []}
    for number, call in enumerate(calls):
        for index, invocation in enumerate(call.server):
            report = invocation.report
            where = f"cache call {number + 1}, turn {index + 1}"
            if report is None or report.outcome is None or report.latency_ms is None:
                raise BenchError(f"{where}: no reply was sent ({report})")
            hit = bool(report.outcome.cache_hit)
            if hit != (number > 0):
                raise BenchError(f"{where}: expected a {'hit' if number else 'miss'}, got {report.outcome}")
            if report.outcome.reply != call.reply:
                raise BenchError(f"{where}: the reply was {report.outcome.reply!r}")
            samples["hit" if hit else "miss"].append(report.latency_ms)
    return samples


def barge_in_samples(
    calls: list[PlayedCall], recorder: RelayRecorder, settings: Settings
) -> dict[str, list[float]]:
    samples = common.Samples()
    add = samples.add
    for call in calls:
        ends = clause_ends(call.reply)
        for index, invocation in enumerate(call.server):
            report = check_streamed(call, index, invocation)
            turn = call.turns[index]
            assert turn.interrupt_sent is not None and report.outcome is not None
            interrupt = recorder.interrupts_on(invocation.connection_id)[index]
            after = [arrived for arrived, _, _ in turn.frames if arrived > turn.interrupt_sent]
            add("client_interrupt_to_last_frame", (max(after) - turn.interrupt_sent) * 1000 if after else 0.0)
            add("client_frames_after_interrupt", len(after))
            # The first post may return after the interrupt is in (the caller answers its frame before
            # the @connections response is back): what counts is any post beyond that first frame.
            posts = recorder.text_posts(invocation.connection_id, invocation.started, invocation.returned)
            later = [p.returned - interrupt.started for p in posts[1:]]
            add("server_interrupt_to_last_post", max(later) * 1000 if later else 0.0)
            add("server_posts_after_interrupt", len(later))
            marks = report.outcome.marks.as_ms()
            # When the 2nd clause would have been complete on the LLM server's schedule, had the stream
            # gone on: the relay must stop before it to keep that clause from the caller.
            due = invocation.started + (marks["firstToken"] + (ends[1] - 1) * settings.token_ms) / 1000
            add("server_interrupt_to_second_clause_due", (due - interrupt.started) * 1000)
            # marks.lastChunk is read once the LLM stream is closed (abandoned early, when interrupted).
            stream_left = invocation.started + marks["lastChunk"] / 1000
            add("server_interrupt_to_stream_left", (stream_left - interrupt.started) * 1000)
            add("server_interrupt_to_turn_returned", (invocation.returned - interrupt.started) * 1000)
            add("stream_stopped", 1.0 if report.outcome.interrupted else 0.0)
            add("tokens_spoken", len(split_into_tokens(report.outcome.reply)))
            add("client_first_text", turn.first_text_ms)
            add("server_first_frame", report.latency_ms or 0.0)
    return samples


STREAMING_ROWS = {
    "server_first_frame": "server: received -> first text frame posted",
    "server_minus_first_token": "  minus the {f:g} ms first-token time",
    "server_minus_waits": "  minus first token and {k1} token gaps to 1st clause",
    "llm_first_clause": "LLM server: request in -> 1st clause's last token out",
    "server_minus_llm": "overhead: server latency minus that LLM time",
    "received_to_llm_arrived": "  of which received -> request at the LLM server",
    "llm_clause_to_posted": "  of which clause token out -> post returned",
    "received_to_llm_request": "relay: received -> LLM request made",
    "first_chunk_to_posted": "relay: 1st clause ready -> post returned",
    "client_first_text": "client: prompt sent -> first text frame received",
    "client_minus_server": "  client minus server (socket + local API GW)",
}
BARGE_IN_ROWS = {
    "client_interrupt_to_last_frame": "client: interrupt sent -> last text frame recvd",
    "client_frames_after_interrupt": "client: text frames received after interrupt",
    "server_interrupt_to_last_post": "server: interrupt recvd -> last of those posted",
    "server_posts_after_interrupt": "server: text posts after the barged-in frame",
    "server_interrupt_to_second_clause_due": "server: interrupt recvd -> 2nd clause would be due",
    "server_interrupt_to_stream_left": "server: interrupt recvd -> LLM stream abandoned",
    "server_interrupt_to_turn_returned": "server: interrupt recvd -> turn done (state saved)",
    "tokens_spoken": "reply tokens spoken before the stop (outcome.reply)",
}


def streaming_table(summaries: dict[str, dict], settings: Settings, k: int) -> str:
    labels = {
        name: label.format(f=settings.first_token_ms, k1=f"{k - 1}x{settings.token_ms:g} ms")
        for name, label in STREAMING_ROWS.items()
    }
    rows = [
        [labels[name], s["p50"], s["p95"], s["p99"], s["max"]]
        for name, s in summaries.items()
        if name in labels
    ]
    n = int(summaries["server_first_frame"]["n"])
    return common.format_table([f"turn latency, {n} turns (ms)", "p50", "p95", "p99", "max"], rows)


def cache_table(summaries: dict[str, dict]) -> str:
    labels = {"hit": "cache hit: received -> reply posted", "miss": "first call (LLM): received -> 1st frame"}
    rows = [[labels[name], s["n"], s["p50"], s["p95"], s["p99"], s["max"]] for name, s in summaries.items()]
    return common.format_table(["turn latency (ms)", "n", "p50", "p95", "p99", "max"], rows)


def frames_table(summaries: dict[str, dict]) -> str:
    rows = [
        ["LLM tokens (deltas) per turn", *_mean_p50_max(summaries["tokens"])],
        ["post_to_connection text frames per turn", *_mean_p50_max(summaries["frames"])],
        ["  of which an empty closing frame", *_mean_p50_max(summaries["empty_closing_frames"])],
    ]
    return common.format_table(["per turn", "mean", "p50", "max"], rows)


def barge_in_table(summaries: dict[str, dict]) -> str:
    rows = [
        [
            label,
            summaries[name]["mean"],
            summaries[name]["p50"],
            summaries[name]["p95"],
            summaries[name]["max"],
        ]
        for name, label in BARGE_IN_ROWS.items()
    ]
    n = int(summaries["client_interrupt_to_last_frame"]["n"])
    return common.format_table([f"barge-in, {n} turns (ms or count)", "mean", "p50", "p95", "max"], rows)


def _mean_p50_max(summary: dict) -> list[float]:
    return [summary["mean"], summary["p50"], summary["max"]]


def plot(streaming: dict[str, list[float]], barge_in: dict[str, list[float]], path: Path) -> Path | None:
    """Latency CDFs, frames per turn against tokens, and interrupt -> last frame; None without matplotlib."""
    plt = common.pyplot()
    if plt is None:
        return None
    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.5))
    for key, label in (
        ("server_first_frame", "server: received -> first frame posted"),
        ("client_first_text", "client: prompt sent -> first frame"),
        ("server_minus_first_token", "server minus first-token time"),
    ):
        common.plot_cdf(left, streaming[key], label=label)
    left.set(xlabel="ms", ylabel="fraction of turns", title="Turn latency to the first text frame")
    frames = [int(v) for v in streaming["frames"]]
    tokens = int(max(streaming["tokens"]))
    counts = {n: frames.count(n) for n in range(min(frames), max(frames) + 1)}
    middle.bar(list(counts), list(counts.values()), label="text frames posted")
    middle.axvline(tokens, color="C3", linestyle="--", label=f"one post per token ({tokens})")
    middle.set(xlabel="per turn", ylabel="turns", title="post_to_connection frames vs tokens")
    middle.legend(fontsize=8)
    for key, label in (
        ("client_interrupt_to_last_frame", "client: interrupt sent -> last text frame"),
        ("server_interrupt_to_second_clause_due", "server: interrupt -> 2nd clause due"),
        ("server_interrupt_to_stream_left", "server: interrupt -> LLM stream abandoned"),
        ("server_interrupt_to_turn_returned", "server: interrupt -> turn done"),
    ):
        common.plot_cdf(right, barge_in[key], label=label)
    right.set(xlabel="ms after the interrupt", ylabel="fraction of barge-ins", title="Barge-in")
    for axes in (left, right):
        axes.legend(fontsize=8)
        axes.grid(alpha=0.3)
    return common.save_figure(figure, path)


# --- main -----------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> Settings:
    parser = common.new_parser(__doc__)
    parser.add_argument("--calls", type=int, default=10, help="measured calls without barge-in (default 10)")
    parser.add_argument("--turns-per-call", type=int, default=20, help="streamed turns per call (default 20)")
    parser.add_argument("--barge-in-calls", type=int, default=2, help="calls that barge in every turn")
    parser.add_argument("--barge-in-turns-per-call", type=int, default=16, help="(default 16)")
    parser.add_argument("--warmup-turns", type=int, default=5, help="turns of an uncounted first call")
    common.add_llm_flags(parser)
    parser.add_argument(
        "--quiet-ms", type=float, default=1000.0, help="after a barge-in, silence that ends the turn"
    )
    parser.add_argument("--reply", default=DEFAULT_REPLY, help="what the LLM server streams every turn")
    parser.add_argument("--parallel", type=int, default=1, help="measured calls at a time (default 1)")
    parser.add_argument(
        "--cache-calls", type=int, default=20, help="calls of common phrases; the first fills the cache"
    )
    args = parser.parse_args(argv)
    common.check_args(
        parser,
        args,
        at_least_one=("calls", "turns_per_call", "barge_in_calls", "barge_in_turns_per_call", "parallel"),
        non_negative=("warmup_turns", "first_token_ms", "token_ms"),
        positive=("quiet_ms",),
    )
    if args.cache_calls == 1 or args.cache_calls < 0:
        parser.error("--cache-calls must be 0 or at least 2 (the first call fills the cache)")
    check_reply(parser, args.reply, clauses=2)
    return Settings(
        args.calls,
        args.turns_per_call,
        args.barge_in_calls,
        args.barge_in_turns_per_call,
        args.warmup_turns,
        args.first_token_ms,
        args.token_ms,
        args.quiet_ms,
        args.reply,
        args.parallel,
        args.cache_calls,
    )


def calls_store(stack: LocalStack) -> CallsStore:
    """The calls table of the stack's DynamoDB, read as the relay reads it."""
    dynamodb = boto3.resource("dynamodb", endpoint_url=stack.dynamodb.endpoint_url, region_name=REGION)
    return CallsStore(dynamodb.Table(KimiyiSettings().tables.calls))


@contextmanager
def running_stack(
    recorder: RelayRecorder | None = None, before_start: Callable[[LocalStack], None] | None = None
) -> Iterator[LocalStack]:
    """The local stack in this process (set its environment first, e.g. `common.use_local_llm`), stopped on
    the way out. With a recorder, the recorder is its RelayFunction, loaded once the stack has started."""
    stack = LocalStack(port=0, function_overrides={RELAY_FUNCTION: recorder} if recorder else None)
    if before_start is not None:
        before_start(stack)
    stack.start()
    try:
        if recorder is not None:
            assert stack.spec is not None
            recorder.load(stack.spec.functions[RELAY_FUNCTION])
        yield stack
    finally:
        stack.stop()


def check_reply(parser: argparse.ArgumentParser, reply: str, clauses: int = 1) -> None:
    """--reply: at least `clauses` clauses, no outer spaces, and short enough for the bench workflow."""
    if not reply or reply != reply.strip() or len(clause_ends(reply)) < clauses:
        parser.error(f"--reply must have at least {clauses} clause(s) and no leading or trailing spaces")
    if len(split_into_tokens(reply)) > MAX_REPLY_TOKENS:
        parser.error(f"--reply must be at most {MAX_REPLY_TOKENS} tokens (the bench workflow's maxTokens)")


@dataclass
class Played:
    streaming: list[PlayedCall]
    barge_in: list[PlayedCall]
    cached: list[PlayedCall]
    recorder: RelayRecorder
    timings: list[StreamTiming]


def run(settings: Settings) -> Played:
    recorder = RelayRecorder()
    timing = {"first_token_ms": settings.first_token_ms, "token_ms": settings.token_ms}
    with LocalLLMServer(reply=settings.reply, **timing) as llm:
        common.use_local_llm(llm.openai_base_url)
        with running_stack(recorder) as stack, httpx.Client(timeout=RECV_TIMEOUT_S) as client:
            store = calls_store(stack)

            def call(
                turns: int, shop: str, barge_in: bool = False, reply: str = settings.reply, **options: Any
            ) -> PlayedCall:
                return play_call(
                    client,
                    stack.base_url,
                    recorder,
                    store,
                    turns,
                    shop=shop,
                    reply=reply,
                    barge_in=barge_in,
                    quiet_s=settings.quiet_ms / 1000,
                    **options,
                )

            if settings.warmup_turns:
                call(settings.warmup_turns, "Shop warm-up")
            # `parallel` calls at a time, as independent callers: each call's turns stay in order.
            with ThreadPoolExecutor(settings.parallel) as callers:
                streaming = list(
                    callers.map(lambda i: call(settings.turns_per_call, shop_name(i)), range(settings.calls))
                )
            # Barge-ins always get the long reply: its second clause is still to come when the
            # caller interrupts, which is what they measure.
            llm.configure(reply=DEFAULT_REPLY)
            barge_ins = [
                call(settings.barge_in_turns_per_call, f"Shop barge-in {i}", True, DEFAULT_REPLY)
                for i in range(settings.barge_in_calls)
            ]
            llm.configure(reply=settings.reply)
            cached = [
                call(len(CACHE_PHRASES), CACHE_SHOP, utterances=CACHE_PHRASES)
                for _ in range(settings.cache_calls)
            ]
            timings = llm.stream_timings()
    return Played(streaming, barge_ins, cached, recorder, timings)


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    started = time.perf_counter()
    played = run(settings)
    elapsed_s = time.perf_counter() - started
    barge_in_calls = played.barge_in

    streaming = streaming_samples(played.streaming, settings, played.timings)
    barge_in = barge_in_samples(barge_in_calls, played.recorder, settings)
    cache = cache_samples(played.cached)
    streaming_summary, barge_in_summary, cache_summary = (
        common.summaries(streaming),
        common.summaries(barge_in),
        common.summaries(cache),
    )
    ends = clause_ends(settings.reply)
    k = ends[0]
    tokens = len(split_into_tokens(settings.reply))
    cuts = [check for played in barge_in_calls for check in played.cut_checks]
    cut_ok = sum(1 for check in cuts if check["ok"])
    frames_mean = streaming_summary["frames"]["mean"]

    print(common.machine_line())
    print(
        f"Local stack in process, real relay handler; local LLM server: first token "
        f"{settings.first_token_ms:g} ms, {settings.token_ms:g} ms/token"
    )
    print(f"Reply: {tokens} tokens, {len(ends)} clauses complete at tokens {ends}: {settings.reply!r}")
    print(
        f"\n1. {settings.calls} calls x {settings.turns_per_call} turns, {settings.parallel} calls at a time, "
        f"one streamed LLM reply each (warm-up call of {settings.warmup_turns} turns not counted)"
    )
    print(streaming_table(streaming_summary, settings, k))
    if cache_summary:
        print(
            f"\n1b. Cache: {settings.cache_calls} calls x {len(CACHE_PHRASES)} common phrases "
            f"{CACHE_PHRASES}; the first call fills the cache"
        )
        print(cache_table(cache_summary))
    print("\n2. Frames: post_to_connection text frames per turn against one post per token")
    print(frames_table(streaming_summary))
    print(
        f"   {frames_mean:.2f} posts a turn instead of {tokens}: {100 * (1 - frames_mean / tokens):.0f}% fewer "
        f"round trips (the reply has {len(ends)} clauses)"
    )
    print(
        f"\n3. Barge-in: {settings.barge_in_calls} calls x {settings.barge_in_turns_per_call} turns; "
        f"`interrupt` sent when the first text frame arrives; turn over after {settings.quiet_ms:g} ms of silence"
    )
    print(barge_in_table(barge_in_summary))
    stopped = int(sum(barge_in["stream_stopped"]))
    print(
        f"   LLM stream abandoned (outcome.interrupted) in {stopped}/{len(barge_in['stream_stopped'])} turns"
    )
    print(
        f"   stored reply cut to what the caller heard: {cut_ok}/{len(cuts)} turns checked (e.g. {cuts[0]['stored']!r})"
    )

    figures = {
        "settings": dataclasses.asdict(settings),
        "replyTokens": tokens,
        "clauseEndsAtToken": ends,
        "streaming": {"metrics": streaming_summary, "samples": streaming},
        "cacheTurns": {"metrics": cache_summary, "samples": cache},
        "bargeIn": {"metrics": barge_in_summary, "samples": barge_in, "cutChecks": cuts},
        "runSeconds": round(elapsed_s, 1),
    }
    common.finish("relay_turns", figures, elapsed_s, lambda path: plot(streaming, barge_in, path))
    if cut_ok != len(cuts):
        raise BenchError(f"the stored reply was not cut in {len(cuts) - cut_ok} barge-in turns: {cuts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
