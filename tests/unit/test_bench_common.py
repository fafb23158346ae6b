"""The benchmarks' percentile helper: linear interpolation between ranks, and clear errors on bad input."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.common import percentile

samples = st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=50)


def test_the_median_of_an_odd_count_is_the_middle_value():
    assert percentile([5, 1, 3], 50) == 3


def test_the_median_of_an_even_count_is_halfway_between_the_middle_values():
    assert percentile([4, 1, 3, 2], 50) == 2.5


def test_between_ranks_the_value_is_interpolated_linearly():
    # ranks 0..4 over [10, 20, 30, 40, 50]: p95 sits at rank 3.8, 80% of the way from 40 to 50
    assert percentile([50, 10, 40, 20, 30], 95) == pytest.approx(48.0)
    assert percentile([50, 10, 40, 20, 30], 99) == pytest.approx(49.6)


def test_zero_and_hundred_are_the_minimum_and_maximum():
    values = [7.5, -2.0, 3.0, 11.25]
    assert percentile(values, 0) == -2.0
    assert percentile(values, 100) == 11.25


def test_a_single_value_is_every_percentile_of_itself():
    assert {percentile([42.0], q) for q in (0, 1, 50, 99, 100)} == {42.0}


def test_the_input_is_not_reordered():
    values = [3, 1, 2]
    percentile(values, 50)
    assert values == [3, 1, 2]


def test_any_iterable_is_accepted():
    assert percentile((value for value in range(101)), 99) == 99


@given(samples, st.floats(min_value=0, max_value=100))
def test_the_result_lies_between_the_minimum_and_the_maximum(values, q):
    assert min(values) <= percentile(values, q) <= max(values)


@given(samples, st.floats(min_value=0, max_value=100), st.floats(min_value=0, max_value=100))
def test_a_higher_percentile_is_never_smaller(values, q1, q2):
    low, high = sorted((q1, q2))
    assert percentile(values, low) <= percentile(values, high) + 1e-9 * max(1.0, *map(abs, values))


@given(st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=2, max_size=50))
def test_it_agrees_with_the_inclusive_quantiles_of_the_standard_library(values):
    centiles = statistics.quantiles(values, n=100, method="inclusive")  # p1..p99
    for q in (1, 50, 95, 99):
        assert percentile(values, q) == pytest.approx(centiles[q - 1], rel=1e-9, abs=1e-6)


def test_no_values_is_an_error_that_says_so():
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


@pytest.mark.parametrize("q", [-1, 100.5, float("nan"), "50", None, True])
def test_a_percentile_outside_0_to_100_is_refused(q):
    with pytest.raises(ValueError, match="q must be a number from 0 to 100"):
        percentile([1, 2, 3], q)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "12", None, True])
def test_a_sample_that_is_not_a_finite_number_is_named(bad):
    with pytest.raises(ValueError, match="finite numbers") as error:
        percentile([1.0, bad, 3.0], 50)
    assert repr(bad) in str(error.value)
