"""The predictive cache over simulated calls of the example workflow: hit rate and the latency it saves.

Every call goes through the real relay handler in the local stack (bench/relay_turns.py's harness), with
the stack's DynamoDB cache table and the local LLM server at a set first-token time and gap between
tokens. Callers are drawn from a seeded distribution: most open with the same few things ("Hello?",
"Sorry, who is this?", "Can you repeat that?", in English and Cantonese, with variations of case,
punctuation and fillers) and then go on to an outcome (confirm, the menu, cancel, reschedule).

Two scenarios with the same callers, because a cache key holds every variable the prompts use:
  perPatient  an outbound reminder campaign: a different patient and time on every call;
  shared      every call with the same variables (the example's own), as calls whose prompts use only
              clinic-level values would be (one clinic's inbound line, or a campaign written that way).

    python bench/cache_calls.py --calls 50 --first-token-ms 200 --token-ms 10

Prints the tables, writes bench/results/cache_calls.json and, when matplotlib is installed,
docs/benchmarks/cache_calls.png. About three minutes with the defaults. Every cache hit is checked
against the turn that stored its answer: same conversation, node, language and variables, and the
caller heard the very text that turn heard. Any other hit stops the script.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # so `python bench/cache_calls.py` finds the `bench` package

import httpx  # noqa: E402
from websockets.sync.client import ClientConnection  # noqa: E402

from bench import common  # noqa: E402
from bench.relay_turns import (  # noqa: E402
    RECV_TIMEOUT_S,
    RELAY_FUNCTION,
    BenchError,
    Invocation,
    RelayRecorder,
    open_relay_call,
    running_stack,
)
from kimiyi.cache import normalise  # noqa: E402
from kimiyi.conversation.turn import opening  # noqa: E402
from kimiyi.workflow import parse_workflow  # noqa: E402
from kimiyi_local import llm_server  # noqa: E402
from kimiyi_local.llm_server import LocalLLMServer  # noqa: E402

NAME = "cache_calls"
WORKFLOW = common.load_example("clinic-appointment")
CLINIC = parse_workflow(WORKFLOW)
SHARED_VARIABLES: dict[str, Any] = dict(WORKFLOW["config"]["variables"])  # the example's own values
SCENARIOS = ("perPatient", "shared")

# --- who calls and what they say ------------------------------------------------------------------------
# Variants of one phrase differ the way transcripts do (case, punctuation, fillers, spacing, Traditional or
# Simplified characters); several normalise to the same words, which is what makes common forms common.
# `judge` is the plain-language edge a live LLM judge would pick for these words (a fragment of its
# statement); without it the judge answers "none applies".
PHRASES: dict[str, dict[str, dict[str, Any]]] = {
    "en-US": {
        "hello": {"variants": ["Hello?", "hello", "Hello?", "HELLO?", "Um, hello?", "Hello? Hello?", "Hi."]},
        "who": {
            "variants": [
                "Sorry, who is this?",
                "Sorry, who is this?",
                "sorry who is this",
                "Who is this?",
                "who is this",
                "Um, who is this?",
                "WHO IS THIS?",
                "Who's this?",
                "Who's calling?",
            ]
        },
        "repeat": {
            "variants": [
                "Can you repeat that?",
                "can you repeat that",
                "Can you repeat that?",
                "Sorry, can you repeat that?",
                "Could you repeat that?",
                "Sorry, what?",
                "Pardon?",
            ]
        },
        "what_about": {"variants": ["What is this about?", "what is this about", "Uh, what is this about?"]},
        "yes": {
            "variants": ["yes", "Yes.", "Yes!", "Yeah.", "Yep.", "Yes, I can make it.", "Yes, that's fine."]
        },
        "no": {"variants": ["No.", "no", "No, I can't.", "Nope."]},
        "cancel": {
            "variants": ["I need to cancel.", "Cancel it, please.", "I want to cancel my appointment."]
        },
        "move": {
            "variants": [
                "Can I move it to Thursday afternoon?",
                "Is there anything later in the week?",
                "I'd rather come on Friday morning.",
            ],
            "judge": "move the appointment",
        },
        "slot": {
            "variants": [
                "Thursday at 2 works.",
                "Friday at 9 in the morning.",
                "Next Monday, any time after 3.",
            ],
            "judge": "preferred day and time",
        },
        "key0": {"digit": "0"},
        "key1": {"digit": "1"},
        "key2": {"digit": "2"},
    },
    "zh-HK": {
        "hello": {"variants": ["喂？", "喂", "喂？", "喂喂？", "喂，你好？"]},
        "who": {
            "variants": [
                "你係邊個呀？",
                "你係邊個？",
                "你 係 邊 個 呀",
                "嗯，你係邊個啊？",
                "你系边个呀",
                "你係邊位？",
            ]
        },
        "repeat": {"variants": ["唔該講多次。", "唔該講多次", "唔該，講多次呀。", "咩話？"]},
        "what_about": {"variants": ["咩事呀？", "咩事？", "有咩事呀？"]},
        "yes": {"variants": ["係。", "係呀", "係呀！", "得，冇問題。", "好呀，得。"]},
        "no": {"variants": ["唔得呀。", "唔得，聽日唔得閒。"]},
        "cancel": {"variants": ["我想取消。", "幫我取消咗佢啦。"]},
        "move": {
            "variants": ["我想改去星期四下晝。", "可唔可以轉去下個禮拜？"],
            "judge": "move the appointment",
        },
        "slot": {
            "variants": ["星期四下晝三點啦。", "下個禮拜一朝早得唔得？"],
            "judge": "preferred day and time",
        },
        "key0": {"digit": "0"},
        "key1": {"digit": "1"},
        "key2": {"digit": "2"},
    },
}
LANGUAGES = {"en-US": 70, "zh-HK": 30}  # the caller's language, by weight
# What callers say before they answer the question (weights): a third answer at once.
OPENERS = {
    (): 30,
    ("hello",): 12,
    ("who",): 18,
    ("hello", "who"): 12,
    ("repeat",): 8,
    ("who", "repeat"): 8,
    ("what_about",): 6,
    ("hello", "what_about"): 3,
    ("who", "what_about"): 3,
}
# How the call ends (weights): confirm, the menu (reschedule / cancel / front desk), cancel, reschedule.
OUTCOMES = {
    "confirm": (("yes",), 50),
    "menu-reschedule": (("no", "key1", "slot"), 10),
    "menu-cancel": (("no", "key2", "yes"), 7),
    "menu-front-desk": (("no", "key0"), 5),
    "cancel": (("cancel", "yes"), 13),
    "reschedule": (("move", "slot"), 15),
}
# The reminder campaign's patients: every call gets a name no other call has, and a time slot.
FIRST_NAMES = ("Jamie", "Priya", "Sam", "Maria", "Kenji", "Olivia", "Ahmed", "Grace", "Leo", "Nina", "Tom")
LAST_NAMES = ("Lee", "Patel", "Wong", "Garcia", "Sato", "Brown", "Khan", "Ho", "Rossi", "Novak", "Cheung")
TIMES = ("9:00 AM", "9:15 AM", "10:00 AM", "11:30 AM", "2:00 PM", "3:45 PM", "4:45 PM")


@dataclass(frozen=True)
class Step:
    phrase: str
    text: str | None = None
    digit: str | None = None

    @property
    def words(self) -> str:
        """What run_turn calls the caller's words (TurnInput.caller_words)."""
        return self.text.strip() if self.text else f"(pressed {self.digit})"


@dataclass(frozen=True)
class PlannedCall:
    language: str
    openers: tuple[str, ...]
    outcome: str
    steps: tuple[Step, ...]


def plan_calls(seed: int, calls: int) -> list[PlannedCall]:
    """The same callers for both scenarios: language, openers, outcome and the words of every turn."""
    rng = random.Random(seed)
    plan = []
    for _ in range(calls):
        language = rng.choices(list(LANGUAGES), weights=list(LANGUAGES.values()))[0]
        openers = rng.choices(list(OPENERS), weights=list(OPENERS.values()))[0]
        outcome = rng.choices(list(OUTCOMES), weights=[weight for _, weight in OUTCOMES.values()])[0]
        steps = []
        for phrase_id in (*openers, *OUTCOMES[outcome][0]):
            phrase = PHRASES[language][phrase_id]
            if "digit" in phrase:
                steps.append(Step(phrase_id, digit=phrase["digit"]))
            else:
                steps.append(Step(phrase_id, text=rng.choice(phrase["variants"])))
        plan.append(PlannedCall(language, openers, outcome, tuple(steps)))
    return plan


def patients(seed: int, calls: int) -> list[dict[str, Any]]:
    """The reminder campaign's variables: the clinic's, with each call's own patient and time."""
    rng = random.Random(seed + 1)
    names = [f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES]
    if calls > len(names):
        raise ValueError(f"at most {len(names)} calls: there are only that many distinct patient names")
    chosen = rng.sample(names, calls)
    return [
        {**SHARED_VARIABLES, "patientName": name, "appointmentTime": rng.choice(TIMES)} for name in chosen
    ]


# --- the LLM: the local server's timing, replies that differ on every request --------------------------------

JUDGE_ANSWERS = {
    variant: phrase["judge"]
    for phrases in PHRASES.values()
    for phrase in phrases.values()
    if "judge" in phrase
    for variant in phrase["variants"]
}


class LLMText:
    """What the local LLM server answers, patched in for its deterministic default.

    Replies carry a serial number, so no two LLM requests ever get the same text, as with a real model at
    temperature 0.3: a reply served in the wrong conversation could not pass for the right one. The judge
    answers as a live one would for the bench's phrases (JUDGE_ANSWERS), and "0" (none applies) otherwise."""

    def __init__(self) -> None:
        self._serial = itertools.count(1)
        self._lock = threading.Lock()
        self._default = llm_server.reply_for  # taken before the patch replaces it

    def __call__(self, messages: list[dict[str, Any]]) -> str:
        system = str(messages[0].get("content", "")) if messages else ""
        if "Answer with the number" in system:
            return self._judge(str(messages[-1].get("content", "")))
        with self._lock:
            serial = next(self._serial)
        return f"{self._default(messages)} (reply {serial})"

    @staticmethod
    def _judge(prompt: str) -> str:
        caller = re.search(r"^Caller: (.*)$", prompt, re.MULTILINE)
        fragment = JUDGE_ANSWERS.get(caller.group(1).strip()) if caller else None
        for number, statement in re.findall(r"^(\d+)\. (.*)$", prompt, re.MULTILINE):
            if fragment and fragment in statement:
                return number
        return "0"


# --- the cache table as the relay uses it, observed -----------------------------------------------------------


@dataclass(frozen=True)
class CacheOp:
    op: str  # "get" or "put"
    key: str
    text: str | None  # get: the entry's text (None: not found); put: the text written
    written: bool = False  # put: the first answer under the key (a conditional write that succeeded)

    @property
    def kind(self) -> str:
        return self.key.split("#", 1)[0]  # keys are "<kind>#<sha256>"


class ObservedStore:
    """The relay's cache store (the DynamoDB CacheStore), with every get and put noted. Calls go through
    unchanged; turns are sequential here, so the notes since the last `drain` belong to one turn."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._ops: list[CacheOp] = []

    def get(self, key: str) -> Any:
        entry = self._store.get(key)
        self._note(CacheOp("get", key, entry.text if entry else None))
        return entry

    def put(self, key: str, text: str, ttl_s: int, *, meta: Mapping[str, str] | None = None) -> bool:
        written = self._store.put(key, text, ttl_s, meta=meta)
        self._note(CacheOp("put", key, text, bool(written)))
        return written

    def __getattr__(self, name: str) -> Any:  # put_many, stats: as the store has them
        return getattr(self._store, name)

    def _note(self, op: CacheOp) -> None:
        with self._lock:
            self._ops.append(op)

    def drain(self) -> list[CacheOp]:
        with self._lock:
            ops, self._ops = self._ops, []
        return ops


# --- the caller ---------------------------------------------------------------------------------------------


@dataclass
class Heard:
    """One caller turn as the caller's side saw it."""

    text: str = ""
    frames: int = 0
    language: str | None = None  # a `language` frame switched the call's language
    first_frame_ms: float | None = None
    ended: dict | None = None


def say(ws: ClientConnection, step: Step, language: str) -> Heard:
    """Sends the caller's words (or key press) and reads the reply up to its `last` text frame."""
    if step.digit is not None:
        message: dict[str, Any] = {"type": "dtmf", "digit": step.digit}
    else:
        message = {"type": "prompt", "voicePrompt": step.text, "lang": language, "last": True}
    heard = Heard()
    sent = time.perf_counter()
    ws.send(json.dumps(message, ensure_ascii=False))
    deadline = sent + RECV_TIMEOUT_S
    while time.perf_counter() < deadline:
        frame = json.loads(ws.recv(timeout=max(deadline - time.perf_counter(), 0.001)))
        if frame.get("type") == "language":
            heard.language = frame.get("ttsLanguage")
        elif frame.get("type") == "text":
            heard.first_frame_ms = heard.first_frame_ms or (time.perf_counter() - sent) * 1000
            heard.frames += 1
            heard.text += frame.get("token", "")
            if frame.get("last"):
                return heard
        else:
            raise BenchError(f"{step.words!r}: unexpected frame {frame}")
    raise BenchError(f"{step.words!r}: the reply did not finish within {RECV_TIMEOUT_S:g} s")


def read_end(ws: ClientConnection, step: Step) -> dict:
    """The `end` frame that follows an end or transfer node's last text frame."""
    frame = json.loads(ws.recv(timeout=RECV_TIMEOUT_S))
    if frame.get("type") != "end":
        raise BenchError(f"{step.words!r}: expected the end frame, got {frame}")
    return json.loads(frame.get("handoffData") or "{}")


# --- one measured turn ----------------------------------------------------------------------------------------


@dataclass
class MeasuredTurn:
    scenario: str
    call: int
    turn: int
    caller_language: str
    phrase: str
    words: str
    spoken_at: str  # the node the caller spoke at
    answered_at: str  # the node the turn ended at
    language: str  # the call's language after the turn (the key's language)
    latency_ms: float | None  # server: frame received -> first text frame posted (TurnReport)
    client_first_frame_ms: float | None
    cache_hit: bool | None  # TurnOutcome.cache_hit: None when the turn needed no LLM
    provider: str | None
    llm_requests: int  # requests the LLM server received during the turn
    ops: list[CacheOp]
    heard: str
    truth: tuple  # the turn's whole context, computed on the caller's side (see `context_of`)
    path: tuple  # (caller language, node, normalised caller words so far in the call)
    repeated: bool = False  # `path` was seen in an earlier call of the scenario
    action: str = "continue"

    @property
    def lookups(self) -> list[CacheOp]:
        return [op for op in self.ops if op.op == "get"]

    @property
    def hits(self) -> int:
        return sum(1 for op in self.lookups if op.text is not None)

    @property
    def needs_llm(self) -> bool:
        return self.cache_hit is not None

    @property
    def category(self) -> str:
        """hit: every LLM answer came from the cache; miss: looked up, and the LLM answered (all or part);
        not cacheable: the policy made no lookup (free text in the call); no LLM: deterministic edges."""
        if self.cache_hit is None:
            return "no LLM"
        if self.cache_hit:
            return "hit"
        return "miss" if self.lookups else "not cacheable"

    @property
    def requests_needed(self) -> int:
        """LLM requests the turn needed: those the server got, plus those the cache answered."""
        return self.llm_requests + self.hits

    @property
    def kind(self) -> tuple:
        """Turns of one kind cost the same on a miss: same language, nodes, and LLM requests."""
        return (self.language, self.spoken_at, self.answered_at, self.requests_needed)


def context_of(variables: Mapping[str, Any], node: str, language: str, transcript: list, words: str) -> tuple:
    """Everything a turn's answer may depend on, from the caller's side and independent of the cache's own
    keys: the call's variables, the node, the language, what was said so far (caller lines normalised,
    the agent's verbatim) and the caller's words."""
    return (
        tuple(sorted((name, str(value)) for name, value in variables.items())),
        node,
        language,
        tuple(transcript),
        normalise(words, language),
    )


@dataclass
class Stack:
    client: httpx.Client
    base_url: str
    recorder: RelayRecorder
    store: ObservedStore
    llm: LocalLLMServer
    emf: Any  # the handler module's Powertools Metrics

    def turn_done(self) -> None:
        """What lambda_handler's flush would do after a $default invocation, without printing: the
        harness runs relay.on_message itself, and Powertools prints a metric once it holds 100 values."""
        self.emf.clear_metrics()


def play_call(
    stack: Stack, scenario: str, index: int, planned: PlannedCall, variables: dict
) -> list[MeasuredTurn]:
    turns: list[MeasuredTurn] = []
    _, state = opening(CLINIC, variables)
    node, language = state.node_id, state.language
    with open_relay_call(stack.client, stack.base_url, WORKFLOW, variables) as (tracking_id, relay, ws):
        greeting = relay.attrib.get("welcomeGreeting", "")
        transcript: list[tuple[str, str]] = [("agent", greeting)]
        said: list[str] = []
        stack.store.drain()
        for number, step in enumerate(planned.steps):
            before = stack.llm.request_count
            heard = say(ws, step, language)
            invocation: Invocation = stack.recorder.wait_for_turns(tracking_id, number + 1)[number]
            stack.turn_done()
            report = invocation.report
            if report is None or report.outcome is None:
                raise BenchError(f"call {index} turn {number + 1}: no reply ({report})")
            outcome = report.outcome
            if heard.text.strip() != outcome.reply:
                raise BenchError(f"{step.words!r}: heard {heard.text!r} but the relay said {outcome.reply!r}")
            if outcome.failures or outcome.provider == "scripted":
                raise BenchError(f"{step.words!r}: the LLM failed ({outcome.provider}, {outcome.failures})")
            said.append(normalise(step.words, planned.language))
            turn = MeasuredTurn(
                scenario=scenario,
                call=index,
                turn=number + 1,
                caller_language=planned.language,
                phrase=step.phrase,
                words=step.words,
                spoken_at=node,
                answered_at=outcome.state.node_id,
                language=outcome.state.language,
                latency_ms=report.latency_ms,
                client_first_frame_ms=heard.first_frame_ms,
                cache_hit=outcome.cache_hit,
                provider=outcome.provider,
                llm_requests=stack.llm.request_count - before,
                ops=stack.store.drain(),
                heard=outcome.reply,
                truth=context_of(variables, node, outcome.state.language, transcript, step.words),
                path=(planned.language, node, tuple(said)),
                action=outcome.action,
            )
            turns.append(turn)
            transcript += [("caller", turn.truth[-1]), ("agent", outcome.reply)]
            node, language = outcome.state.node_id, outcome.state.language
            if outcome.action != "continue":
                read_end(ws, step)
                break
        else:
            raise BenchError(
                f"call {index} ({planned.outcome}) did not reach an end: {[s.words for s in planned.steps]}"
            )
    return turns


# --- the check that matters most ----------------------------------------------------------------------------


def check_hits(turns: list[MeasuredTurn]) -> int:
    """Every cache hit against the turn whose miss stored it: the same context (variables, node, language,
    conversation, words), and, for a reply, the caller heard exactly what that turn's caller heard.
    Replies differ on every LLM request (LLMText), so a reply served elsewhere could not pass. Returns
    the number of hits checked; raises BenchError on the first wrong one."""
    writers: dict[str, tuple[MeasuredTurn, str]] = {}
    checked = 0
    for turn in turns:
        for op in turn.lookups:
            if op.text is None:
                continue
            where = f"{turn.scenario} call {turn.call} turn {turn.turn} ({turn.words!r})"
            if op.key not in writers:
                raise BenchError(f"{where}: hit on a key no earlier turn of this run stored ({op.key})")
            writer, stored = writers[op.key]
            if op.text != stored:
                raise BenchError(f"{where}: the hit's text differs from what the miss stored")
            if turn.truth != writer.truth:
                raise BenchError(
                    f"{where}: WRONG-CONTEXT HIT, stored by {writer.scenario} call {writer.call} "
                    f"turn {writer.turn}:\n  {turn.truth}\n  {writer.truth}"
                )
            if op.kind == "reply" and (turn.heard != writer.heard or not writer.heard.endswith(stored)):
                raise BenchError(f"{where}: heard {turn.heard!r}, the storing miss heard {writer.heard!r}")
            if op.kind == "verdict" and turn.answered_at != writer.answered_at:
                raise BenchError(
                    f"{where}: went to {turn.answered_at}, the storing miss to {writer.answered_at}"
                )
            checked += 1
        for op in turn.ops:
            if op.op == "put" and op.written:
                writers[op.key] = (turn, op.text or "")
    return checked


# --- figures ------------------------------------------------------------------------------------------------


def mark_repeated(turns: list[MeasuredTurn]) -> None:
    """A turn is a repeated interaction when an earlier call of its scenario said the same words (normalised)
    at the same node after the same earlier words, in the same language: the callers' side of the path."""
    seen: dict[str, dict[tuple, int]] = {}
    for turn in turns:
        first_call = seen.setdefault(turn.scenario, {}).setdefault(turn.path, turn.call)
        turn.repeated = first_call < turn.call


def miss_medians(turns: list[MeasuredTurn]) -> dict[tuple, float]:
    """Per kind of turn, the median latency of the turns of that kind the LLM answered in full (no hit),
    over both scenarios: what a hit of that kind would have cost had it missed."""
    by_kind: dict[tuple, list[float]] = {}
    for turn in turns:
        if turn.needs_llm and turn.hits == 0 and turn.latency_ms is not None:
            by_kind.setdefault(turn.kind, []).append(turn.latency_ms)
    return {kind: statistics.median(values) for kind, values in by_kind.items()}


def scenario_figures(turns: list[MeasuredTurn], medians: dict[tuple, float]) -> dict[str, Any]:
    llm = [t for t in turns if t.needs_llm]
    hits = [t for t in llm if t.cache_hit]
    made = sum(t.llm_requests for t in turns)
    avoided = sum(t.hits for t in turns)
    lookups = Counter(
        f"{op.kind} {'hit' if op.text is not None else 'miss'}" for t in turns for op in t.lookups
    )
    latency = {
        category: [t.latency_ms for t in turns if t.category == category and t.latency_ms is not None]
        for category in ("hit", "miss", "not cacheable", "no LLM")
    }
    return {
        "calls": len({t.call for t in turns}),
        "turns": len(turns),
        "llmTurns": len(llm),
        "categories": dict(Counter(t.category for t in turns)),
        "hitTurns": len(hits),
        **hit_rates(llm),
        "lookups": dict(sorted(lookups.items())),
        "llmRequests": {"needed": made + avoided, "made": made, "avoided": avoided},
        "latencyMs": common.summaries(latency),
        "latencySavedMs": latency_saved(hits, medians),
        "hitsByPhrase": dict(Counter(f"{t.caller_language} {t.phrase}" for t in hits)),
    }


def hit_rates(llm: list[MeasuredTurn]) -> dict[str, Any]:
    """Hits among the repeated LLM turns (also leaving out the turns the policy never caches) and among
    all LLM turns."""
    repeated = [t for t in llm if t.repeated]
    cacheable = [t for t in repeated if t.category != "not cacheable"]
    repeated_hits = sum(1 for t in repeated if t.cache_hit)
    return {
        "repeatedLlmTurns": len(repeated),
        "repeatedHitTurns": repeated_hits,
        "hitRateRepeated": _rate(repeated_hits, len(repeated)),
        "repeatedCacheableLlmTurns": len(cacheable),
        "hitRateRepeatedCacheable": _rate(sum(1 for t in cacheable if t.cache_hit), len(cacheable)),
        "hitRateAllLlmTurns": _rate(sum(1 for t in llm if t.cache_hit), len(llm)),
    }


def latency_saved(hits: list[MeasuredTurn], medians: dict[tuple, float]) -> dict[str, Any]:
    """Per hit: the median latency of the turns of its kind the LLM answered in full, minus its own."""
    saved = [medians[t.kind] - t.latency_ms for t in hits if t.kind in medians and t.latency_ms is not None]
    return {
        "total": round(sum(saved), 1),
        "perHit": common.summary_or_none(saved),
        "hitsWithoutReference": len(hits) - len(saved),
    }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _pct(part: int, whole: int) -> str:
    return f"{part}/{whole} = {100 * part / whole:.0f}%" if whole else f"{part}/0 = -"


def counts_table(figures: dict[str, dict]) -> str:
    def row(label: str, value: Any) -> list[Any]:
        return [label, *(value(figures[name]) for name in SCENARIOS)]

    rows = [
        row("calls", lambda f: f["calls"]),
        row("caller turns", lambda f: f["turns"]),
        row("  needing no LLM (deterministic edges)", lambda f: f["categories"].get("no LLM", 0)),
        row("  needing the LLM", lambda f: f["llmTurns"]),
        row("    cache hits (every LLM answer cached)", lambda f: f["hitTurns"]),
        row("    cache misses (looked up, LLM answered)", lambda f: f["categories"].get("miss", 0)),
        row("    not cacheable (free text in the call)", lambda f: f["categories"].get("not cacheable", 0)),
        row("lookups: verdict hit / miss", lambda f: _pair(f["lookups"], "verdict")),
        row("lookups: reply hit / miss", lambda f: _pair(f["lookups"], "reply")),
        row(
            "hit rate on repeated interactions",
            lambda f: _pct(f["repeatedHitTurns"], f["repeatedLlmTurns"]),
        ),
        row(
            "  leaving out free text (never cached)",
            lambda f: _pct(f["repeatedHitTurns"], f["repeatedCacheableLlmTurns"]),
        ),
        row("hit rate over all LLM turns", lambda f: _pct(f["hitTurns"], f["llmTurns"])),
        row("LLM requests needed", lambda f: f["llmRequests"]["needed"]),
        row("  made to the LLM server", lambda f: f["llmRequests"]["made"]),
        row("  avoided (answered by the cache)", lambda f: f["llmRequests"]["avoided"]),
    ]
    return common.format_table(["", "perPatient (a)", "shared (b)"], rows)


def _pair(lookups: dict[str, int], kind: str) -> str:
    return f"{lookups.get(f'{kind} hit', 0)} / {lookups.get(f'{kind} miss', 0)}"


def latency_table(figures: dict[str, dict]) -> str:
    rows = []
    for name in SCENARIOS:
        for category, label in (
            ("hit", "cache hit"),
            ("miss", "cache miss"),
            ("not cacheable", "not cacheable"),
            ("no LLM", "no LLM needed"),
        ):
            summary = figures[name]["latencyMs"].get(category)
            if summary:
                rows.append(
                    [f"{name}: {label}", int(summary["n"]), summary["p50"], summary["p95"], summary["max"]]
                )
    return common.format_table(["server turn latency (ms)", "n", "p50", "p95", "max"], rows)


def saved_table(figures: dict[str, dict]) -> str:
    rows = []
    for name in SCENARIOS:
        saved = figures[name]["latencySavedMs"]
        per_hit = saved["perHit"] or {}
        rows.append(
            [
                name,
                figures[name]["hitTurns"],
                saved["total"],
                per_hit.get("p50"),
                per_hit.get("min"),
                per_hit.get("max"),
                saved["hitsWithoutReference"],
            ]
        )
    headers = ["latency saved (ms)", "hits", "total", "per hit p50", "min", "max", "no reference"]
    return common.format_table(headers, rows)


def kinds_table(
    turns: list[MeasuredTurn], everything: list[MeasuredTurn], medians: dict[tuple, float]
) -> str:
    """The miss medians behind the estimate (over `everything`), for the kinds of turn with hits in `turns`."""
    hit_kinds = Counter(t.kind for t in turns if t.cache_hit)
    misses = Counter(t.kind for t in everything if t.needs_llm and t.hits == 0)
    hit_latency: dict[tuple, list[float]] = {}
    for t in turns:
        if t.cache_hit and t.latency_ms is not None:
            hit_latency.setdefault(t.kind, []).append(t.latency_ms)
    rows = [
        [
            f"{kind[0]} {kind[1]} -> {kind[2]}, {kind[3]} LLM req.",
            misses[kind],
            medians.get(kind),
            count,
            statistics.median(hit_latency[kind]) if kind in hit_latency else None,
        ]
        for kind, count in sorted(hit_kinds.items(), key=lambda item: -item[1])
    ]
    if not rows:
        return "(no cache hits: no latency saved)"
    return common.format_table(
        ["kind of turn (hits in b)", "misses (a+b)", "miss p50", "hits", "hit p50"], rows
    )


def cumulative_rates(turns: list[MeasuredTurn]) -> list[tuple[int, float]]:
    """(call number, hit rate on repeated interactions over the calls so far), for the plot."""
    points, repeated, hits = [], 0, 0
    for call in sorted({t.call for t in turns}):
        for t in (t for t in turns if t.call == call and t.needs_llm and t.repeated):
            repeated += 1
            hits += bool(t.cache_hit)
        if repeated:
            points.append((call + 1, hits / repeated))
    return points


def plot(turns: dict[str, list[MeasuredTurn]], figures: dict[str, dict], path: Path) -> Path | None:
    """Latency CDFs of hits and misses, the hit rate as calls accumulate, and LLM requests made vs avoided;
    None without matplotlib."""
    plt = common.pyplot()
    if plt is None:
        return None
    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 5.2))
    plot_latency(left, turns)
    plot_hit_rate(middle, turns)
    plot_requests(right, figures)
    return common.save_figure(figure, path)


def plot_latency(axes: Any, turns: dict[str, list[MeasuredTurn]]) -> None:
    everything = [t for name in SCENARIOS for t in turns[name]]
    for label, category, among in (
        ("cache hits (b)", "hit", turns["shared"]),
        ("cache misses (a + b)", "miss", everything),
        ("not cacheable (a + b)", "not cacheable", everything),
        ("no LLM needed (a + b)", "no LLM", everything),
    ):
        values = [t.latency_ms for t in among if t.category == category and t.latency_ms is not None]
        if values:
            common.plot_cdf(axes, values, label=f"{label}, n={len(values)}")
    axes.set(
        xlabel="ms (server: received -> first text frame)", ylabel="fraction of turns", title="Turn latency"
    )
    axes.set_xscale("log")
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    axes.grid(alpha=0.3)


def plot_hit_rate(axes: Any, turns: dict[str, list[MeasuredTurn]]) -> None:
    for name, label in (
        ("perPatient", "(a) a different patient every call"),
        ("shared", "(b) shared variables"),
    ):
        points = cumulative_rates(turns[name])
        if points:
            axes.plot([p[0] for p in points], [100 * p[1] for p in points], label=label)
    axes.axhline(40, color="C3", linestyle="--", label="target 40 %")
    axes.set(
        xlabel="calls so far", ylabel="% hits", title="Hit rate on repeated interactions", ylim=(-3, 103)
    )
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)


def plot_requests(axes: Any, figures: dict[str, dict]) -> None:
    made = [figures[name]["llmRequests"]["made"] for name in SCENARIOS]
    avoided = [figures[name]["llmRequests"]["avoided"] for name in SCENARIOS]
    labels = ["(a) perPatient", "(b) shared"]
    axes.bar(labels, made, label="made to the LLM")
    axes.bar(labels, avoided, bottom=made, label="answered by the cache")
    for x, (low, high) in enumerate(zip(made, avoided, strict=True)):
        axes.text(x, low / 2, str(low), ha="center", color="white")
        if high:
            axes.text(x, low + high / 2, str(high), ha="center")
    axes.set_ylim(0, 1.15 * max(low + high for low, high in zip(made, avoided, strict=True)))
    axes.set(ylabel="LLM requests", title="LLM requests needed")
    axes.legend(fontsize=8)


# --- main -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    calls: int
    seed: int
    first_token_ms: float
    token_ms: float
    warmup_calls: int


def parse_args(argv: list[str] | None) -> Settings:
    parser = common.new_parser(__doc__)
    parser.add_argument("--calls", type=int, default=50, help="calls per scenario (default 50)")
    parser.add_argument("--seed", type=int, default=20240601, help="the callers' draw (default 20240601)")
    common.add_llm_flags(parser)
    parser.add_argument("--warmup-calls", type=int, default=1, help="uncounted calls first (own patient)")
    args = parser.parse_args(argv)
    if not 1 <= args.calls <= len(FIRST_NAMES) * len(LAST_NAMES):
        parser.error(f"--calls must be from 1 to {len(FIRST_NAMES) * len(LAST_NAMES)}")
    common.check_args(parser, args, non_negative=("warmup_calls", "first_token_ms", "token_ms"))
    return Settings(args.calls, args.seed, args.first_token_ms, args.token_ms, args.warmup_calls)


def run(settings: Settings) -> dict[str, list[MeasuredTurn]]:
    plan = plan_calls(settings.seed, settings.calls)
    variables = {
        "perPatient": patients(settings.seed, settings.calls),
        "shared": [SHARED_VARIABLES] * settings.calls,
    }
    recorder = RelayRecorder()
    turns: dict[str, list[MeasuredTurn]] = {}
    timing = {"first_token_ms": settings.first_token_ms, "token_ms": settings.token_ms}
    with mock.patch.object(llm_server, "reply_for", LLMText()), LocalLLMServer(**timing) as llm:
        common.use_local_llm(llm.openai_base_url, metrics=True)  # the relay's metrics object is read per turn
        with running_stack(recorder) as local:
            assert local.spec is not None
            function = local.spec.functions[RELAY_FUNCTION]
            handler = sys.modules[function.module]
            relay = handler.relay
            store = ObservedStore(relay.cache.store)
            relay.cache.store = store  # the same DynamoDB store, every get and put noted
            with httpx.Client(timeout=RECV_TIMEOUT_S) as client:
                stack = Stack(client, local.base_url, recorder, store, llm, handler.metrics)
                for number in range(settings.warmup_calls):
                    # Its own patient: warms the code paths without putting a shared answer in the cache.
                    warmup = {**SHARED_VARIABLES, "patientName": f"Warm-up Patient {number}"}
                    play_call(stack, "warmup", number, plan[number % len(plan)], warmup)
                for scenario in SCENARIOS:
                    turns[scenario] = [
                        turn
                        for index, planned in enumerate(plan)
                        for turn in play_call(stack, scenario, index, planned, variables[scenario][index])
                    ]
    return turns


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    started = time.perf_counter()
    turns = run(settings)
    elapsed_s = time.perf_counter() - started

    everything = [t for name in SCENARIOS for t in turns[name]]
    checked = check_hits(everything)
    for name in SCENARIOS:
        mark_repeated(turns[name])
    medians = miss_medians(everything)
    figures = {name: scenario_figures(turns[name], medians) for name in SCENARIOS}
    plan = plan_calls(settings.seed, settings.calls)

    print(common.machine_line())
    print(
        f"Local stack in process, real relay handler, DynamoDB cache table; local LLM server: first token "
        f"{settings.first_token_ms:g} ms, {settings.token_ms:g} ms/token"
    )
    languages = Counter(p.language for p in plan)
    outcomes = Counter(p.outcome for p in plan)
    openers = Counter(" + ".join(p.openers) or "(none)" for p in plan)
    print(
        f"{settings.calls} calls per scenario of {WORKFLOW['workflowId']} (seed {settings.seed}; "
        f"{settings.warmup_calls} uncounted warm-up call): languages {dict(languages)}"
    )
    print(f"  openers  {dict(openers.most_common())}")
    print(f"  outcomes {dict(outcomes.most_common())}")
    print("(a) perPatient: a different patient and time on every call (an outbound reminder campaign)")
    print(
        "(b) shared: every call with the example's own variables, as calls whose prompts use only "
        "clinic-level values would be"
    )
    print()
    print(counts_table(figures))
    print()
    print(latency_table(figures))
    print()
    print(saved_table(figures))
    print()
    print(kinds_table(turns["shared"], everything, medians))
    print(
        "\nRepeated interaction: an LLM turn whose caller words so far in the call (normalised), node and "
        "language\nwere all said by an earlier call of the same scenario. Latency saved per hit: the median "
        "latency of\nthe turns of the same kind (language, node spoken at, node answered at, LLM requests "
        "needed) that the\nLLM answered in full, in either scenario, minus the hit's latency."
    )
    print(
        f"Wrong-context hits: 0 of {checked} cache hits checked (same variables, node, language, conversation "
        f"and words\nas the miss that stored the answer; replies heard word for word as that miss heard them)."
    )

    results = {
        "settings": {
            **settings.__dict__,
            "workflow": WORKFLOW["workflowId"],
            "sharedVariables": SHARED_VARIABLES,
        },
        "plan": {"languages": dict(languages), "openers": dict(openers), "outcomes": dict(outcomes)},
        "scenarios": figures,
        "missMedianMsByKind": {" | ".join(map(str, kind)): value for kind, value in medians.items()},
        "hitsChecked": checked,
        "wrongContextHits": 0,
        "turns": [_turn_sample(t) for t in everything],
        "runSeconds": round(elapsed_s, 1),
    }
    common.finish(NAME, results, elapsed_s, lambda path: plot(turns, figures, path))
    return 0


def _turn_sample(turn: MeasuredTurn) -> dict[str, Any]:
    return {
        "scenario": turn.scenario,
        "call": turn.call,
        "turn": turn.turn,
        "callerLanguage": turn.caller_language,
        "words": turn.words,
        "spokenAt": turn.spoken_at,
        "answeredAt": turn.answered_at,
        "language": turn.language,
        "category": turn.category,
        "repeated": turn.repeated,
        "latencyMs": None if turn.latency_ms is None else round(turn.latency_ms, 3),
        "clientFirstFrameMs": None
        if turn.client_first_frame_ms is None
        else round(turn.client_first_frame_ms, 3),
        "llmRequests": turn.llm_requests,
        "cacheAnswers": turn.hits,
        "provider": turn.provider,
    }


if __name__ == "__main__":
    raise SystemExit(main())
