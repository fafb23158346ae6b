"""The turn's figures as CloudWatch metrics, through Powertools Metrics (EMF printed to stdout).

`metrics` is a Powertools `Metrics` (or anything with its `add_metric`/`add_metadata`): this module
does not import Powertools, so the domain stays plain Python. Nothing here adds a dimension: Powertools
adds `service` by itself, and the dashboard and alarms expect exactly that one.

Every turn emits Turn, TurnError (0 or 1) and Failover (0 or more), so ratios such as the error rate
always have both series; a turn that needed an LLM emits CacheHit and CacheMiss as 1/0, so the
average of CacheHit over any period is the cache hit rate.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from . import names
from .record import TurnRecord

Handler = TypeVar("Handler", bound=Callable[..., Any])


class MetricSink(Protocol):
    def add_metric(self, name: str, unit: str, value: float) -> None: ...

    def add_metadata(self, key: str, value: Any) -> None: ...


def _add(metrics: MetricSink, name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=names.units[name], value=value)


def emit_turn(metrics: MetricSink, record: TurnRecord) -> None:
    _add(metrics, names.TURN, 1)
    _add(metrics, names.TURN_ERROR, 0)
    _add(metrics, names.FAILOVER, record.failovers)
    if record.latency_ms is not None:
        _add(metrics, names.TURN_LATENCY, record.latency_ms)
    if record.first_token_ms is not None:
        _add(metrics, names.FIRST_TOKEN_TIME, record.first_token_ms)
    if record.cache_hit is not None:
        _add(metrics, names.CACHE_HIT, int(record.cache_hit))
        _add(metrics, names.CACHE_MISS, int(not record.cache_hit))
    # Metadata is searchable in Logs Insights and is not a dimension (no extra metric cost).
    metrics.add_metadata(key="trackingId", value=record.tracking_id)


def emit_failed_turn(metrics: MetricSink, tracking_id: str | None = None) -> None:
    _add(metrics, names.TURN, 1)
    _add(metrics, names.TURN_ERROR, 1)
    if tracking_id:
        metrics.add_metadata(key="trackingId", value=tracking_id)


def flush_metrics_after(metrics: Any) -> Callable[[Handler], Handler]:
    """Powertools' `log_metrics`, less its warning on an invocation that recorded nothing.

    The relay's $connect, $disconnect, setup and interrupt invocations add no metric; `log_metrics`
    would warn "No application metrics to publish" on each. This flushes after every invocation that
    added one (raised or not), and stays silent otherwise."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def run(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return handler(event, context, *args, **kwargs)
            finally:
                if metrics.metric_set:
                    metrics.flush_metrics()
                else:
                    metrics.clear_metrics()  # metadata added without a metric must not leak onward

        return run  # type: ignore[return-value]

    return decorate
