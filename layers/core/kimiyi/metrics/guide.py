"""The integration guide's names for the performance-metrics figures, answered beside `summary`.

The guide's frontend reads `metrics.averageLatency`, `metrics.cacheHitRate` and `optimization.enabled`.
These are views of the summary under the guide's names, never figures of their own: `summary` stays
the one source, and a client may read either.

- `averageLatency`: the mean server-side **turn latency** in milliseconds (DESIGN §4: a final prompt
  received -> the first text frame's `post_to_connection` returned), over the turns that said something:
  `summary.turnLatencyMs.avg`. null when no turn has spoken yet. It is not the LLM's first-token time
  (`averageFirstTokenTime`) and not what the caller hears end to end (add speech-to-text and
  text-to-speech).
- `cacheHitRate`: the share, 0 to 1, of the turns needing an LLM answer that the cache answered:
  `summary.cacheHitRate`; null when no turn needed one.
- `optimization.enabled`: the call runs the optimized turn pipeline: ConversationRelay streaming
  (`mode: "stream"`) with clause streaming, the predictive cache and failover; false for a call placed
  in classic `<Gather>` mode. A window counts streaming turns only (classic turns are not measured), so
  its figures are always the optimized pipeline's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STREAM = "stream"


def guide_metrics(summary: Mapping[str, Any]) -> dict[str, Any]:
    latency, first_token = summary["turnLatencyMs"], summary["firstTokenMs"]
    return {
        "averageLatency": latency["avg"],
        "p50Latency": latency["p50"],
        "p95Latency": latency["p95"],
        "averageFirstTokenTime": first_token["avg"],
        "cacheHitRate": summary["cacheHitRate"],
        "totalTurns": summary["turns"],
        "errors": summary["errors"],
        "failovers": summary["failovers"],
        "latencyUnit": "ms",
    }


def guide_optimization(mode: str) -> dict[str, Any]:
    """`mode` is the call's ("stream" or "classic"); a window's figures are all streaming turns."""
    return {"enabled": mode == STREAM, "mode": mode}
