"""The performance promises, in one place: health reports them, benchmarks and alarms check them."""

from typing import TypedDict


class Target(TypedDict, total=False):
    """One promise: its bounds (a figure's percentiles, or its least or greatest value) and a note."""

    p50: float
    p90: float
    p99: float
    min: float
    max: float
    note: str


TARGETS: dict[str, Target] = {
    "turnLatencyMs": {
        "p50": 150,
        "p90": 250,
        "note": "server-side, final prompt to first speakable text sent",
    },
    "turnOverheadMs": {"p50": 5, "p99": 20, "note": "turn latency minus the LLM's first-token time"},
    "cacheHitTurnMs": {"p99": 10, "note": "server-side, a cache hit: received to the reply posted"},
    "cacheHitRate": {"min": 0.40, "note": "on repeated interactions"},
    "overheadP99VsBareClient": {
        "max": 1.5,
        "note": "the turn pipeline's overhead p99 over a bare HTTP client's, turn for turn in one run",
    },
    "failoverRecoveryMs": {"max": 300, "note": "plus the secondary provider's own first-token time"},
    "languages": {"min": 50},
}
