"""One caller turn: choose the next node, speak its words, and return the new state with timing marks.

`run_turn` is a generator of `Say` chunks (and a `SwitchLanguage` when the caller changes language),
ending with one `TurnOutcome`. It is a pure function of its inputs and the LLM chain: no AWS, no
sockets, so the relay, the classic Gather path, test-optimization and the benchmarks all share it.

Order of work, cheapest first: deterministic edges (keywords, intents, DTMF, variables) need no LLM;
plain-language edges are judged by a short LLM call only when nothing deterministic matched; static,
menu, transfer and end nodes speak their own lines; only conversation nodes stream an LLM reply, cut
into speakable clauses the moment each is complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from ..cache import ReplyOutcome, TurnCache
from ..chunking import ClauseChunker
from ..languages import detect_language_switch, get_language, holding_phrase_for, resolve_code
from ..llm import FailoverChain, ScriptContext
from ..workflow import Workflow
from .prompts import build_messages, judge_messages, parse_judgement
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
) -> Iterator[Say | SwitchLanguage | SendDigits | TurnOutcome]:
    """`cancelled` is asked between LLM deltas; when it says yes the stream is abandoned and the outcome
    holds what was said so far. With a `cache`, edge verdicts and replies to context-free turns are
    looked up before the LLM is asked, and complete live answers are stored after the turn has spoken."""
    after_speaking: list[Callable[[], object]] = []  # cache writes: never ahead of the caller's answer
    llm_needs: list[bool] = []  # per LLM request the turn needed: answered from the cache?
    marks = TurnMarks(received=clock() if received_at is None else received_at)
    caller = turn.caller_words()
    language = resolve_code(state.language)
    if turn.utterance:
        # Canonical codes (yue -> zh-HK), the ones the TwiML declares as <Language> elements.
        allowed = [resolve_code(code) for code in workflow.config.all_languages]
        switched = detect_language_switch(turn.utterance, language, allowed)
        if switched:
            language = switched
            yield SwitchLanguage(switched)

    step = workflow.next_step(
        state.node_id, utterance=turn.utterance, digit=turn.digit, variables=state.variables
    )
    target, judged_edge, judge_provider = step.target, None, None
    if step.needs_llm and chain.live_providers:
        found = (
            cache.find_verdict(
                workflow, state.node_id, language, caller, state.variables, state.history, step.llm_candidates
            )
            if cache
            else None
        )
        llm_needs.append(bool(found and found.hit))
        if found and found.hit:
            judged_edge, judge_provider = found.verdict, CACHE
        else:
            judged_edge, judge_provider = _judge(chain, caller or "", step.llm_candidates, state)
            if cache and found:
                verdict = (found, judged_edge)
                after_speaking.append(
                    lambda: cache.keep_verdict(
                        *verdict, provider=judge_provider, scripted_name=chain.scripted.name
                    )
                )
        target = step.choose(judged_edge)
    elif step.needs_llm:
        target = step.choose(None)
    marks.step_done = clock()

    node_id = target or state.node_id
    advance = workflow.auto_advance(node_id, state.variables) if target else None
    path = advance.path if advance else (node_id,)
    final = workflow.node(advance.node_id if advance else node_id)

    voice = _Voice(get_language(language).clause_delimiters, marks, clock)
    for visited in path:
        line = workflow.spoken_line(visited, language, state.variables)
        if line:
            yield from voice.say(line + " ")
        digits = workflow.node(visited).send_digits
        if digits:
            yield from voice.finish()
            yield SendDigits(digits)
    yield from voice.finish()

    provider, failures, interrupted = judge_provider, (), False
    if final.type == "conversation":
        context = ScriptContext(
            language=language,
            scripted_line=workflow.scripted_line(final.id, language, state.variables),
            holding_phrase=holding_phrase_for,
        )
        so_far = with_exchange(state, caller, voice.text)
        messages = build_messages(workflow, final.id, language, state.variables, so_far)
        found = cache.find_reply(workflow, final.id, language, state.variables, messages) if cache else None
        marks.extra["cacheChecked"] = clock()
        llm_needs.append(bool(found and found.hit))
        if found and found.hit:
            provider = CACHE
            yield from voice.whole(found.text or "")  # a hit goes out in full, at once
        else:
            marks.llm_request = clock()
            llm_text: list[str] = []
            with chain.stream(
                messages,
                max_tokens=workflow.config.max_tokens,
                temperature=workflow.config.temperature,
                context=context,
            ) as stream:
                for delta in stream:
                    marks.first_token = marks.first_token or clock()
                    llm_text.append(delta)
                    yield from voice.say(delta)
                    if cancelled():
                        interrupted = True
                        break
                if not interrupted:
                    yield from voice.finish()
                result = stream.result
            provider = result.provider
            failures = tuple(f"{f.provider}:{f.reason}" for f in result.failures)
            if cache and found:
                outcome = ReplyOutcome.from_stream(
                    result, "".join(llm_text), scripted_name=chain.scripted.name, complete=not interrupted
                )
                kept = (found, outcome)
                after_speaking.append(lambda: cache.keep_reply(*kept))
    marks.last_chunk = clock() if voice.spoken else None
    for write in after_speaking:
        write()

    reply = voice.text
    action = {"end": "end", "transfer": "transfer"}.get(final.type, "continue")
    new_state = replace(
        state,
        node_id=final.id,
        language=language,
        history=with_exchange(state, caller, reply),
        turns=state.turns + 1,
        ended=action != "continue",
    )
    yield TurnOutcome(
        state=new_state,
        action=action,
        reply=reply,
        node_path=path,
        marks=marks,
        transfer_to=final.phone_number if action == "transfer" else None,
        provider=provider,
        failovers=len(failures),
        failures=failures,
        judged_edge=judged_edge,
        interrupted=interrupted,
        cache_hit=all(llm_needs) if llm_needs else None,
    )


class _Voice:
    """Cuts what the turn says into speakable chunks: marks the first one, and keeps the space between
    two lines (the chunker hands it over alone) at the front of the chunk that follows it."""

    def __init__(self, delimiters: str, marks: TurnMarks, clock: Clock) -> None:
        self._chunker = ClauseChunker(delimiters)
        self._marks = marks
        self._clock = clock
        self._gap = ""
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

    def _emit(self, chunks: list[str]) -> Iterator[Say]:
        for chunk in chunks:
            if not chunk.strip():
                self._gap += chunk
                continue
            chunk = (self._gap + chunk) if self.spoken else chunk.lstrip()
            self._gap = ""
            self._marks.first_chunk = self._marks.first_chunk or self._clock()
            self.spoken.append(chunk)
            yield Say(chunk)


def _judge(chain: FailoverChain, caller: str, candidates, state: CallState) -> tuple[str | None, str | None]:
    with chain.stream(
        judge_messages(caller, candidates, state.history), max_tokens=3, temperature=0
    ) as stream:
        answer = "".join(stream)
        provider = stream.result.provider
    if provider == chain.scripted.name:  # every live provider failed: the scripted line is no verdict
        return None, provider
    return parse_judgement(answer, candidates), provider
