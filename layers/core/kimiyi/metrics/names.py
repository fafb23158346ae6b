"""The CloudWatch metric names the code emits, in one place.

They go out as EMF through Powertools Metrics: namespace POWERTOOLS_METRICS_NAMESPACE ("KimiyiVoice" in
the template), one dimension, Powertools' default `service` (POWERTOOLS_SERVICE_NAME). The template's
dashboard and alarms name these metrics; tests/unit/test_observability_template.py reads every
upper-case string in this module as an emitted name, so keep nothing else upper-case and a string here.
"""

from __future__ import annotations

TURN = "Turn"  # Count, 1 per turn, failed turns included
TURN_LATENCY = "TurnLatency"  # Milliseconds: frame received -> first text frame's post returned
FIRST_TOKEN_TIME = "FirstTokenTime"  # Milliseconds: LLM request -> first token (turns that asked an LLM)
CACHE_HIT = "CacheHit"  # Count, 1 or 0 per turn that needed an LLM: every answer came from the cache
CACHE_MISS = "CacheMiss"  # Count, 1 or 0 per turn that needed an LLM: CacheHit + CacheMiss = 1
FAILOVER = "Failover"  # Count per turn: providers that failed before the one that answered
TURN_ERROR = "TurnError"  # Count per turn: 1 when it failed and the caller heard the holding phrase

units = {
    TURN: "Count",
    TURN_LATENCY: "Milliseconds",
    FIRST_TOKEN_TIME: "Milliseconds",
    CACHE_HIT: "Count",
    CACHE_MISS: "Count",
    FAILOVER: "Count",
    TURN_ERROR: "Count",
}
