"""The failover chain: try providers in order until one streams, and never leave the caller in silence.

Rules, per call:
- Each attempt has a first-token deadline. The provider is read in its own thread and the consumer
  waits on a queue, so a provider that hangs (even after sending headers) is abandoned at the deadline
  and the next one starts; the hung request is cut off in the background.
- An error, a timeout, an HTTP 429 (Retry-After is not awaited on the hot path), a reply with no text,
  or an open circuit moves on to the next provider.
- Once a delta has been yielded to the consumer there is no retry: the caller has already heard the
  start of that answer. If the provider then fails (drops, stalls or sends garbage) the stream ends
  and the record says `dropped`; by default the chain first speaks the scripted holding phrase, so the
  caller is not left mid-sentence in silence.
- The scripted responder is always last and never fails: every call yields something.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .base import LLMProvider, Message, ScriptContext
from .breaker import BreakerSettings, CircuitBreaker
from .scripted import ScriptedProvider
from .tokens import is_cjk, split_into_tokens


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
    finished: bool = False

    @property
    def failovers(self) -> int:
        """Providers tried (or skipped) before the one that answered."""
        return sum(1 for failure in self.failures if failure.reason != FailureReason.DROPPED)


def classify(error: BaseException) -> tuple[FailureReason, str]:
    openai = sys.modules.get("openai")  # not imported at all when only the scripted responder runs
    if openai is not None:
        if isinstance(error, openai.RateLimitError):
            return FailureReason.RATE_LIMITED, "HTTP 429"
        if isinstance(error, openai.APITimeoutError):
            return FailureReason.TIMEOUT, type(error).__name__
        if isinstance(error, openai.APIStatusError):
            return FailureReason.ERROR, f"HTTP {error.status_code}"
    return FailureReason.ERROR, type(error).__name__


class _Attempt:
    """One provider's stream, read in a daemon thread into a queue the consumer waits on with a timeout."""

    def __init__(self, provider: LLMProvider, messages: list[Message], options: dict[str, Any]) -> None:
        self.provider = provider
        self.started = time.perf_counter()
        self.events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._stream: Any = None
        self._abandoned = threading.Event()
        self._finished = threading.Event()
        self._args = (messages, options)
        threading.Thread(target=self._read, name=f"llm-{provider.name}", daemon=True).start()

    def _read(self) -> None:
        messages, options = self._args
        try:
            # stream() runs here too: a provider that blocks in it cannot hold the caller past the deadline.
            self._stream = self.provider.stream(messages, **options)
            if self._abandoned.is_set():
                self._stream.close()
                return
            for delta in self._stream:
                if self._abandoned.is_set():
                    return
                if delta:
                    self.events.put(("delta", delta))
            self.events.put(("end", None))
        except Exception as error:
            self.events.put(("error", error))
        finally:
            self._finished.set()

    def next_event(self, timeout_s: float) -> tuple[str, Any] | None:
        try:
            return self.events.get(timeout=max(timeout_s, 0.0))
        except queue.Empty:
            return None

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
        stall_timeout_s: float = 5.0,
        breaker: BreakerSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        holding_phrase_on_drop: bool = True,
    ) -> None:
        if first_token_timeout_s <= 0 or stall_timeout_s <= 0:
            raise ValueError("first_token_timeout_s and stall_timeout_s must be > 0")
        scripted = [p for p in providers if isinstance(p, ScriptedProvider)]
        self.live_providers: list[LLMProvider] = [p for p in providers if not isinstance(p, ScriptedProvider)]
        self.scripted: ScriptedProvider = scripted[0] if scripted else ScriptedProvider()
        self.first_token_timeout_s = first_token_timeout_s
        self.stall_timeout_s = stall_timeout_s
        self.holding_phrase_on_drop = holding_phrase_on_drop
        settings = breaker or BreakerSettings()
        self.breakers = [CircuitBreaker(settings, clock) for _ in self.live_providers]

    @property
    def providers(self) -> list[LLMProvider]:
        return [*self.live_providers, self.scripted]

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 200,
        temperature: float = 0.3,
        context: ScriptContext | None = None,
    ) -> FailoverStream:
        return FailoverStream(self, messages, max_tokens, temperature, context or ScriptContext())

    def describe(self) -> list[dict[str, str]]:
        """Each provider's name, model, host and breaker state, for the health endpoint."""
        described = [
            {**provider.describe(), "circuit": breaker.state}
            for provider, breaker in zip(self.live_providers, self.breakers, strict=True)
        ]
        return [*described, {**self.scripted.describe(), "circuit": "closed"}]


class FailoverStream:
    """Iterate for text deltas; `result` records who answered and what failed on the way.

    The first request goes out on the first next(). close() (or leaving a `with` block) abandons the
    provider being read, e.g. when the caller interrupts.
    """

    def __init__(
        self,
        chain: FailoverChain,
        messages: list[Message],
        max_tokens: int,
        temperature: float,
        context: ScriptContext,
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
        self._started = 0.0  # set when the first next() starts the first request
        self._tail = ""  # the last delta yielded, to join the holding phrase after a drop
        self._deltas = self._run()

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        return next(self._deltas)

    def close(self) -> None:
        self._deltas.close()

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

    def _run(self) -> Iterator[str]:
        self._started = time.perf_counter()
        try:
            for provider, breaker in zip(self._chain.live_providers, self._chain.breakers, strict=True):
                if not breaker.allow_request():
                    self.result.failures.append(
                        FailedAttempt(provider.name, FailureReason.CIRCUIT_OPEN, "breaker open", 0.0)
                    )
                    continue
                answered = yield from self._attempt(provider, breaker)
                if answered:
                    return
            scripted = self._chain.scripted
            for delta in scripted.stream(self._messages, **self._options):
                yield self._emit(scripted.name, delta)
        finally:
            self.result.finished = True

    def _attempt(self, provider: LLMProvider, breaker: CircuitBreaker) -> Iterator[str]:
        """Relay one provider; returns True if it answered (even if it dropped later)."""
        attempt = _Attempt(provider, self._messages, self._options)
        deadline = attempt.started + self._chain.first_token_timeout_s
        answering = False  # a first delta arrived: from here on there is no failover
        try:
            while True:
                wait_s = self._chain.stall_timeout_s if answering else deadline - time.perf_counter()
                event = attempt.next_event(wait_s)
                if event is None:
                    reason = FailureReason.TIMEOUT
                    detail = "stalled mid-stream" if answering else "no first token by the deadline"
                elif event[0] == "delta":
                    if not answering:
                        answering = True
                        breaker.record_success()
                    yield self._emit(provider.name, event[1])
                    continue
                elif event[0] == "end":
                    if answering:
                        return True
                    reason, detail = FailureReason.ERROR, "reply with no text"
                else:
                    reason, detail = classify(event[1])
                breaker.record_failure()
                failure = FailedAttempt(provider.name, reason, detail, attempt.elapsed_ms())
                if not answering:
                    self.result.failures.append(failure)
                    return False
                self.result.failures.append(
                    FailedAttempt(
                        provider.name, FailureReason.DROPPED, f"{reason}: {detail}", failure.elapsed_ms
                    )
                )
                self.result.dropped = True
                yield from self._holding_phrase_after_drop()
                return True
        except GeneratorExit:
            if not answering:  # the consumer stopped listening before any verdict
                breaker.release()
            raise
        finally:
            attempt.abandon()  # frees a request still in flight; a finished one is left alone

    def _holding_phrase_after_drop(self) -> Iterator[str]:
        if not self._chain.holding_phrase_on_drop:
            return
        phrase = self._context.holding_phrase_text()
        if (
            self._tail
            and not self._tail[-1].isspace()
            and not is_cjk(self._tail[-1])
            and not is_cjk(phrase[0])
        ):
            phrase = " " + phrase
        self.result.holding_phrase_added = True
        for delta in split_into_tokens(phrase):
            yield self._emit(self.result.provider or self._chain.scripted.name, delta)
