"""A fake chat model that runs on a virtual clock, in lock-step with whoever reads its stream.

The failover chain reads a provider in its own thread, so a fake that sleeps (or moves a fake clock
freely) races the consumer: the reader thread can run ahead and move the clock past the end of the
reply before the consumer has noted its first chunk. Here each token is produced only when the
consumer asks for the next one: `LockStepChain` wraps the chain, and each `next()` on a stream it hands
out lets the model make exactly one more token, moving the `VirtualClock` by that token's delay first.
So every clock reading the consumer makes falls between the same two tokens on every run, and the
timings a test reads are sums of the configured delays, whatever the machine is doing.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from kimiyi.llm import FailoverChain, split_into_tokens

WAIT_S = 10.0  # a consumer that never asks again releases the reader thread after this, moving no clock


class VirtualClock:
    """Seconds that pass only when the model says so. Readable from any thread."""

    def __init__(self) -> None:
        self._now = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


class _Turnstile:
    """One permit per `next()` the consumer makes; `closed` once the stream is given up."""

    def __init__(self) -> None:
        self.permits = threading.Semaphore(0)
        self.closed = threading.Event()

    def let_one_through(self) -> None:
        self.permits.release()

    def close(self) -> None:
        self.closed.set()
        self.permits.release()

    def wait(self) -> bool:
        return self.permits.acquire(timeout=WAIT_S) and not self.closed.is_set()


class _LockStepTokens:
    """The model's side of one request: a token per permit, the clock moved before each."""

    def __init__(self, tokens: Sequence[str], delays: Sequence[float], clock: VirtualClock, gate: _Turnstile):
        self._pending = iter(zip(tokens, delays, strict=True))
        self._clock = clock
        self._gate = gate

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        token, delay = next(self._pending)  # the end of the reply needs no permit
        if not self._gate.wait():
            raise StopIteration
        self._clock.advance(delay)
        return token

    def close(self) -> None:
        self._gate.close()


class LockStepModel:
    """Routing prompts get the next of `routes`, every other prompt `reply`. The first token comes
    `first_s` after the consumer first asks, each later one `token_s` after it asks again. It records
    what it was asked ("judge" or "reply")."""

    def __init__(
        self,
        clock: VirtualClock,
        reply: str,
        *,
        routes: Sequence[str] = ("0",),
        first_s: float = 0.0,
        token_s: float = 0.0,
        name: str = "paced",
    ) -> None:
        self.name = name
        self.clock = clock
        self.reply = reply
        self._routes = list(routes)
        self._asked_routes = 0
        self.first_s = first_s
        self.token_s = token_s
        self.asked: list[str] = []
        self._gates: queue.SimpleQueue[_Turnstile] = queue.SimpleQueue()

    def stream(self, messages: Sequence[Any], *, max_tokens: int, temperature: float, context: Any):
        judging = "Answer with the number" in messages[0]["content"]
        self.asked.append("judge" if judging else "reply")
        if judging:
            text = self._routes[self._asked_routes % len(self._routes)]
            self._asked_routes += 1
        else:
            text = self.reply
        tokens = split_into_tokens(text)
        delays = [self.first_s] + [self.token_s] * (len(tokens) - 1)
        return _LockStepTokens(tokens, delays, self.clock, self._gates.get(timeout=WAIT_S))

    def describe(self) -> dict[str, str]:
        return {"name": self.name, "model": "fake", "host": "none"}


class _LockStepStream:
    """The consumer's side: each next() lets the model make one token, then waits for it as usual."""

    def __init__(self, inner: Any, gate: _Turnstile) -> None:
        self._inner = inner
        self._gate = gate

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        self._gate.let_one_through()
        return next(self._inner)

    def start(self) -> _LockStepStream:
        self._inner.start()
        return self

    def text(self) -> str:
        return "".join(self)

    def close(self) -> None:
        self._gate.close()
        self._inner.close()

    def __enter__(self) -> _LockStepStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)  # result and the rest, as the real stream has them


class LockStepChain:
    """A failover chain over one `LockStepModel`, handing out streams that keep it in lock-step.
    Every request to the chain is paired, in order, with the model's next request."""

    def __init__(
        self, model: LockStepModel, make_chain: Callable[..., FailoverChain] = FailoverChain
    ) -> None:
        self.model = model
        self.chain = make_chain([model], first_token_timeout_s=WAIT_S, hedge_after_s=None)

    def stream(self, messages: Sequence[Any], **options: Any) -> _LockStepStream:
        gate = _Turnstile()
        self.model._gates.put(gate)
        return _LockStepStream(self.chain.stream(messages, **options), gate)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.chain, name)  # providers, live_providers, scripted
