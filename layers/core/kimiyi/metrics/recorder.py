"""Where a finished turn's figures go: EMF for CloudWatch (in memory until the invocation flushes) and
the calls table for the performance-metrics API. The relay calls this after the turn has spoken and
saved its state, so none of it is on the caller's latency path."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from .emf import MetricSink, emit_failed_turn, emit_turn
from .record import TurnRecord


class TurnStore(Protocol):
    def record_turn(self, record: TurnRecord, tenant_id: str) -> None: ...

    def record_failure(self, tracking_id: str | None, at_ms: int, tenant_id: str | None) -> None: ...


class TurnMetrics:
    """Each destination is tried on its own: a DynamoDB failure does not lose the EMF figures. A
    failure is logged and swallowed; recording must never break a call."""

    def __init__(
        self, *, store: TurnStore | None = None, emf: MetricSink | None = None, logger: Any = None
    ) -> None:
        self.store = store
        self.emf = emf
        self.log = logger or logging.getLogger(__name__)

    def turn(self, record: TurnRecord, tenant_id: str) -> None:
        if self.emf is not None:
            self._guard("EMF", emit_turn, self.emf, record)
        if self.store is not None:
            self._guard("store", self.store.record_turn, record, tenant_id)

    def failed_turn(self, tracking_id: str | None, at_ms: int, tenant_id: str | None = None) -> None:
        """`tenant_id` None: the call could not be found, so only the all-tenant figures count it."""
        if self.emf is not None:
            self._guard("EMF", emit_failed_turn, self.emf, tracking_id)
        if self.store is not None:
            self._guard("store", self.store.record_failure, tracking_id, at_ms, tenant_id)

    def _guard(self, where: str, action: Any, *args: Any) -> None:
        try:
            action(*args)
        except Exception as error:
            self.log.warning(
                "could not record turn metrics",
                extra={"destination": where, "error": type(error).__name__},
                exc_info=True,
            )
