"""Per-turn performance metrics: records, summaries, log-spaced histograms, time windows, EMF.

Pure Python (no AWS): the DynamoDB side is `kimiyi.adapters.metrics_store.MetricsStore`. Metric names
are in `kimiyi.metrics.names`. See docs/metrics.md.
"""

from .aggregate import PERCENTILES, Aggregate, call_summary
from .api import PerformanceMetrics
from .emf import emit_failed_turn, emit_turn, flush_metrics_after
from .histogram import RELATIVE_ERROR, Histogram, exact_percentile
from .record import TurnRecord
from .recorder import TurnMetrics
from .window import DEFAULT_WINDOW_MINUTES, MAX_WINDOW_MINUTES, WindowError, WindowPlan, plan_window

__all__ = [
    "DEFAULT_WINDOW_MINUTES",
    "MAX_WINDOW_MINUTES",
    "PERCENTILES",
    "RELATIVE_ERROR",
    "Aggregate",
    "Histogram",
    "PerformanceMetrics",
    "TurnMetrics",
    "TurnRecord",
    "WindowError",
    "WindowPlan",
    "call_summary",
    "emit_failed_turn",
    "emit_turn",
    "exact_percentile",
    "flush_metrics_after",
    "plan_window",
]
