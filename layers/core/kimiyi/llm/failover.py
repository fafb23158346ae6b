"""The failover chain: try providers in order until one streams, and never leave the caller in silence.

Rules, per call:
- Each attempt has a first-token deadline. The provider is read in its own thread and the consumer
  waits on a queue, so a provider that hangs (even after sending headers) is abandoned at the deadline
  and the next one starts; the hung request is cut off in the background.
- An error, a timeout, an HTTP 429 (Retry-After is not awaited on the hot path), a reply with no text,
  or an open circuit moves on to the next provider.
- Once a delta has been yielded to the consumer there is no retry: the caller has already heard the
  start of that answer. If the provider then fails (drops, goes quiet longer than the stall budget,
  sends garbage, or ends on a content filter or the token limit) the stream ends and the record says
  `dropped`. The consumer decides how to recover (the conversation turn continues the reply from the
  next provider, `skip`ping those that failed); a consumer that does not, gets the holding phrase.
- A missed deadline charges the provider's circuit breaker only when this process was able to run:
  a process so busy that it reads its sockets late (the local stack under load) would otherwise open
  every breaker and send every call to the scripted lines. See `scheduling_lag_s`.
- `cancelled` is asked while the consumer waits, so a turn that is no longer wanted stops within
  `CANCEL_POLL_S` even before its first token.
- The scripted responder is always last and never fails: every call yields something.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Collection, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..charclass import joins_without_space
from .base import LLMProvider, Message, ScriptContext
from .breaker import BreakerSettings, CircuitBreaker
from .errors import APIStatusError, APITimeoutError, RateLimitError, ReplyCutShort
from .scripted import ScriptedProvider
from .tokens import split_into_tokens

CANCEL_POLL_S = 0.05  # how often a waiting consumer's `cancelled` is asked
STARVED_LAG_S = 0.05  # a thread that wakes this late means the process, not the provider, is slow


def scheduling_lag_s(woke_late_s: float, sample_s: float = 0.001) -> float:
    """How late this process runs a thread that asked to wake: the deadline's own wake-up (`woke_late_s`)
    or a short sleep, whichever is later. Near zero when the process can run; tens of milliseconds when
    its cores (or the GIL) are taken by other work, as in the local stack under load."""
    started = time.perf_counter()
    time.sleep(sample_s)
    return max(woke_late_s, time.perf_counter() - started - sample_s)


class FailureReason(StrEnum):
    ERROR = "error"
    TIMEOUT = "timeout"
    RATE_LIMITED = "429"
    CIRCUIT_OPEN = "circuit-open"
    DROPPED = "dropped"


@dataclass(frozen=True)
class FailedAttempt:
    provider: str
    reason: FailureReason
    detail: str  # the exception's type and status, never its headers or the request
    elapsed_ms: float  # from the attempt's start to the failure


@dataclass
class StreamResult:
    """What happened during one call; complete once the stream is exhausted or closed."""

    provider: str | None = None  # the provider whose text was yielded
    failures: list[FailedAttempt] = field(default_factory=list)
    first_token_ms: float | None = None  # from the first next() to the first delta handed over
    chunks_sent: bool = False
    dropped: bool = False  # the answering provider failed after its first delta
    holding_phrase_added: bool = False  # the chain spoke the holding phrase after a drop
    cancelled: bool = False  # the consumer's `cancelled` said stop while it waited
    finished: bool = False

    @property
    def failovers(self) -> int:
        """Providers tried (or skipped) before the one that answered."""
        return sum(1 for failure in self.failures if failure.reason != FailureReason.DROPPED)


def classify(error: BaseException) -> tuple[FailureReason, str]:
    if isinstance(error, RateLimitError):
        return FailureReason.RATE_LIMITED, "HTTP 429"
    if isinstance(error, APITimeoutError):
        return FailureReason.TIMEOUT, type(error).__name__
    if isinstance(error, APIStatusError):
        return FailureReason.ERROR, f"HTTP {error.status_code}"
    if isinstance(error, ReplyCutShort):
        return FailureReason.ERROR, f"finish_reason {error.finish_reason}"
    return FailureReason.ERROR, type(error).__name__


Event = tuple["_Attempt", str, Any]  # (the attempt, "delta" | "end" | "error", the delta or the error)


class _Attempt:
    """One provider's request, read in a daemon thread into the stream's event queue, which the consumer
    waits on with a timeout: a provider that hangs, even inside stream(), cannot hold the caller."""

    def __init__(
        self,
        provider: LLMProvider,
        breaker: CircuitBreaker,
        messages: Sequence[Message],
        options: dict[str, Any],
        events: queue.SimpleQueue[Event],
    ) -> None:
        self.provider = provider
        self.breaker = breaker
        self.started = time.perf_counter()
        self._events = events
        self._stream: Any = None
        self._abandoned = threading.Event()
        self._finished = threading.Event()
        self._args = (messages, options)
        threading.Thread(target=self._read, name=f"llm-{provider.name}", daemon=True).start()

    def _read(self) -> None:
        messages, options = self._args
        try:
            self._stream = self.provider.stream(messages, **options)
            if self._abandoned.is_set():
                self._stream.close()
                return
            for delta in self._stream:
                if self._abandoned.is_set():
                    return
                if delta:
                    self._events.put((self, "delta", delta))
            self._events.put((self, "end", None))
        except Exception as error:
            self._events.put((self, "error", error))
        finally:
            self._finished.set()

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def abandon(self) -> None:
        """Stop reading; cut the request off if it is still going (a finished one keeps its connection)."""
        self._abandoned.set()
        stream = self._stream
        if stream is not None and not self._finished.is_set():
            stream.close()


class FailoverChain:
    """Providers in order, each behind its own circuit breaker, the scripted responder always last.

    Create it once per process and share it: breakers and the providers' connection pools live here.
    """

    def __init__(
        self,
        providers: Sequence[LLMProvider],
        *,
        first_token_timeout_s: float = 1.0,
        stall_timeout_s: float = 0.5,
        hedge_after_s: float | None = 0.7,
        breaker: BreakerSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        holding_phrase_on_drop: bool = True,
        lag_probe: Callable[[float], float] = scheduling_lag_s,
    ) -> None:
        if first_token_timeout_s <= 0 or stall_timeout_s <= 0:
            raise ValueError("first_token_timeout_s and stall_timeout_s must be > 0")
        if hedge_after_s is not None and hedge_after_s < 0:
            raise ValueError("hedge_after_s must be >= 0 (0 or None: never)")
        scripted = [p for p in providers if isinstance(p, ScriptedProvider)]
        self.live_providers: list[LLMProvider] = [p for p in providers if not isinstance(p, ScriptedProvider)]
        self.scripted: ScriptedProvider = scripted[0] if scripted else ScriptedProvider()
        self.first_token_timeout_s = first_token_timeout_s
        self.stall_timeout_s = stall_timeout_s
        self.hedge_after_s = hedge_after_s or None
        self.holding_phrase_on_drop = holding_phrase_on_drop
        self.lag_probe = lag_probe
        settings = breaker or BreakerSettings()
        self.breakers = [CircuitBreaker(settings, clock) for _ in self.live_providers]

    @property
    def providers(self) -> list[LLMProvider]:
        return [*self.live_providers, self.scripted]

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 200,
        temperature: float = 0.3,
        context: ScriptContext | None = None,
        skip: Collection[str] = (),
        cancelled: Callable[[], bool] | None = None,
        holding_phrase_on_drop: bool | None = None,
    ) -> FailoverStream:
        """`skip`: providers not to try (they already failed this turn). `cancelled`: asked while the
        consumer waits; True ends the stream with nothing more. `holding_phrase_on_drop`: the chain's
        setting unless given."""
        return FailoverStream(
            self,
            messages,
            max_tokens,
            temperature,
            context or ScriptContext(),
            skip=frozenset(skip),
            cancelled=cancelled or (lambda: False),
            holding_phrase_on_drop=(
                self.holding_phrase_on_drop if holding_phrase_on_drop is None else holding_phrase_on_drop
            ),
        )

    def describe(self) -> list[dict[str, str]]:
        """Each provider's name, model, host and breaker state, for the health endpoint."""
        described = [
            {**provider.describe(), "circuit": breaker.state}
            for provider, breaker in zip(self.live_providers, self.breakers, strict=True)
        ]
        return [*described, {**self.scripted.describe(), "circuit": "closed"}]


class FailoverStream:
    """Iterate for text deltas; `result` records who answered and what failed on the way.

    The first request goes out on `start()` or the first next(), whichever comes first. close() (or
    leaving a `with` block) abandons the provider being read, e.g. when the caller interrupts.
    """

    def __init__(
        self,
        chain: FailoverChain,
        messages: Sequence[Message],
        max_tokens: int,
        temperature: float,
        context: ScriptContext,
        *,
        skip: frozenset[str] = frozenset(),
        cancelled: Callable[[], bool] = lambda: False,
        holding_phrase_on_drop: bool = True,
    ) -> None:
        self.result = StreamResult()
        self._chain = chain
        self._messages = messages
        self._context = context
        self._options: dict[str, Any] = {
            "max_tokens": max_tokens,
            "temperature": temperature,
            "context": context,
        }
        self._skip = skip
        self._cancelled = cancelled
        self._holding_phrase_on_drop = holding_phrase_on_drop
        self._started = 0.0  # set when the first request starts
        self._tail = ""  # the last delta yielded, to join the holding phrase after a drop
        self._events: queue.SimpleQueue[Event] = queue.SimpleQueue()  # every attempt's, tagged
        self._attempts = self._open_attempts()
        self._live: list[_Attempt] = []  # requests waiting for their first token
        self._all_asked = False  # every live provider has had its request
        self._deltas = self._run()

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        return next(self._deltas)

    def start(self) -> FailoverStream:
        """Sends the first request now, without waiting for its answer."""
        if not self._started:
            self._started = time.perf_counter()
            self._open_next()
        return self

    def close(self) -> None:
        self._deltas.close()
        self._abandon_live()  # started but never read

    def __enter__(self) -> FailoverStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def text(self) -> str:
        """Consume the whole stream and return its text."""
        return "".join(self)

    # internals
    def _emit(self, provider: str, delta: str) -> str:
        if not self.result.chunks_sent:
            self.result.provider = provider
            self.result.first_token_ms = (time.perf_counter() - self._started) * 1000
            self.result.chunks_sent = True
        self._tail = delta
        return delta

    def _open_attempts(self) -> Iterator[_Attempt]:
        """Each live provider's request in turn, skipping those asked to be skipped and open circuits."""
        for provider, breaker in zip(self._chain.live_providers, self._chain.breakers, strict=True):
            if provider.name in self._skip:
                continue
            if not breaker.allow_request():
                self.result.failures.append(
                    FailedAttempt(provider.name, FailureReason.CIRCUIT_OPEN, "breaker open", 0.0)
                )
                continue
            yield _Attempt(provider, breaker, self._messages, self._options, self._events)

    def _open_next(self) -> bool:
        attempt = next(self._attempts, None)
        if attempt is None:
            self._all_asked = True
            return False
        self._live.append(attempt)
        return True

    def _abandon_live(self) -> None:
        for attempt in self._live:
            attempt.abandon()
            attempt.breaker.release()
        self._live.clear()

    def _run(self) -> Generator[str, None, None]:
        self.start()
        try:
            answering = self._first_answer()
            if answering is not None:
                yield from self._relay(*answering)
                return
            if self.result.cancelled:
                return
            scripted = self._chain.scripted
            for delta in scripted.stream(self._messages, **self._options):
                yield self._emit(scripted.name, delta)
        finally:
            self._abandon_live()
            self.result.finished = True

    def _first_answer(self) -> tuple[_Attempt, str] | None:
        """The attempt that delivers the first token, with it; None when every provider failed or the
        consumer cancelled. A request still silent `hedge_after_s` after it started gets the next
        provider's request beside it: whichever answers first is read, the other abandoned."""
        while self._live or self._open_next():
            oldest = self._live[0]
            deadline = min(a.started for a in self._live) + self._chain.first_token_timeout_s
            hedge = self._chain.hedge_after_s
            can_hedge = len(self._live) == 1 and not self._all_asked
            hedge_at = oldest.started + hedge if hedge and can_hedge else float("inf")
            event = self._next_event(min(deadline, hedge_at))
            if self.result.cancelled:
                self._abandon_live()
                return None
            if event is None:
                self._expire(time.perf_counter())
                if len(self._live) == 1 and time.perf_counter() >= hedge_at:
                    self._open_next()
                continue
            attempt, kind, value = event
            if attempt not in self._live:
                continue  # an abandoned request's late word
            self._live.remove(attempt)
            if kind == "delta":
                attempt.breaker.record_success()
                for slower in self._live:  # the race is over: the request that needed a hedge lost it
                    slower.breaker.record_failure()
                    self.result.failures.append(
                        FailedAttempt(
                            slower.provider.name,
                            FailureReason.TIMEOUT,
                            f"slower than {attempt.provider.name}",
                            slower.elapsed_ms(),
                        )
                    )
                    slower.abandon()
                self._live.clear()
                return attempt, value
            reason, detail = (FailureReason.ERROR, "reply with no text") if kind == "end" else classify(value)
            self._fail(attempt, reason, detail, 0.0)
            attempt.abandon()
        return None

    def _expire(self, now: float) -> None:
        """Requests past their first-token deadline fail."""
        for attempt in [a for a in self._live if now >= a.started + self._chain.first_token_timeout_s]:
            late = now - (attempt.started + self._chain.first_token_timeout_s)
            self._fail(attempt, FailureReason.TIMEOUT, "no first token by the deadline", late)
            self._live.remove(attempt)
            attempt.abandon()

    def _fail(
        self, attempt: _Attempt, reason: FailureReason, detail: str, woke_late_s: float
    ) -> FailedAttempt:
        """Records a failure and charges the provider's breaker, unless a timeout was this process's own
        doing: a thread that wakes late means the process, not the provider, was slow."""
        if reason == FailureReason.TIMEOUT:
            lag = self._chain.lag_probe(woke_late_s)
            if lag >= STARVED_LAG_S:
                detail += f" (this process was starved: {lag * 1000:.0f} ms late)"
                attempt.breaker.release()
            else:
                attempt.breaker.record_failure()
        else:
            attempt.breaker.record_failure()
        failure = FailedAttempt(attempt.provider.name, reason, detail, attempt.elapsed_ms())
        self.result.failures.append(failure)
        return failure

    def _next_event(self, until: float, attempt: _Attempt | None = None) -> Event | None:
        """The next event (only `attempt`'s, when given), or None at `until`; asks `cancelled` every
        CANCEL_POLL_S meanwhile (a cancelled wait sets result.cancelled and returns None)."""
        while True:
            left = until - time.perf_counter()
            try:
                event = self._events.get(timeout=max(0.0, min(left, CANCEL_POLL_S)))
            except queue.Empty:
                event = None
            if event is not None and (attempt is None or event[0] is attempt):
                return event
            if event is None and left <= CANCEL_POLL_S:
                return None
            if event is None and self._cancelled():
                self.result.cancelled = True
                return None

    def _relay(self, attempt: _Attempt, first: str) -> Iterator[str]:
        """The answering provider's text; no failover from here, only the stall budget and the drop."""
        try:
            yield self._emit(attempt.provider.name, first)
            while True:
                until = time.perf_counter() + self._chain.stall_timeout_s
                event = self._next_event(until, attempt)
                if self.result.cancelled:
                    return
                if event is not None and event[1] == "delta":
                    yield self._emit(attempt.provider.name, event[2])
                    continue
                if event is not None and event[1] == "end":
                    return
                if event is None:
                    woke_late = max(0.0, time.perf_counter() - until)
                    failure = self._fail(attempt, FailureReason.TIMEOUT, "stalled mid-stream", woke_late)
                else:
                    failure = self._fail(attempt, *classify(event[2]), 0.0)
                self.result.failures[-1] = FailedAttempt(
                    failure.provider,
                    FailureReason.DROPPED,
                    f"{failure.reason}: {failure.detail}",
                    failure.elapsed_ms,
                )
                self.result.dropped = True
                yield from self._holding_phrase_after_drop()
                return
        finally:
            attempt.abandon()  # frees a request still in flight; a finished one is left alone

    def _holding_phrase_after_drop(self) -> Iterator[str]:
        if not self._holding_phrase_on_drop:
            return
        phrase = self._context.holding_phrase_text()
        if (
            self._tail
            and not self._tail[-1].isspace()
            and not joins_without_space(self._tail[-1])
            and not joins_without_space(phrase[0])
        ):
            phrase = " " + phrase
        self.result.holding_phrase_added = True
        for delta in split_into_tokens(phrase):
            yield self._emit(self.result.provider or self._chain.scripted.name, delta)
