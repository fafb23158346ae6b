"""Health's current figures: recent latency and hit rate beside the targets, or why they are missing."""

from __future__ import annotations

from kimiyi.health import Probe, current_figures, health_report
from kimiyi.metrics import Aggregate, TurnRecord


def summary(latencies, hits=0, misses=0):
    records = [TurnRecord("trk", i + 1, 0, ms, None) for i, ms in enumerate(latencies)]
    aggregate = Aggregate.of_records(records)
    aggregate.cache_hits, aggregate.cache_misses = hits, misses
    return aggregate.summary()


def test_figures_within_targets():
    figures = current_figures(summary([100.0] * 9 + [200.0], hits=5, misses=5), window_minutes=15)
    assert figures["available"] is True and figures["windowMinutes"] == 15 and figures["turns"] == 10
    assert set(figures["turnLatencyMs"]) == {"p50", "p90", "p95"}
    assert figures["cacheHitRate"] == 0.5
    assert figures["withinTargets"] == {"turnLatencyP50": True, "turnLatencyP90": True, "cacheHitRate": True}


def test_figures_that_miss_the_targets_say_so():
    figures = current_figures(summary([400.0] * 10, hits=1, misses=9), window_minutes=15)
    assert figures["withinTargets"] == {
        "turnLatencyP50": False,
        "turnLatencyP90": False,
        "cacheHitRate": False,
    }


def test_no_turns_is_neither_met_nor_missed():
    figures = current_figures(summary([]), window_minutes=15)
    assert figures["turns"] == 0 and figures["turnLatencyMs"]["p50"] is None
    assert set(figures["withinTargets"].values()) == {None}


def test_unreadable_figures_say_why_and_keep_health_200():
    figures = current_figures(None, window_minutes=15, error="AccessDeniedException")
    assert figures == {
        "available": False,
        "windowMinutes": 15,
        "error": "could not read the recent figures (AccessDeniedException)",
    }
    status, body = health_report(
        stage="dev",
        tables=[Probe("calls", True)],
        llm={"live": True},
        twilio={"configured": True},
        features={},
        current=figures,
    )
    assert status == 200 and body["current"]["available"] is False
