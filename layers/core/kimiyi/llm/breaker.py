"""A circuit breaker per provider: stop calling a provider that keeps failing, try it again later.

closed     calls pass; `failure_threshold` consecutive failures open it.
open       calls are refused (the chain moves on at once) until `cooldown_s` has passed.
half-open  one trial call passes; success closes the breaker, failure opens it for another cool-down.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


@dataclass(frozen=True)
class BreakerSettings:
    failure_threshold: int = 3
    cooldown_s: float = 30.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError(f"failure_threshold must be at least 1, not {self.failure_threshold}")
        if self.cooldown_s < 0:
            raise ValueError(f"cooldown_s must be >= 0, not {self.cooldown_s}")


class CircuitBreaker:
    """Thread-safe: one instance is shared by every call in the process (module-scope chain)."""

    def __init__(
        self, settings: BreakerSettings | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings or BreakerSettings()
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        if self._trial_in_flight or self._clock() - self._opened_at >= self.settings.cooldown_s:
            return HALF_OPEN
        return OPEN

    def allow_request(self) -> bool:
        """True if a call may go ahead now; in half-open, only the one trial call gets True."""
        with self._lock:
            state = self._state()
            if state == CLOSED:
                return True
            if state == HALF_OPEN and not self._trial_in_flight:
                self._trial_in_flight = True
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial_in_flight or self._failures >= self.settings.failure_threshold:
                self._opened_at = self._clock()
            self._trial_in_flight = False

    def release(self) -> None:
        """A call ended without a verdict (the caller stopped listening): let another trial through."""
        with self._lock:
            self._trial_in_flight = False
