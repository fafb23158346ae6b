"""The log-spaced histogram: bins, merging, and percentile estimates within the documented bound."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kimiyi.metrics.histogram import (
    BIN_COUNT,
    EDGES,
    RELATIVE_ERROR,
    UNDERFLOW_ERROR_MS,
    Histogram,
    bin_of,
    exact_percentile,
    nearest_rank,
    representative,
)

# Turn latencies a Lambda can produce: 0 to 29 s (the integration timeout), with some under 1 ms.
latencies = st.floats(min_value=0, max_value=29_000, allow_nan=False, allow_infinity=False)
percents = st.one_of(st.sampled_from([50, 90, 95, 99, 100]), st.floats(min_value=0.1, max_value=100))


def bound(exact: float) -> float:
    """The documented error bound, plus float rounding in the edges themselves."""
    return max(UNDERFLOW_ERROR_MS, RELATIVE_ERROR * exact) * (1 + 1e-9)


@settings(max_examples=400, deadline=None)
@given(st.lists(latencies, min_size=1, max_size=300), percents)
def test_estimated_percentile_is_within_the_documented_bound_of_the_exact_one(values, percent):
    exact = exact_percentile(values, percent)
    estimate = Histogram.of(values).percentile(percent)
    assert abs(estimate - exact) <= bound(exact), (exact, estimate)


def test_the_bound_is_about_five_percent_and_nearly_reached():
    assert 0.048 < RELATIVE_ERROR < 0.049
    # A value at the bottom edge of a bin is the worst case: the estimate is the bin's geometric middle.
    value = EDGES[40]
    estimate = Histogram.of([value]).percentile(50)
    assert estimate / value - 1 == pytest.approx(RELATIVE_ERROR, rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.lists(latencies, max_size=100), st.lists(latencies, max_size=100))
def test_merging_histograms_equals_the_histogram_of_all_values(left, right):
    merged = Histogram.of(left)
    merged.merge(Histogram.of(right))
    together = Histogram.of(left + right)
    assert merged.counts == together.counts
    assert merged.total_ms == pytest.approx(together.total_ms)
    assert merged.count == len(left) + len(right)


def test_bins_cover_zero_to_above_a_minute_with_edges_in_the_right_bin():
    assert bin_of(0) == 0 and bin_of(0.999) == 0
    assert bin_of(1.0) == 1 and bin_of(1.0999) == 1 and bin_of(1.1) == 2
    assert bin_of(EDGES[-1]) == BIN_COUNT - 1 == len(EDGES)
    assert bin_of(10**9) == BIN_COUNT - 1
    assert EDGES[-1] >= 60_000 > EDGES[-2]
    assert representative(0) == 0.5 and representative(BIN_COUNT - 1) == EDGES[-1]


@pytest.mark.parametrize("bad", [-0.001, math.nan, math.inf, "12", None])
def test_impossible_values_are_refused_by_name(bad):
    with pytest.raises(ValueError, match="finite number of milliseconds"):
        bin_of(bad)


def test_counts_read_back_are_checked():
    with pytest.raises(ValueError, match="outside"):
        Histogram.from_counts({BIN_COUNT: 1}, 10.0)
    with pytest.raises(ValueError, match="negative count"):
        Histogram.from_counts({3: -1}, 0.0)
    assert Histogram.from_counts({3: 2, 4: 0}, 5.0).counts == {3: 2}


def test_nearest_rank_on_known_lists():
    values = list(range(1, 101))
    assert exact_percentile(values, 50) == 50
    assert exact_percentile(values, 95) == 95
    assert exact_percentile(values, 99) == 99
    assert exact_percentile([4, 1, 3, 2], 50) == 2
    assert exact_percentile([7], 99) == 7
    assert exact_percentile([], 50) is None
    assert nearest_rank(100, 3) == 3 and nearest_rank(0.1, 3) == 1
    with pytest.raises(ValueError, match="percentile"):
        nearest_rank(0, 10)


def test_empty_histogram_has_no_percentile_or_average():
    empty = Histogram()
    assert empty.percentile(50) is None and empty.average() is None and empty.count == 0


def test_average_is_exact():
    assert Histogram.of([10.0, 20.0, 33.0]).average() == pytest.approx(21.0)
