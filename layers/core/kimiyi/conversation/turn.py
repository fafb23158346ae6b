"""One caller turn: choose the next node, speak its words, and return the new state with timing marks.

`run_turn` is a generator of `Say` chunks (and a `SwitchLanguage` when the caller changes language),
ending with one `TurnOutcome`. It is a pure function of its inputs and the LLM chain: no AWS, no
sockets, so the relay, the classic Gather path, test-optimization and the benchmarks all share it.

Order of work, cheapest first: deterministic edges (keywords, intents, DTMF, variables) need no LLM;
plain-language edges are judged by a short LLM call only when nothing deterministic matched; static,
menu, transfer and end nodes speak their own lines; only conversation nodes stream an LLM reply, cut
into speakable clauses the moment each is complete.

A reply its provider cuts short (a drop, a stall past the chain's stall budget, a malformed chunk, a
content filter, the token limit) is spoken up to its last complete clause; the next provider then
continues it from there, and when none is left the caller is asked to say it again. The caller never
hears half a clause, nor a holding phrase in place of an answer.

Before each LLM request is read, the turn yields `LlmRequested`: the request has left and the next
step would wait for its answer. The relay uses it to start a turn while its claim is still in flight.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace

from ..cache import ReplyOutcome, TurnCache
from ..charclass import joins_without_space
from ..chunking import ClauseChunker, complete_clauses
from ..languages import (
    detect_language_switch,
    get_language,
    holding_phrase_for,
    repeat_request_for,
    resolve_code,
)
from ..llm import FailedAttempt, FailoverChain, FailoverStream, ScriptContext, StreamResult
from ..workflow import Edge, Node, Workflow
from .prompts import build_messages, continuation_messages, judge_messages, parse_judgement
from .state import CallState, with_exchange

Clock = Callable[[], float]
CACHE = "cache"  # the provider name a turn reports when the cache answered


@dataclass(frozen=True)
class TurnInput:
    utterance: str | None = None
    digit: str | None = None

    def caller_words(self) -> str | None:
        if self.utterance and self.utterance.strip():
            return self.utterance.strip()
        return f"(pressed {self.digit})" if self.digit else None


@dataclass
class TurnMarks:
    """Clock readings (seconds) through the turn; `as_ms` gives milliseconds since `received`."""

    received: float
    step_done: float | None = None
    llm_request: float | None = None
    first_token: float | None = None
    first_chunk: float | None = None
    last_chunk: float | None = None
    extra: dict[str, float] = field(default_factory=dict)

    def as_ms(self) -> dict[str, float]:
        marks = {
            "stepDone": self.step_done,
            "llmRequest": self.llm_request,
            "firstToken": self.first_token,
            "firstChunk": self.first_chunk,
            "lastChunk": self.last_chunk,
            **self.extra,
        }
        return {name: round((at - self.received) * 1000, 3) for name, at in marks.items() if at is not None}


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class SwitchLanguage:
    code: str


@dataclass(frozen=True)
class SendDigits:
    """Keypad tones to play after what was said so far (a node's `sendDigits`)."""

    digits: str


@dataclass(frozen=True)
class LlmRequested:
    """An LLM request has left; the turn's next step waits for its answer."""


@dataclass(frozen=True)
class Recovery:
    """A reply its provider cut short, and how the turn went on."""

    fault: str  # "provider:reason (detail)"
    kept: str  # what the caller heard of it: up to its last complete clause
    by: str  # who went on: the provider that continued it, or "repeat-request"


Step = Say | SwitchLanguage | SendDigits | LlmRequested


@dataclass(frozen=True)
class TurnOutcome:
    state: CallState
    action: str  # "continue", "end" or "transfer"
    reply: str
    node_path: tuple[str, ...]
    marks: TurnMarks
    transfer_to: str | None = None
    provider: str | None = None  # who wrote the reply; None when no LLM was needed
    failovers: int = 0
    failures: tuple[str, ...] = ()
    judged_edge: str | None = None
    interrupted: bool = False  # the reply was cut short: the caller barged in or spoke again
    cache_hit: bool | None = None  # every LLM answer the turn needed came from the cache; None: none needed
    recoveries: tuple[Recovery, ...] = ()  # replies cut short mid-stream, and how each went on


def opening(workflow: Workflow, variables: dict | None = None) -> tuple[str, CallState]:
    """What is said before the caller speaks, known at call setup with no LLM: the start node's path of
    static lines and, when it leads to a conversation node, that node's scripted question."""
    language = workflow.config.language
    advance = workflow.auto_advance(workflow.start_node, variables)
    lines = [workflow.spoken_line(node_id, language, variables) for node_id in advance.path]
    final = workflow.node(advance.node_id)
    if final.type == "conversation":
        lines.append(workflow.scripted_line(final.id, language, variables))
    text = " ".join(line for line in lines if line)
    state = CallState(advance.node_id, language, variables=dict(variables or {}))
    return text, replace(state, history=with_exchange(state, None, text))


def run_turn(
    workflow: Workflow,
    state: CallState,
    turn: TurnInput,
    chain: FailoverChain,
    *,
    received_at: float | None = None,
    clock: Clock = time.perf_counter,
    cancelled: Callable[[], bool] = lambda: False,
    cache: TurnCache | None = None,
) -> Generator[Step | TurnOutcome, None, None]:
    """`cancelled` is asked between LLM deltas and while an LLM answer is awaited; when it says yes the
    stream is abandoned and the outcome holds what was said so far. With a `cache`, edge verdicts and
    replies to context-free turns are looked up before the LLM is asked, and complete live answers are
    stored after the turn has spoken."""
    life = _Turn(workflow, state, turn, chain, clock, cancelled, cache, received_at)
    yield from life.hear()  # the caller's language
    yield from life.choose_node()  # deterministic edges, else a judged one
    yield from life.speak_path()  # the lines of the nodes passed on the way
    yield from life.reply()  # a conversation node's answer: the cache, or the LLM with recovery
    yield life.outcome()


class _Turn:
    """One turn's working state; each method is one step of `run_turn`."""

    def __init__(
        self,
        workflow: Workflow,
        state: CallState,
        turn: TurnInput,
        chain: FailoverChain,
        clock: Clock,
        cancelled: Callable[[], bool],
        cache: TurnCache | None,
        received_at: float | None,
    ) -> None:
        self.workflow, self.state, self.turn, self.chain = workflow, state, turn, chain
        self.clock, self.cancelled, self.cache = clock, cancelled, cache
        self.marks = TurnMarks(received=clock() if received_at is None else received_at)
        self.caller = turn.caller_words()
        self.language = resolve_code(state.language)
        self.after_speaking: list[Callable[[], object]] = []  # cache writes: never ahead of the answer
        self.llm_needs: list[bool] = []  # per LLM answer the turn needed: from the cache?
        self.judged_edge: str | None = None
        self.provider: str | None = None
        self.failures: list[str] = []
        self.recoveries: list[Recovery] = []
        self.llm_text: list[str] = []  # the reply's deltas as the LLM wrote them
        self.interrupted = False
        self.path: tuple[str, ...] = (state.node_id,)
        self.final: Node = workflow.node(state.node_id)
        self.voice: _Voice | None = None

    # ------------------------------------------------------------------ the steps
    def hear(self) -> Iterator[Step]:
        if not self.turn.utterance:
            return
        # Canonical codes (yue -> zh-HK), the ones the TwiML declares as <Language> elements.
        allowed = [resolve_code(code) for code in self.workflow.config.all_languages]
        switched = detect_language_switch(self.turn.utterance, self.language, allowed)
        if switched:
            self.language = switched
            yield SwitchLanguage(switched)

    def choose_node(self) -> Iterator[Step]:
        state = self.state
        step = self.workflow.next_step(
            state.node_id, utterance=self.turn.utterance, digit=self.turn.digit, variables=state.variables
        )
        target = step.target
        if step.needs_llm and self.chain.live_providers:
            self.judged_edge, self.provider = yield from self._judge(step.llm_candidates)
            target = step.choose(self.judged_edge)
        elif step.needs_llm:
            target = step.choose(None)
        self.marks.step_done = self.clock()
        if target:
            advance = self.workflow.auto_advance(target, state.variables)
            self.path = advance.path
            self.final = self.workflow.node(advance.node_id)

    def speak_path(self) -> Iterator[Step]:
        voice = self.voice = _Voice(get_language(self.language).clause_delimiters, self.marks, self.clock)
        for visited in self.path:
            line = self.workflow.spoken_line(visited, self.language, self.state.variables)
            if line:
                yield from voice.say(line + " ")
            digits = self.workflow.node(visited).send_digits
            if digits:
                yield from voice.finish()
                yield SendDigits(digits)
        yield from voice.finish()

    def reply(self) -> Iterator[Step]:
        if self.final.type != "conversation":
            return
        voice = self._voice()
        state, language = self.state, self.language
        so_far = with_exchange(state, self.caller, voice.text)
        messages = build_messages(self.workflow, self.final.id, language, state.variables, so_far)
        found = (
            self.cache.find_reply(self.workflow, self.final.id, language, state.variables, messages)
            if self.cache
            else None
        )
        self.marks.extra["cacheChecked"] = self.clock()
        self.llm_needs.append(bool(found and found.hit))
        if found and found.hit:
            self.provider = CACHE
            yield from voice.whole(found.text or "")  # a hit goes out in full, at once
            return
        self.marks.llm_request = self.clock()
        result = yield from self._stream_reply(messages)
        if self.cache and found:
            complete = not self.interrupted and not self.recoveries
            text = "".join(self.llm_text)
            reply = ReplyOutcome.from_stream(
                result, text, scripted_name=self.chain.scripted.name, complete=complete
            )
            cache = self.cache
            self.after_speaking.append(lambda: cache.keep_reply(found, reply))

    def outcome(self) -> TurnOutcome:
        voice = self._voice()
        self.marks.last_chunk = self.clock() if voice.spoken else None
        for write in self.after_speaking:
            write()
        reply = voice.text
        action = {"end": "end", "transfer": "transfer"}.get(self.final.type, "continue")
        new_state = replace(
            self.state,
            node_id=self.final.id,
            language=self.language,
            history=with_exchange(self.state, self.caller, reply),
            turns=self.state.turns + 1,
            ended=action != "continue",
        )
        return TurnOutcome(
            state=new_state,
            action=action,
            reply=reply,
            node_path=self.path,
            marks=self.marks,
            transfer_to=self.final.phone_number if action == "transfer" else None,
            provider=self.provider,
            failovers=len(self.failures),
            failures=tuple(self.failures),
            judged_edge=self.judged_edge,
            interrupted=self.interrupted,
            cache_hit=all(self.llm_needs) if self.llm_needs else None,
            recoveries=tuple(self.recoveries),
        )

    # ------------------------------------------------------------------ the LLM parts
    def _voice(self) -> _Voice:
        assert self.voice is not None, "speak_path runs before reply and outcome"
        return self.voice

    def _judge(self, candidates: Sequence[Edge]) -> Generator[Step, None, tuple[str | None, str | None]]:
        """The plain-language edge the caller's words meet, from the cache or a one-number LLM call."""
        state, cache = self.state, self.cache
        found = (
            cache.find_verdict(
                self.workflow,
                state.node_id,
                self.language,
                self.caller,
                state.variables,
                state.history,
                candidates,
            )
            if cache
            else None
        )
        self.llm_needs.append(bool(found and found.hit))
        if found and found.hit:
            return found.verdict, CACHE
        stream = self.chain.stream(
            judge_messages(self.caller or "", candidates, state.history), max_tokens=3, temperature=0
        )
        with stream.start():
            yield LlmRequested()
            answer = "".join(stream)
            provider = stream.result.provider
        # Every live provider failed: the scripted line is no verdict.
        verdict = None if provider == self.chain.scripted.name else parse_judgement(answer, candidates)
        if cache and found:
            kept = (found, verdict)
            self.after_speaking.append(
                lambda: cache.keep_verdict(*kept, provider=provider, scripted_name=self.chain.scripted.name)
            )
        return verdict, provider

    def _stream_reply(self, messages: list[dict[str, str]]) -> Generator[Step, None, StreamResult]:
        """Streams the reply; a provider that cuts it short is followed by the next, which continues
        from the last complete clause the caller heard. Returns the last stream's result."""
        voice, chain = self._voice(), self.chain
        context = ScriptContext(
            language=self.language,
            scripted_line=self.workflow.scripted_line(self.final.id, self.language, self.state.variables),
            holding_phrase=holding_phrase_for,
        )
        said_before = voice.text
        failed: set[str] = set()
        request = messages
        while True:
            stream = chain.stream(
                request,
                max_tokens=self.workflow.config.max_tokens,
                temperature=self.workflow.config.temperature,
                context=context,
                skip=failed,
                cancelled=self.cancelled,
                holding_phrase_on_drop=False,
            )
            with stream.start():
                yield LlmRequested()
                yield from self._read(stream)
            result = stream.result
            self.provider = result.provider
            self.failures += [f"{f.provider}:{f.reason}" for f in result.failures]
            if self.interrupted or result.cancelled:
                self.interrupted = True
                return result
            if not result.dropped:
                yield from voice.finish()
                return result
            # Cut short mid-reply: keep what forms whole clauses, and let the next provider go on.
            self.marks.extra.setdefault("cutShort", self.clock())
            yield from voice.cut_short()
            said = voice.text[len(said_before) :].strip()
            failed |= {f.provider for f in result.failures}
            self.recoveries.append(Recovery(_describe(result.failures[-1]), said, by=""))
            request = continuation_messages(messages, said)
            if said:  # a fresh start would repeat it: with no model left, ask the caller to say it again
                context = replace(context, scripted_line=repeat_request_for(self.language))

    def _read(self, stream: FailoverStream) -> Iterator[Step]:
        voice = self._voice()
        for delta in stream:
            self.marks.first_token = self.marks.first_token or self.clock()
            if self.recoveries and not self.recoveries[-1].by:  # the first words after a cut
                self.marks.extra.setdefault("recovered", self.clock())
                last = self.recoveries[-1]
                who = stream.result.provider or ""
                self.recoveries[-1] = replace(
                    last, by="repeat-request" if who == self.chain.scripted.name and last.kept else who
                )
            self.llm_text.append(delta)
            yield from voice.say(delta)
            if self.cancelled():
                self.interrupted = True
                return


def _describe(failure: FailedAttempt) -> str:
    return f"{failure.provider}:{failure.reason} ({failure.detail})"


class _Voice:
    """Cuts what the turn says into speakable chunks: marks the first one, and keeps the space between
    two lines (the chunker hands it over alone) at the front of the chunk that follows it."""

    def __init__(self, delimiters: str, marks: TurnMarks, clock: Clock) -> None:
        self._delimiters = delimiters
        self._chunker = ClauseChunker(delimiters)
        self._marks = marks
        self._clock = clock
        self._gap = ""
        self._space_next = False  # after a reply cut short, before what continues it
        self.spoken: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self.spoken).strip()

    def say(self, text: str) -> Iterator[Say]:
        yield from self._emit(self._chunker.feed(text))

    def whole(self, text: str) -> Iterator[Say]:
        """A finished reply (a cache hit): one chunk, not cut into clauses."""
        yield from self._emit([text])

    def finish(self) -> Iterator[Say]:
        """Everything held back goes out (a line that ends without punctuation, the stream's tail)."""
        yield from self._emit([self._chunker.flush()])

    def cut_short(self) -> Iterator[Say]:
        """The stream broke off: what is held back goes out up to its last complete clause, and the
        unfinished rest is never spoken. What continues it is kept apart by a space (not after CJK)."""
        yield from self._emit([complete_clauses(self._chunker.flush(), self._delimiters)])
        self._space_next = bool(self.spoken) and not joins_without_space(self.spoken[-1][-1])

    def _emit(self, chunks: list[str]) -> Iterator[Say]:
        for chunk in chunks:
            if not chunk.strip():
                self._gap += chunk
                continue
            chunk = (self._gap + chunk) if self.spoken else chunk.lstrip()
            if self._space_next and not chunk[0].isspace():
                chunk = " " + chunk
            self._gap, self._space_next = "", False
            self._marks.first_chunk = self._marks.first_chunk or self._clock()
            self.spoken.append(chunk)
            yield Say(chunk)
