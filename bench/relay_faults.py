"""Never silent: how long a caller waits for words on the relay's awkward paths, and what they hear.

Every scenario runs through the REAL relay handler in the local stack, with relay_turns.py's harness
(make-call dryRun staging, signed TwiML fetch and WebSocket handshake, the RelayRecorder), against the
local LLM server at a set first-token time and gap between tokens (300 ms and 15 ms/token, as
`make run LLM=local` wires it):

- races, one healthy `compatible` provider (LLM_PROVIDER_ORDER=compatible,scripted):
  baseline               the reference: each prompt after the previous turn has returned (state saved)
  fast_caller            the next prompt goes out the instant the previous reply's `last` frame arrives
  interrupt_then_prompt  `interrupt` at a long reply's first text frame, the next prompt 20 ms later
  two_prompts            two final prompts 50 ms apart; the second is measured
- faults of the PRIMARY provider, as a two-provider deployment is configured: primary `compatible` on
  one LLM server in the fault mode, secondary `openai` on a second server in mode ok, then scripted
  (LLM_PROVIDER_ORDER=compatible,openai,scripted): error, rate_limit, hang_before_headers,
  hang_after_headers, stall, drop, malformed and content_filter (the last four after 3 tokens).

    python bench/relay_faults.py --turns 20 --first-token-ms 300 --token-ms 15

Each group of scenarios runs in its own process (the relay builds its LLM chain once, at import), and
each process checks the chain the relay really built; the processes set up at once, then run one after
the other. Prints tables, writes bench/results/relay_faults.json and, when matplotlib is installed,
docs/benchmarks/relay_faults.png. The script stops by itself within --cap-s, whatever the relay does:
about 4.5 minutes on a relay that is slow on these paths, 2.5 minutes when only hangs and stalls are.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # so `python bench/relay_faults.py` finds the `bench` package

import httpx  # noqa: E402
from websockets.sync.client import ClientConnection  # noqa: E402

from bench import common  # noqa: E402
from bench import relay_turns as harness  # noqa: E402
from kimiyi.languages import holding_phrase_for  # noqa: E402
from kimiyi_local import llm_server  # noqa: E402
from kimiyi_local.llm_server import LocalLLMServer  # noqa: E402

RACES = ("baseline", "fast_caller", "interrupt_then_prompt", "two_prompts")
FAULTS = (
    "error",
    "rate_limit",
    "hang_before_headers",
    "hang_after_headers",
    "stall",
    "drop",
    "malformed",
    "content_filter",
)
SCENARIOS = RACES + FAULTS
GROUPS = {"races": RACES, "faults": FAULTS}
FAIL_AFTER_TOKENS = 3
INTERRUPT_GAP_S = 0.020  # interrupt_then_prompt: interrupt, then the prompt 20 ms later
PROMPT_GAP_S = 0.050  # two_prompts: the second final prompt 50 ms after the first
SILENT_AFTER_MS = 1000.0  # a turn is silent without a text frame by first-token time + this
RECORD_WAIT_S = 10.0  # waiting for the server to return from a call's invocations
HANG_S = 12.0  # the fault server's hangs and stalls outlast the client's turn timeout: a real hang
# The product's breaker opens after 3 consecutive failures and skips the primary for 30 s: the fault
# would then be met in 3 turns of 20. Raised here so that every measured turn meets it.
BREAKER_FAILURES = "1000000"
STAGGER_S = 0.2
WORKER_GRACE_S = 10.0  # a worker's stack stop and exit, after its hard deadline
MIN_SCENARIO_S = 5.0  # a scenario is not started with less than this left of the cap

HOLDING_PHRASE = holding_phrase_for("en-US")  # "One moment, please."
SCRIPTED_LINE = next(n["data"]["scriptedLine"] for n in harness.BENCH_WORKFLOW["nodes"] if n["id"] == "talk")
LONG_TAIL = (
    " We are open on Saturday from nine to five, and you can book online, or I can take your details now."
)

# Every prompt starts with a tag: its kind, its call and its number ("Q01007"). The bench's LLM reply
# starts with the tag of the last caller message it answers, so a text frame that carries a tag starts
# that prompt's reply, and no superseded turn's frames can pass for another prompt's.
#   Q  "Q01007! You asked: <question>."  first clause complete at token 2;
#      after 3 tokens the caller has "Q01007!" and half of the next clause (as with "Hi! How")
#   L  the same, then a long tail (the reply that is interrupted)
#   A  as Q (two_prompts' first prompt)
#   S  "S01007 you asked: <question>. ..." first clause complete only at token 5: the 3 tokens before
#      a stall, drop or malformed chunk hold no complete clause (as the server's default reply
#      "You said: ..." in the issue)
TAG = re.compile(r"\b([ALQS]\d{5})\b")


def reply_text(tag: str, question: str) -> str:
    if tag[0] == "S":
        return f"{tag} you asked: {question}."
    reply = f"{tag}! You asked: {question}."
    return reply + LONG_TAIL if tag[0] == "L" else reply


def question_of(words: str) -> str:
    return TAG.sub("", words).strip().rstrip("?.! ")


class BenchReply:
    """What the local LLM servers answer, patched in for their default (their timing is not changed):
    the reply to the last caller message's last tag; anything else gets the default reply.

    It also notes every request it answers, (system prompt, tag), so each request the servers stream
    is counted against the prompt it answers. Requests a server refuses before building a reply (error,
    rate_limit, hang_before_headers) are not noted: the servers' own counters have those."""

    def __init__(self) -> None:
        self._default = llm_server.reply_for  # taken before the patch replaces it
        self._lock = threading.Lock()
        self._asked: list[tuple[str, str]] = []

    def __call__(self, messages: list[dict[str, Any]]) -> str:
        said = next((str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), "")
        tags = TAG.findall(said)
        system = str(messages[0].get("content", "")) if messages else ""
        with self._lock:
            self._asked.append((system, tags[-1] if tags else ""))
        if not tags or "Answer with the number" in system:
            return self._default(messages)
        return reply_text(tags[-1], question_of(said))

    def take(self) -> list[tuple[str, str]]:
        """The requests answered since the last take()."""
        with self._lock:
            asked, self._asked = self._asked, []
            return asked


@dataclass(frozen=True)
class Settings:
    turns: int
    first_token_ms: float
    token_ms: float
    turn_timeout_s: float
    parallel: int
    cap_s: float
    scenarios: tuple[str, ...]


# --- the server side -------------------------------------------------------------------------------------


class FaultRecorder(harness.RelayRecorder):
    """relay_turns' recorder, plus each connection's call (from the $connect query, as the relay reads
    it) and a wait for a call's invocations to return, which also sees the invocations that returned no
    TurnReport (a frame that failed, a dropped duplicate)."""

    def __init__(self) -> None:
        super().__init__()
        self._returned = threading.Condition()
        self.calls: dict[str, str] = {}  # connection id -> tracking id

    def __call__(self, event: dict, context: Any) -> Any:
        context_ = event["requestContext"]
        if context_["routeKey"] == "$connect":
            tracking_id = (event.get("queryStringParameters") or {}).get("trackingId", "")
            with self._returned:
                self.calls[context_["connectionId"]] = tracking_id
        result = super().__call__(event, context)
        if context_["routeKey"] == "$default":
            with self._returned:
                self._returned.notify_all()
        return result

    @property
    def chain(self) -> Any:
        return self._module.chain  # the chain the relay handler built at import

    def on_call(self, tracking_id: str, message_type: str) -> list[harness.Invocation]:
        """The call's returned invocations of one message type, in the order they started."""
        with self._returned:
            connections = {c for c, t in self.calls.items() if t == tracking_id}
        with self._lock:  # RelayRecorder's private lock over `invocations`
            found = [
                i
                for i in self.invocations
                if i.connection_id in connections and i.message_type == message_type
            ]
        return sorted(found, key=lambda i: i.started)

    def wait_returned(self, tracking_id: str, prompts: int, interrupts: int, until: float) -> bool:
        """True once the call's first `prompts` prompt and `interrupts` interrupt invocations have
        returned (the turns' state saved), False at `until` (time.perf_counter)."""

        def done() -> bool:
            return (
                len(self.on_call(tracking_id, "prompt")) >= prompts
                and len(self.on_call(tracking_id, "interrupt")) >= interrupts
            )

        with self._returned:
            while not done():
                left = until - time.perf_counter()
                if left <= 0:
                    return False
                self._returned.wait(min(left, 0.5))
        return True


# --- the client side: one caller, and which reply each frame belongs to ----------------------------------


@dataclass
class Frame:
    at: float  # time.perf_counter when read
    text: str
    last: bool


@dataclass
class Prompt:
    tag: str
    words: str
    expected: str  # the reply the LLM server streams for it
    sent: float
    measured: bool
    frames: list[Frame] = field(default_factory=list)
    closed: bool = False  # its reply's `last` frame arrived
    timed_out: bool = False  # no `last` frame within the turn timeout

    @property
    def text(self) -> str:
        return "".join(frame.text for frame in self.frames).strip()


class Caller:
    """A Twilio-like caller on one relay socket. Every text frame is read as it arrives and given to a
    prompt: a frame carrying a tag starts that prompt's reply; an untagged frame continues the open
    reply whose expected text it extends (the most recent first), else the reply of the frame before it
    (a holding phrase after a drop), else, when no reply is open, starts the reply of the latest prompt
    if that prompt has no frame yet (a holding phrase or scripted line alone); any other frame is an
    orphan and counted apart. An empty `last` frame closes the reply of the frame before it."""

    def __init__(self, ws: ClientConnection, call: int) -> None:
        self.ws = ws
        self.call = call
        self.prompts: dict[str, Prompt] = {}
        self.order: list[Prompt] = []
        self.orphans: list[Frame] = []
        self.other_frames: list[dict] = []
        self._current: Prompt | None = None

    def prompt(self, kind: str, number: int, question: str, *, measured: bool) -> Prompt:
        tag = f"{kind}{self.call:02d}{number:03d}"
        words = f"{tag} {question}"
        prompt = Prompt(tag, words, reply_text(tag, question_of(words)), time.perf_counter(), measured)
        self.prompts[tag] = prompt
        self.order.append(prompt)
        self.ws.send(json.dumps({"type": "prompt", "voicePrompt": words, "lang": "en-US", "last": True}))
        return prompt

    def interrupt(self, heard: str) -> float:
        message = {"type": "interrupt", "utteranceUntilInterrupt": heard, "durationUntilInterruptMs": 0}
        self.ws.send(json.dumps(message))
        return time.perf_counter()

    def read_until(self, done: Callable[[], bool], until: float) -> bool:
        """Reads frames until `done()` or `until` (time.perf_counter); returns done()."""
        while not done():
            left = until - time.perf_counter()
            if left <= 0:
                return False
            try:
                raw = self.ws.recv(timeout=left)
            except TimeoutError:
                continue
            self._take(raw, time.perf_counter())
        return True

    def drain(self, quiet_s: float = 0.05, limit_s: float = 1.0) -> None:
        """Frames still on their way once the server has returned (bounded)."""
        end = time.perf_counter() + limit_s
        while time.perf_counter() < end:
            try:
                raw = self.ws.recv(timeout=quiet_s)
            except TimeoutError:
                return
            self._take(raw, time.perf_counter())

    def _take(self, raw: Any, at: float) -> None:
        frame = json.loads(raw)
        if frame.get("type") != "text":
            self.other_frames.append(frame)
            return
        text, last = str(frame.get("token", "")), bool(frame.get("last"))
        owner = self._owner(text)
        if owner is None:
            self.orphans.append(Frame(at, text, last))
        else:
            owner.frames.append(Frame(at, text, last))
            owner.closed = owner.closed or last
        self._current = None if last or owner is None else owner

    def _owner(self, text: str) -> Prompt | None:
        tagged = TAG.search(text)
        if tagged and tagged.group(1) in self.prompts:
            return self.prompts[tagged.group(1)]
        if text.strip():
            for prompt in reversed(self.order):
                if prompt.frames and not prompt.closed and prompt.expected.startswith(prompt.text + text):
                    return prompt
        if self._current is not None:
            return self._current
        latest = self.order[-1] if self.order else None
        return latest if latest is not None and not latest.frames else None


# --- scenarios ---------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """What bounds a scenario: no unit starts after `soft`, nor unless a whole unit fits before `hard`."""

    soft: float  # time.perf_counter
    hard: float
    turn_timeout_s: float

    def may_start(self, prompts: int) -> bool:
        now = time.perf_counter()
        return now < self.soft and now + prompts * self.turn_timeout_s + RECORD_WAIT_S < self.hard


@dataclass
class Unit:
    """One measured turn: the measured prompt, and the prompt that led to it (interrupted or superseded)."""

    measured: Prompt
    lead: Prompt | None = None
    interrupt_sent: float | None = None
    server_ok: bool = True  # the server returned from the unit's invocations in time


@dataclass
class PlayedCall:
    scenario: str
    call: int
    tracking_id: str
    shop: str
    caller: Caller
    units: list[Unit]
    started: float
    ended: float
    not_started: int  # units the plan did not let start
    stuck: bool  # the server did not return in time: the call's remaining units were not played


def question(number: int) -> str:
    return harness.UTTERANCES[number % len(harness.UTTERANCES)]


def play_call(
    scenario: str,
    call: int,
    units: int,
    client: httpx.Client,
    base_url: str,
    recorder: FaultRecorder,
    plan: Plan,
) -> PlayedCall:
    shop = f"Faults {scenario} {call:02d}"
    timeout = plan.turn_timeout_s
    # Callers start talking STAGGER_S apart (after the greeting), so parallel calls do not stay in step.
    pause_s = harness.SETUP_PAUSE_S + (call - 1) * STAGGER_S
    with harness.open_call(client, base_url, shop, pause_s) as (tracking_id, ws):
        caller = Caller(ws, call)
        played = PlayedCall(scenario, call, tracking_id, shop, caller, [], time.perf_counter(), 0.0, 0, False)
        prompts = interrupts = 0

        def settle(unit: Unit | None) -> bool:
            ok = recorder.wait_returned(
                tracking_id, prompts, interrupts, min(time.perf_counter() + RECORD_WAIT_S, plan.hard)
            )
            if unit is not None:
                unit.server_ok = ok
            return ok

        def closed(prompt: Prompt) -> Callable[[], bool]:
            return lambda: prompt.closed

        if scenario == "fast_caller":
            # The first prompt is not measured; each later one goes out the instant the reply before
            # it sent its `last` frame.
            previous = caller.prompt("Q", 0, question(0), measured=False)
            prompts = 1
            for number in range(1, units + 1):
                if not plan.may_start(1):
                    played.not_started = units - number + 1
                    break
                if not caller.read_until(closed(previous), previous.sent + timeout):
                    previous.timed_out = True
                    if not settle(played.units[-1] if played.units else None):
                        played.stuck, played.not_started = True, units - number + 1
                        break
                current = caller.prompt("Q", number, question(number), measured=True)
                prompts += 1
                played.units.append(Unit(current, lead=previous))
                previous = current
            if played.units and not played.stuck:
                last = played.units[-1].measured
                last.timed_out = not caller.read_until(closed(last), last.sent + timeout)
                played.stuck = not settle(played.units[-1])
        else:
            for number in range(units):
                kinds = 2 if scenario in ("interrupt_then_prompt", "two_prompts") else 1
                if not plan.may_start(kinds):
                    played.not_started = units - number
                    break
                if scenario == "interrupt_then_prompt":
                    unit = interrupted_unit(caller, number, timeout)
                    prompts += 1 if unit is None else 2
                    interrupts += 0 if unit is None or unit.interrupt_sent is None else 1
                elif scenario == "two_prompts":
                    lead = caller.prompt("A", number, question(number), measured=False)
                    caller.read_until(lambda: False, lead.sent + PROMPT_GAP_S)
                    unit = Unit(caller.prompt("Q", number, question(number + 1), measured=True), lead=lead)
                    prompts += 2
                else:
                    kind = "S" if scenario in ("stall", "drop", "malformed") else "Q"
                    unit = Unit(caller.prompt(kind, number, question(number), measured=True))
                    prompts += 1
                if unit is not None:
                    measured = unit.measured
                    measured.timed_out = not caller.read_until(closed(measured), measured.sent + timeout)
                    played.units.append(unit)
                if not settle(unit):
                    played.stuck, played.not_started = True, units - number - 1
                    break
        caller.drain()
        played.ended = time.perf_counter()
    return played


def interrupted_unit(caller: Caller, number: int, timeout_s: float) -> Unit | None:
    """A long reply; `interrupt` at its first text frame (carrying what was received), the measured
    prompt 20 ms later. None when the long reply sent no text in time (nothing to interrupt)."""
    lead = caller.prompt("L", number, question(number), measured=False)
    if not caller.read_until(lambda: bool(lead.frames), lead.sent + timeout_s):
        lead.timed_out = True
        return None
    interrupt_sent = caller.interrupt(lead.text)
    caller.read_until(lambda: False, interrupt_sent + INTERRUPT_GAP_S)
    measured = caller.prompt("Q", number, question(number + 1), measured=True)
    return Unit(measured, lead=lead, interrupt_sent=interrupt_sent)


# --- one group of scenarios in this process ------------------------------------------------------------


def expected_chain(group: str, primary: LocalLLMServer, secondary: LocalLLMServer | None) -> list[tuple]:
    chain = [("compatible", f"127.0.0.1:{primary.port}")]
    if group == "faults" and secondary is not None:
        chain.append(("openai", f"127.0.0.1:{secondary.port}"))
    return [*chain, ("scripted", "local")]


def run_worker(group: str, settings: Settings, out: Path, hard_deadline: float, later: int) -> None:
    """Runs the group's selected scenarios in this process, one stack and one chain, writing `out`
    after each scenario. `hard_deadline` is epoch seconds; `later` counts the scenarios of the groups
    still to run after this one, which share what is left of the cap."""
    started = time.perf_counter()
    scenarios = [s for s in GROUPS[group] if s in settings.scenarios]
    recorder = FaultRecorder()
    timing = {"first_token_ms": settings.first_token_ms, "token_ms": settings.token_ms}
    results: dict[str, Any] = {"group": group, "scenarios": {}}
    with contextlib.ExitStack() as resources:
        replies = BenchReply()
        resources.enter_context(mock.patch.object(llm_server, "reply_for", replies))
        faulty = {"max_hang_s": HANG_S, "fail_after_tokens": FAIL_AFTER_TOKENS}
        primary = resources.enter_context(LocalLLMServer(**timing, **faulty))
        secondary = resources.enter_context(LocalLLMServer(**timing)) if group == "faults" else None
        # Set before the stack reads the environment and the relay handler builds its chain.
        order = "compatible,scripted" if secondary is None else "compatible,openai,scripted"
        common.use_local_llm(primary.openai_base_url, provider_order=order)
        os.environ["LLM_BREAKER_FAILURES"] = BREAKER_FAILURES
        for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
            os.environ.pop(name, None)
        if secondary is not None:
            os.environ.update({"OPENAI_API_KEY": "local", "OPENAI_BASE_URL": secondary.openai_base_url})
            os.environ["OPENAI_MODEL"] = "local-fake"
        stack = resources.enter_context(harness.running_stack(recorder))
        built = [(p["name"], p["host"]) for p in recorder.chain.describe()]
        wanted = expected_chain(group, primary, secondary)
        if built != wanted:
            raise harness.BenchError(f"the relay built the chain {built}, not {wanted}")
        results["chain"] = [f"{name}@{host}" for name, host in built]
        results["setUpSeconds"] = round(time.perf_counter() - started, 1)
        _write(out, results)
        out.with_suffix(".ready").touch()
        if sys.stdin.readline().strip() != "go":  # the run was stopped before this group's turn
            return
        hard = time.perf_counter() + (hard_deadline - time.time())
        with httpx.Client(timeout=RECORD_WAIT_S) as client:
            results["warmUpSeconds"] = warm_up(
                group, settings, client, stack.base_url, recorder, primary, hard
            )
            for index, scenario in enumerate(scenarios):
                left = hard - time.perf_counter()
                share = left / (len(scenarios) - index + later)
                if left < MIN_SCENARIO_S + RECORD_WAIT_S:
                    results["scenarios"][scenario] = {"skipped": "the cap was spent"}
                    _write(out, results)
                    continue
                print(f"### scenario {scenario}", flush=True)  # splits the relay's log lines per scenario
                print(f"relay_faults: {scenario} ...", file=sys.stderr, flush=True)
                plan = Plan(time.perf_counter() + max(share, MIN_SCENARIO_S), hard, settings.turn_timeout_s)
                results["scenarios"][scenario] = run_scenario(
                    scenario, settings, client, stack.base_url, recorder, replies, primary, secondary, plan
                )
                _write(out, results)
    _write(out, results)


def warm_up(
    group: str,
    settings: Settings,
    client: httpx.Client,
    base_url: str,
    recorder: FaultRecorder,
    primary: LocalLLMServer,
    hard: float,
) -> float:
    """Uncounted calls first, as many at a time as the scenarios make, so that no measured turn pays for
    the process's first requests (clients, connections, lazy imports): two turns each with the primary
    answering, and in the faults group one more with the primary failing, which warms the secondary."""
    started = time.perf_counter()
    parallel = settings.parallel
    plan = Plan(started + 30, hard, settings.turn_timeout_s)
    for mode, turns in (("ok", 2), ("error", 1)) if group == "faults" else (("ok", 2),):
        primary.configure(mode=mode)
        with ThreadPoolExecutor(parallel) as callers:
            calls = [(i + 1, turns) for i in range(parallel)]
            list(callers.map(lambda c: play_call("warm-up", *c, client, base_url, recorder, plan), calls))
    primary.configure(mode="ok")
    return round(time.perf_counter() - started, 1)


def _write(out: Path, results: dict) -> None:
    partial = out.with_suffix(".partial")
    partial.write_text(json.dumps(results), encoding="utf-8")
    partial.replace(out)


def run_scenario(
    scenario: str,
    settings: Settings,
    client: httpx.Client,
    base_url: str,
    recorder: FaultRecorder,
    replies: BenchReply,
    primary: LocalLLMServer,
    secondary: LocalLLMServer | None,
    plan: Plan,
) -> dict[str, Any]:
    fault = scenario if scenario in FAULTS else "ok"
    primary.configure(mode=fault)
    circuits_before = [p["circuit"] for p in recorder.chain.describe()]
    servers = {"primary": primary, **({"secondary": secondary} if secondary is not None else {})}
    for server in servers.values():
        server.reset_stats()
    replies.take()
    calls = min(settings.parallel, settings.turns)
    sizes = [settings.turns // calls + (1 if i < settings.turns % calls else 0) for i in range(calls)]
    started = time.perf_counter()
    with ThreadPoolExecutor(calls) as callers:
        played = list(
            callers.map(
                lambda i: play_call(scenario, i + 1, sizes[i], client, base_url, recorder, plan), range(calls)
            )
        )
    seconds = time.perf_counter() - started
    primary.configure(mode="ok")
    stats = {name: server.stats for name, server in servers.items()}
    timings = {name: server.stream_timings() for name, server in servers.items()}
    asked = replies.take()
    figures = describe(scenario, settings, played, recorder, stats, timings, asked, circuits_before, seconds)
    if not figures["turns"]:
        return {"skipped": "no turn could finish within the cap"}
    return figures


def describe(
    scenario: str,
    settings: Settings,
    played: list[PlayedCall],
    recorder: FaultRecorder,
    stats: dict[str, dict[str, int]],
    timings: dict[str, list[llm_server.StreamTiming]],
    asked: list[tuple[str, str]],
    circuits_before: list[str],
    seconds: float,
) -> dict[str, Any]:
    """Per measured turn: the client's view, the server's record and the LLM requests; JSON-ready."""
    silent_ms = settings.first_token_ms + SILENT_AFTER_MS
    turns: list[dict[str, Any]] = []
    notes: Counter = Counter()
    requests: Counter = Counter()  # LLM requests for the measured prompts and for the lead prompts
    for call in played:
        turns += call_turns(scenario, call, recorder, asked, silent_ms, requests)
        note_call(call, recorder, notes)
    samples: dict[str, str] = {}
    for t in turns:
        samples.setdefault(t["heard"], t["text"])
    return {
        "turns": len(turns),
        "calls": len(played),
        "seconds": round(seconds, 1),
        "firstTextMs": common.summary_or_none(
            t["firstTextMs"] for t in turns if t["firstTextMs"] is not None
        ),
        "lastFrameMs": common.summary_or_none(
            t["lastFrameMs"] for t in turns if t["lastFrameMs"] is not None
        ),
        "longestGapMs": common.summary_or_none(t["longestGapMs"] for t in turns),
        "silentTurns": sum(1 for t in turns if t["silent"]),
        "noTextTurns": sum(1 for t in turns if t["firstTextMs"] is None),
        "timeouts": sum(1 for t in turns if t["timedOut"]),
        "llmRequests": llm_requests(scenario, len(turns), requests, asked, stats, timings),
        "heard": dict(Counter(t["heard"] for t in turns)),
        "heardSamples": samples,
        **server_counts(turns),
        "lead": lead_summary(scenario, turns),
        "circuitsBefore": circuits_before,
        "notes": dict(notes),
        "perTurn": turns,
    }


def prompts_and_invocations(call: PlayedCall, recorder: FaultRecorder) -> tuple[list[Prompt], list[Any]]:
    """The call's prompts in the order they were sent, and its prompt invocations in the order they started."""
    return sorted(call.caller.order, key=lambda p: p.sent), recorder.on_call(call.tracking_id, "prompt")


def call_turns(
    scenario: str,
    call: PlayedCall,
    recorder: FaultRecorder,
    asked: list[tuple[str, str]],
    silent_ms: float,
    requests: Counter,
) -> list[dict[str, Any]]:
    """The records of the call's measured turns, each with the LLM requests its prompt (and lead) cost."""
    marker = f"assistant of {call.shop},"
    asked_for = Counter(tag for system, tag in asked if marker in system)
    sent, invocations = prompts_and_invocations(call, recorder)
    server_of = {p.tag: (invocations[i] if i < len(invocations) else None) for i, p in enumerate(sent)}
    turns = []
    for unit in call.units:
        record = turn_record(scenario, call, unit, server_of, silent_ms)
        record["llmRequests"] = asked_for[unit.measured.tag]
        requests["measured"] += asked_for[unit.measured.tag]
        if "lead" in record and unit.lead is not None:
            record["lead"]["llmRequests"] = asked_for[unit.lead.tag]
            requests["leads"] += asked_for[unit.lead.tag]
        turns.append(record)
    return turns


def note_call(call: PlayedCall, recorder: FaultRecorder, notes: Counter) -> None:
    """What did not fit: server replies tagged for another prompt, orphan and non-text frames, stuck calls."""
    sent, invocations = prompts_and_invocations(call, recorder)
    for prompt, invocation in zip(sent, invocations, strict=False):
        reply = invocation.report.outcome.reply if invocation.report and invocation.report.outcome else ""
        tagged = TAG.search(reply)
        notes["serverReplyOfAnotherPrompt"] += int(bool(tagged) and tagged.group(1) != prompt.tag)
    notes["orphanFrames"] += len(call.caller.orphans)
    notes["nonTextFrames"] += len(call.caller.other_frames)
    notes["stuckCalls"] += int(call.stuck)
    notes["notStarted"] += call.not_started


def llm_requests(
    scenario: str,
    measured: int,
    requests: Counter,
    asked: list[tuple[str, str]],
    stats: dict[str, dict[str, int]],
    timings: dict[str, list[llm_server.StreamTiming]],
) -> dict[str, Any]:
    if scenario in RACES:
        # One healthy server: every request builds a reply, and the reply names the prompt it answers.
        counting = requests["measured"]
        counted = (
            "requests the LLM server received whose last user message is a measured prompt (any repeat or "
            "restart of that prompt's request included; the unmeasured lead prompts' requests apart)"
        )
    else:
        counting = sum(s.get("requests", 0) for s in stats.values())
        counted = "every request both LLM servers received during the scenario (all its turns are measured)"
    return {
        "perMeasuredTurn": round(counting / measured, 3) if measured else None,
        "counted": counted,
        "forMeasuredPrompts": requests["measured"],
        "forLeadPrompts": requests["leads"],
        "answeredWithAReply": len(asked),
        "serverTotals": {name: s.get("requests", 0) for name, s in stats.items()},
        "byMode": {name: {k: v for k, v in s.items() if k.startswith("mode:")} for name, s in stats.items()},
        "streamed": sum(len(t) for t in timings.values()),
        "judging": sum(1 for system, _ in asked if "Answer with the number" in system),
    }


def server_counts(turns: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "providers": dict(Counter(str(t["server"].get("provider")) for t in turns)),
        "failures": dict(Counter(f for t in turns for f in t["server"].get("failures", []))),
        "noReport": sum(1 for t in turns if not t["server"].get("report")),
        "judgedEdges": sum(1 for t in turns if t["server"].get("judgedEdge")),
    }


def turn_record(
    scenario: str, call: PlayedCall, unit: Unit, server_of: dict[str, Any], silent_ms: float
) -> dict[str, Any]:
    prompt = unit.measured
    frames = prompt.frames
    first_ms = (frames[0].at - prompt.sent) * 1000 if frames else None
    gaps = [(b.at - a.at) * 1000 for a, b in itertools.pairwise(frames)]
    record: dict[str, Any] = {
        "call": call.call,
        "tag": prompt.tag,
        "firstTextMs": round(first_ms, 3) if first_ms is not None else None,
        "lastFrameMs": round((frames[-1].at - prompt.sent) * 1000, 3) if prompt.closed else None,
        "longestGapMs": round(max(gaps), 3) if gaps else 0.0,
        "frames": len(frames),
        "text": prompt.text,
        "heard": classify(prompt.text, prompt.expected, question_of(prompt.words)),
        "silent": first_ms is None or first_ms > silent_ms,
        "timedOut": prompt.timed_out,
        "serverReturned": unit.server_ok,
        "server": server_record(server_of.get(prompt.tag)),
    }
    lead = unit.lead
    if lead is not None and scenario != "fast_caller":
        after = [f for f in lead.frames if frames and f.at > frames[0].at]
        record["lead"] = {
            "tag": lead.tag,
            "text": lead.text,
            "frames": len(lead.frames),
            "framesAfterMeasuredFirstText": len(after),
            "framesAfterInterrupt": sum(
                1 for f in lead.frames if unit.interrupt_sent and f.at > unit.interrupt_sent
            ),
            "server": server_record(server_of.get(lead.tag)),
        }
    return record


def server_record(invocation: harness.Invocation | None) -> dict[str, Any]:
    if invocation is None:
        return {"returned": False}
    report = invocation.report
    if report is None or report.outcome is None:
        return {"returned": True, "report": False}
    outcome = report.outcome
    return {
        "returned": True,
        "report": True,
        "latencyMs": round(report.latency_ms, 3) if report.latency_ms is not None else None,
        "frames": report.frames,
        "provider": outcome.provider,
        "failures": list(outcome.failures),
        "interrupted": outcome.interrupted,
        "judgedEdge": outcome.judged_edge,
        "marks": outcome.marks.as_ms(),
        "reply": outcome.reply[:120],
    }


def classify(text: str, expected: str, question: str) -> str:
    """What the caller heard of a turn, against the reply the LLM server streams for it."""
    if not text:
        return "nothing"
    if text == expected:
        return "full reply"
    for line, name in ((HOLDING_PHRASE, "holding phrase"), (SCRIPTED_LINE, "scripted line")):
        if text == line:
            return f"{name} only"
        if text.endswith(line) and expected.startswith(text[: -len(line)].strip()):
            return f"partial + {name}"
    if expected.startswith(text):
        return "partial reply only"
    if question.lower() in text.lower():
        return "answered, other text"
    return "other"


def lead_summary(scenario: str, turns: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What happened to the prompt before the measured one (interrupted, or superseded 50 ms later)."""
    leads = [t["lead"] for t in turns if "lead" in t]
    if not leads:
        return None
    return {
        "units": len(leads),
        "withText": sum(1 for lead in leads if lead["frames"]),
        "framesAfterMeasuredFirstText": sum(lead["framesAfterMeasuredFirstText"] for lead in leads),
        "framesAfterInterrupt": sum(lead["framesAfterInterrupt"] for lead in leads),
        "serverNoReport": sum(1 for lead in leads if not lead["server"].get("report")),
        "serverInterrupted": sum(1 for lead in leads if lead["server"].get("interrupted")),
        "heardSample": next((lead["text"] for lead in leads if lead["text"]), ""),
    }


# --- the orchestrator: one process per group, then the figures ----------------------------------------


def run_groups(settings: Settings, argv: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """One process per group. All of them start (imports, stack, relay handler, chain check) at once,
    then each waits for its turn: the groups run one after the other, so no measurement shares the
    cores with another group's work."""
    deadline = time.time() + settings.cap_s
    groups = [g for g, names in GROUPS.items() if any(s in settings.scenarios for s in names)]
    scenarios: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="relay-faults-") as folder, contextlib.ExitStack() as logs:
        workers = {}
        for index, group in enumerate(groups):
            later = sum(1 for g in groups[index + 1 :] for s in GROUPS[g] if s in settings.scenarios)
            out, log = Path(folder) / f"{group}.json", Path(folder) / f"{group}.log"
            command = [sys.executable, str(Path(__file__).resolve()), *argv, "--worker", group]
            command += [
                "--out",
                str(out),
                "--deadline",
                f"{deadline - WORKER_GRACE_S:.3f}",
                "--later",
                str(later),
            ]
            stdout = logs.enter_context(open(log, "w", encoding="utf-8"))
            process = subprocess.Popen(command, cwd=REPO, stdin=subprocess.PIPE, stdout=stdout, text=True)
            logs.callback(_stop, process)
            workers[group] = (process, out, log)
        for group, (process, out, log) in workers.items():
            print(f"relay_faults: {group} in its own process ...", file=sys.stderr, flush=True)
            code, went = _run_worker_process(process, out, deadline)
            result = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {"scenarios": {}}
            meta[group] = {
                "exitCode": code,
                "chain": result.get("chain"),
                "setUpSeconds": result.get("setUpSeconds"),
                "warmUpSeconds": result.get("warmUpSeconds"),
            }
            ended = f"the {group} process ended (exit {code})" if went else "the cap was spent"
            relay_log = relay_log_messages(log.read_text(encoding="utf-8", errors="replace"))
            for name in (s for s in GROUPS[group] if s in settings.scenarios):
                figures = result["scenarios"].get(name) or {"skipped": ended}
                if "skipped" not in figures:
                    figures["relayLog"] = relay_log.get(name, {})
                scenarios[name] = figures
    return scenarios, meta


def _run_worker_process(process: subprocess.Popen, out: Path, deadline: float) -> tuple[int | None, bool]:
    """Waits (bounded) for the worker's record that it is set up, tells it to go if there is time left
    for a scenario, and waits for it to end; returns (its exit code or None, whether it went)."""
    ready = out.with_suffix(".ready")
    while not ready.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    code, went = None, False
    if ready.exists() and process.poll() is None:
        went = deadline - time.time() > MIN_SCENARIO_S + WORKER_GRACE_S + RECORD_WAIT_S
        with contextlib.suppress(OSError):
            assert process.stdin is not None
            process.stdin.write("go\n" if went else "stop\n")
            process.stdin.close()
    try:
        code = process.wait(timeout=max(deadline - time.time(), 0.1))
    except subprocess.TimeoutExpired:
        _stop(process)
    return code, went


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def relay_log_messages(stdout: str) -> dict[str, dict[str, int]]:
    """The relay's own warnings and errors (Powertools JSON lines), counted per scenario."""
    counts: dict[str, Counter] = {}
    scenario = "?"
    for line in stdout.splitlines():
        if line.startswith("### scenario "):
            scenario = line.split()[-1]
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "level" in record:
            key = f"{record['level']}: {str(record.get('message'))[:90]}"
            counts.setdefault(scenario, Counter())[key] += 1
    return {name: dict(c) for name, c in counts.items()}


def targets(scenarios: dict[str, Any], settings: Settings) -> list[dict[str, Any]]:
    rows = []
    for name, figures in scenarios.items():
        if "skipped" in figures:
            continue
        rows.append(
            {
                "target": f"{name}: silent turns",
                "limit": 0,
                "measured": figures["silentTurns"],
                "ok": figures["silentTurns"] == 0,
            }
        )
    fast = scenarios.get("fast_caller", {})
    if "skipped" not in fast and fast:
        per_turn = fast["llmRequests"]["perMeasuredTurn"]
        rows.append(
            {
                "target": "fast_caller: LLM requests per turn",
                "limit": 1.05,
                "measured": per_turn,
                "ok": per_turn is not None and per_turn <= 1.05,
            }
        )
        p50 = (fast.get("firstTextMs") or {}).get("p50")
        limit = settings.first_token_ms + 20
        rows.append(
            {
                "target": "fast_caller: first text p50 (ms)",
                "limit": limit,
                "measured": p50,
                "ok": p50 is not None and p50 <= limit and fast["noTextTurns"] == 0,
            }
        )
    return rows


# --- printing and the plot ----------------------------------------------------------------------------


def latency_table(scenarios: dict[str, Any]) -> str:
    rows = []
    for name, f in scenarios.items():
        if "skipped" in f:
            rows.append([name, f["skipped"], None, None, None, None, None, None, None, None])
            continue
        first = f["firstTextMs"] or {}
        rows.append(
            [
                name,
                f["turns"],
                first.get("p50"),
                first.get("p99"),
                first.get("max"),
                f["silentTurns"],
                f["timeouts"],
                f["llmRequests"]["perMeasuredTurn"],
                (f["longestGapMs"] or {}).get("max"),
                f["notes"].get("notStarted", 0),
            ]
        )
    headers = [
        "scenario",
        "turns",
        "1st text p50",
        "p99",
        "max",
        "silent",
        "timeouts",
        "LLM req/turn",
        "max gap",
        "cut by cap",
    ]
    return common.format_table(headers, rows)


HEARD_COLUMNS = (
    "full reply",
    "answered, other text",
    "partial reply only",
    "partial + holding phrase",
    "holding phrase only",
    "partial + scripted line",
    "scripted line only",
    "other",
    "nothing",
)


def heard_table(scenarios: dict[str, Any]) -> str:
    rows = []
    for name, f in scenarios.items():
        if "skipped" in f:
            continue
        rows.append([name, *(f["heard"].get(c, 0) for c in HEARD_COLUMNS)])
    short = [
        "full",
        "answered",
        "partial",
        "part+hold",
        "hold only",
        "part+scr",
        "scripted",
        "other",
        "nothing",
    ]
    return common.format_table(["scenario", *short], rows)


def server_table(scenarios: dict[str, Any]) -> str:
    rows = []
    for name, f in scenarios.items():
        if "skipped" in f:
            continue
        providers = ", ".join(f"{k} {v}" for k, v in sorted(f["providers"].items()))
        failures = ", ".join(f"{k} {v}" for k, v in sorted(f["failures"].items())) or "-"
        totals = " + ".join(f"{v}" for v in f["llmRequests"]["serverTotals"].values())
        rows.append([name, providers, failures, f["noReport"], totals])
    return common.format_table(
        ["scenario", "answered by (server)", "failures (server)", "no report", "requests"], rows
    )


def plot(scenarios: dict[str, Any], settings: Settings, path: Path) -> Path | None:
    plt = common.pyplot()
    if plt is None:
        return None
    names = [n for n, f in scenarios.items() if "skipped" not in f and f.get("firstTextMs")]
    if not names:
        return None
    figure, axes = plt.subplots(figsize=(12, 5))
    xs = range(len(names))
    for key, marker, label in (("p50", "o", "p50"), ("p99", "^", "p99"), ("max", "x", "max")):
        axes.scatter(
            xs, [scenarios[n]["firstTextMs"][key] for n in names], marker=marker, label=label, zorder=3
        )
    silent = settings.first_token_ms + SILENT_AFTER_MS
    axes.axhline(silent, color="C3", linestyle="--", label=f"first token + 1 s ({silent:g} ms): silent above")
    axes.axhline(
        settings.first_token_ms,
        color="grey",
        linestyle=":",
        label=f"first token ({settings.first_token_ms:g} ms)",
    )
    for x, n in zip(xs, names, strict=True):
        if scenarios[n]["silentTurns"]:
            axes.annotate(
                f"{scenarios[n]['silentTurns']}/{scenarios[n]['turns']} silent",
                (x, silent),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
                fontsize=7,
                color="C3",
            )
    axes.set_xticks(list(xs), names, rotation=30, ha="right")
    axes.set_yscale("log")
    axes.set(
        ylabel="prompt sent -> first text frame (ms, client)", title="Relay: time to the caller's first words"
    )
    axes.legend(fontsize=8, loc="upper left")
    axes.grid(alpha=0.3, which="both")
    return common.save_figure(figure, path)


# --- main -------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> tuple[Settings, argparse.Namespace]:
    parser = common.new_parser(__doc__)
    parser.add_argument("--turns", type=int, default=20, help="measured turns per scenario (default 20)")
    common.add_llm_flags(parser, first_token_ms=300.0, token_ms=15.0, whose="servers'")
    parser.add_argument(
        "--turn-timeout-s", type=float, default=8.0, help="a reply not finished by then counts as silent (8)"
    )
    parser.add_argument(
        "--parallel", type=int, default=2, help="calls at a time, starting 0.2 s apart (default 2)"
    )
    parser.add_argument("--cap-s", type=float, default=300.0, help="the whole run stops by then (300)")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, metavar="SCENARIO", help="these scenarios")
    parser.add_argument("--worker", choices=tuple(GROUPS), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--later", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.turns <= 999:
        parser.error("--turns must be 1 to 999")
    common.check_args(parser, args, positive=("turn_timeout_s", "cap_s"))
    if not 1 <= args.parallel <= 99:
        parser.error("--parallel must be 1 to 99")
    settings = Settings(
        args.turns,
        args.first_token_ms,
        args.token_ms,
        args.turn_timeout_s,
        args.parallel,
        args.cap_s,
        tuple(args.only or SCENARIOS),
    )
    return settings, args


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    settings, args = parse_args(argv)
    if args.worker:
        run_worker(args.worker, settings, args.out, args.deadline, args.later)
        return 0
    started = time.perf_counter()
    scenarios, meta = run_groups(settings, argv)
    elapsed_s = time.perf_counter() - started
    checks = targets(scenarios, settings)
    print_latency(settings, scenarios, meta)
    print_heard_and_server(scenarios)
    print("\nTargets")
    print(
        common.format_table(
            ["target", "limit", "measured", "result"],
            [[c["target"], f"{c['limit']:g}", c["measured"], "pass" if c["ok"] else "FAIL"] for c in checks],
        )
    )
    figures = {
        "settings": {**asdict(settings), "scenarios": list(settings.scenarios)},
        "silentAfterMs": settings.first_token_ms + SILENT_AFTER_MS,
        "failAfterTokens": FAIL_AFTER_TOKENS,
        "breakerFailures": int(BREAKER_FAILURES),
        "groups": meta,
        "scenarios": scenarios,
        "targets": checks,
        "runSeconds": round(elapsed_s, 1),
    }
    common.finish("relay_faults", figures, elapsed_s, lambda path: plot(scenarios, settings, path))
    return 0


def print_latency(settings: Settings, scenarios: dict[str, Any], meta: dict[str, Any]) -> None:
    print(common.machine_line())
    print(
        f"Local stack in process, real relay handler; LLM servers: first token {settings.first_token_ms:g} ms, "
        f"{settings.token_ms:g} ms/token; {settings.turns} measured turns per scenario; a turn is silent "
        f"without text by {settings.first_token_ms + SILENT_AFTER_MS:g} ms, and times out at "
        f"{settings.turn_timeout_s:g} s"
    )
    for group, info in meta.items():
        print(f"  {group}: chain {info['chain']} (checked in its process), exit {info['exitCode']}")
    print("\nPrompt sent -> first text frame of that prompt's reply (client, ms)")
    print(latency_table(scenarios))
    print(
        "silent: no text within first token + 1 s (or none at all); timeouts: no `last` frame within the turn "
        "timeout; max gap: longest wait between two frames of a reply; cut by cap: turns not started, to end "
        "within --cap-s"
    )
    for kind, names in (("races", RACES), ("faults", FAULTS)):
        counted = next(
            (f["llmRequests"]["counted"] for n, f in scenarios.items() if n in names and "turns" in f), None
        )
        if counted:
            print(f"LLM req/turn, {kind}: {counted}")


def print_heard_and_server(scenarios: dict[str, Any]) -> None:
    measured = {name: f for name, f in scenarios.items() if "skipped" not in f}
    print("\nWhat the caller heard (turns), against the reply the LLM server streams")
    print(heard_table(scenarios))
    for name, f in measured.items():
        sample = "; ".join(f"{k}: {v!r}" for k, v in list(f["heardSamples"].items())[:2])
        print(f"  {name:<22} {sample[:150]}")
    print("\nThe server's record of the measured turns (TurnReport); LLM requests per server")
    print(server_table(scenarios))
    judged = {n: f["llmRequests"]["judging"] + f["judgedEdges"] for n, f in scenarios.items() if "turns" in f}
    print(f"  judging requests and judged edges (the bench workflow has none): {sum(judged.values())} in all")
    for name in ("interrupt_then_prompt", "two_prompts"):
        lead = (scenarios.get(name) or {}).get("lead")
        if lead:
            print(
                f"  {name}: the earlier prompt spoke in {lead['withText']}/{lead['units']} units "
                f"(e.g. {lead['heardSample']!r}); its frames after the measured reply's first text: "
                f"{lead['framesAfterMeasuredFirstText']}, after the interrupt: {lead['framesAfterInterrupt']}; "
                f"server: no report {lead['serverNoReport']}, interrupted {lead['serverInterrupted']}"
            )
    for name, f in measured.items():
        if f["relayLog"] or any(f["notes"].values()):
            logs = "; ".join(f"{k} x{v}" for k, v in f["relayLog"].items())
            print(f"  {name}: {f['notes']} {logs[:300]}")


if __name__ == "__main__":
    raise SystemExit(main())
