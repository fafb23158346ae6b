"""Summaries: a call's exact figures, a window's additive aggregate, and their flat stored form."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kimiyi.metrics import Aggregate, TurnRecord, call_summary
from kimiyi.metrics.histogram import RELATIVE_ERROR, UNDERFLOW_ERROR_MS, exact_percentile


def turn(n=1, latency=100.0, first_token=None, cache_hit=None, provider=None, failovers=0, interrupted=False):
    return TurnRecord(
        tracking_id="trk_1",
        turn=n,
        at_ms=1_795_521_600_000 + n,
        latency_ms=latency,
        first_token_ms=first_token,
        provider=provider,
        failovers=failovers,
        cache_hit=cache_hit,
        interrupted=interrupted,
    )


records = st.builds(
    turn,
    n=st.integers(1, 500),
    latency=st.one_of(st.none(), st.floats(0, 29_000)),
    first_token=st.one_of(st.none(), st.floats(0, 10_000)),
    cache_hit=st.sampled_from([None, True, False]),
    provider=st.sampled_from([None, "cache", "openai", "azure", "scripted", "my model/v2"]),
    failovers=st.integers(0, 3),
    interrupted=st.booleans(),
)


def test_a_calls_summary_is_exact():
    turns = [
        turn(1, latency=120.0, first_token=90.0, cache_hit=False, provider="openai"),
        turn(2, latency=20.0, cache_hit=True, provider="cache"),
        turn(3, latency=300.0, first_token=250.0, cache_hit=False, provider="azure", failovers=1),
        turn(4, latency=None, provider=None),  # said nothing (the caller hung up)
    ]
    summary = call_summary(turns, errors=1)
    assert summary["turns"] == 5 and summary["errors"] == 1
    assert summary["turnLatencyMs"] == {
        "count": 3,
        "avg": pytest.approx(146.67),
        "p50": 120.0,
        "p90": 300.0,
        "p95": 300.0,
        "p99": 300.0,
    }
    assert summary["firstTokenMs"]["p50"] == 90.0 and summary["firstTokenMs"]["count"] == 2
    assert (summary["cacheHits"], summary["cacheMisses"], summary["cacheHitRate"]) == (1, 2, 0.3333)
    assert summary["failovers"] == 1
    assert summary["providers"] == {"azure": 1, "cache": 1, "openai": 1}


def test_no_llm_turns_means_no_hit_rate_and_no_turns_means_empty_figures():
    assert call_summary([turn(1, cache_hit=None)])["cacheHitRate"] is None
    empty = call_summary([])
    assert (
        empty["turns"] == 0 and empty["turnLatencyMs"]["p50"] is None and empty["turnLatencyMs"]["count"] == 0
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(records, max_size=40), st.integers(0, 5))
def test_the_flat_counters_read_back_to_the_same_aggregate(turns, errors):
    aggregate = Aggregate.of_records(turns, errors)
    back = Aggregate.from_counters(aggregate.counters())
    assert back.counters() == aggregate.counters()
    assert back.summary()["turnLatencyMs"]["p95"] == aggregate.summary()["turnLatencyMs"]["p95"]


@settings(max_examples=150, deadline=None)
@given(st.lists(records, max_size=30), st.lists(records, max_size=30))
def test_adding_counters_is_merging(left, right):
    """What DynamoDB's ADD does to two minutes' items is what merging their aggregates does."""
    a, b = Aggregate.of_records(left), Aggregate.of_records(right)
    added = dict(a.counters())
    for key, value in b.counters().items():
        added[key] = added.get(key, 0) + value
    a.merge(b)
    stored, merged = Aggregate.from_counters(added).summary(), a.summary()
    for figures in ("turnLatencyMs", "firstTokenMs"):  # sums are stored to the microsecond
        stored_avg, merged_avg = stored[figures].pop("avg"), merged[figures].pop("avg")
        assert stored_avg == pytest.approx(merged_avg, abs=0.011)
    assert stored == merged


@settings(max_examples=150, deadline=None)
@given(st.lists(records, min_size=1, max_size=60))
def test_a_windows_estimated_percentiles_are_within_the_bound_of_the_calls_exact_ones(turns):
    estimated = Aggregate.of_records(turns).summary()["turnLatencyMs"]
    values = [t.latency_ms for t in turns if t.latency_ms is not None]
    for percent in (50, 90, 95, 99):
        exact = exact_percentile(values, percent)
        if exact is None:
            assert estimated[f"p{percent}"] is None
        else:  # the summary rounds to 0.01 ms
            assert (
                abs(estimated[f"p{percent}"] - exact)
                <= max(UNDERFLOW_ERROR_MS, RELATIVE_ERROR * exact) + 0.01
            )


def test_failed_turns_are_turns_and_errors():
    failed = Aggregate.of_failure()
    assert failed.counters() == {"turns": 1, "errors": 1}


def test_provider_names_become_tame_counter_names():
    counters = Aggregate.of_turn(turn(provider="my model/v2")).counters()
    assert counters["prov_my_model_v2"] == 1


@pytest.mark.parametrize("bad", [{"turns": -1}, {"errors": 1.5}, {"lat_007": "3"}, {"cacheHits": True}])
def test_bad_stored_counters_are_named(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        Aggregate.from_counters(bad)


def test_unrelated_attributes_are_ignored():
    assert Aggregate.from_counters({"pk": "METRICS#x", "sk": "AGG", "expiresAt": 5, "turns": 2}).turns == 2
