"""The performance-metrics API's service: what GET /api/performance-metrics[/{trackingId}] answers.

    GET /api/performance-metrics/{trackingId}   -> {"success", "trackingId", "summary", "turns": [...],
                                                    "metrics", "optimization"}
    GET /api/performance-metrics?minutes=60     -> {"success", "window", "summary", "precision",
                                                    "metrics", "optimization"}

`metrics` and `optimization` are the integration guide's names for figures of the summary (guide.py),
so the guide's frontend reads them unchanged.

Every answer is the asking tenant's: its calls and its windows. Another tenant's call is answered exactly
as an unknown one (404), so a trackingId reveals nothing. Bad input is a 400 naming the parameter, an
unknown call a 404 (ApiError); the handler only shapes it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ..api_errors import ApiError, FieldProblem
from .aggregate import Aggregate, call_summary
from .guide import STREAM, guide_metrics, guide_optimization
from .histogram import LOWEST_MS, RELATIVE_ERROR, UNDERFLOW_ERROR_MS
from .record import TurnRecord
from .window import PARAMETER, WindowError, WindowPlan, parse_minutes, plan_window

TRACKING_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")  # what make-call and inbound calls mint


class CallTurns(Protocol):
    records: list[TurnRecord]
    errors: int
    mode: str  # the call's: "stream" (ConversationRelay) or "classic" (<Gather>)


class MetricsReader(Protocol):
    def call_turns(self, tracking_id: str, tenant_id: str) -> CallTurns | None: ...

    def window(self, plan: WindowPlan, tenant_id: str | None = None) -> Aggregate: ...


class PerformanceMetrics:
    def __init__(self, reader: MetricsReader, clock: Callable[[], float] = time.time) -> None:
        self.reader = reader
        self.clock = clock

    def call(
        self, tracking_id: str, tenant_id: str, query: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        _no_parameters_but(query, ())
        if not TRACKING_ID.match(tracking_id or ""):
            raise ApiError(
                400,
                "invalid_tracking_id",
                "trackingId must be 1-128 letters, digits, '_' or '-'",
                [FieldProblem("path.trackingId", f"not a trackingId: {tracking_id[:64]!r}")],
            )
        found = self.reader.call_turns(tracking_id, tenant_id)
        if found is None:
            raise ApiError(404, "call_not_found", f"no call {tracking_id} (unknown, or older than its TTL)")
        summary = call_summary(found.records, found.errors)
        return {
            "success": True,
            "trackingId": tracking_id,
            "summary": summary,
            "turns": [record.to_dict() for record in found.records],
            "metrics": guide_metrics(summary),
            "optimization": guide_optimization(found.mode),
        }

    def aggregate(self, tenant_id: str, query: Mapping[str, str] | None = None) -> dict[str, Any]:
        _no_parameters_but(query, (PARAMETER,))
        try:
            minutes = parse_minutes((query or {}).get(PARAMETER))
        except WindowError as error:
            raise ApiError(
                400, "invalid_window", str(error), [FieldProblem(f"query.{PARAMETER}", str(error))]
            ) from None
        plan = plan_window(int(self.clock() * 1000), minutes)
        summary = self.reader.window(plan, tenant_id).summary()
        return {
            "success": True,
            "window": plan.describe(),
            "summary": summary,
            "precision": PRECISION,
            "metrics": guide_metrics(summary),
            "optimization": guide_optimization(STREAM),  # aggregates hold streaming turns only
        }


PRECISION = {
    "percentiles": "estimated from a log-spaced histogram (nearest rank)",
    "relativeError": round(RELATIVE_ERROR, 4),
    "belowMs": LOWEST_MS,
    "absoluteErrorBelowMs": UNDERFLOW_ERROR_MS,
    "average": "exact",
}


def _no_parameters_but(query: Mapping[str, str] | None, allowed: tuple[str, ...]) -> None:
    """A misspelt parameter (`minute=5`) must not silently fall back to the default."""
    unknown = sorted(set(query or {}) - set(allowed))
    if unknown:
        accepted = ", ".join(allowed) if allowed else "none"
        raise ApiError(
            400,
            "unknown_parameter",
            f"unknown query parameter(s): {', '.join(unknown)} (accepted: {accepted})",
            [FieldProblem(f"query.{name}", "not a parameter of this route") for name in unknown],
        )
