"""The benchmarks' shared statistics: inclusive percentiles (statistics.quantiles), summaries, and clear
errors on bad input; and the shared argument checks."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.common import Samples, check_args, new_parser, percentile, percentiles, summaries, summarize

samples = st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=50)


def test_the_median_of_an_odd_count_is_the_middle_value():
    assert percentile([5, 1, 3], 50) == 3


def test_the_median_of_an_even_count_is_halfway_between_the_middle_values():
    assert percentile([4, 1, 3, 2], 50) == 2.5


def test_a_hand_computed_example():
    # Sorted [15, 20, 35, 40, 50]: the p-th percentile sits at rank (5 - 1) * p / 100, counted from 0.
    values = [35, 50, 15, 40, 20]
    assert percentile(values, 25) == 20.0  # rank 1.0: exactly the second value
    assert percentile(values, 40) == pytest.approx(29.0)  # rank 1.6: 20 + 0.6 * (35 - 20)
    assert percentile(values, 50) == 35.0  # rank 2.0: the median
    assert percentile(values, 90) == pytest.approx(46.0)  # rank 3.6: 40 + 0.6 * (50 - 40)
    # Nearest-rank would give 20 for p40 (the ceil(0.4 * 5) = 2nd value) and 50 for p90.
    assert percentiles(values, (0, 40, 100)) == {0: 15.0, 40: pytest.approx(29.0), 100: 50.0}


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


@given(samples, st.integers(min_value=0, max_value=100))
def test_the_result_lies_between_the_minimum_and_the_maximum(values, q):
    assert min(values) <= percentile(values, q) <= max(values)


@given(samples, st.integers(min_value=0, max_value=100), st.integers(min_value=0, max_value=100))
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


@pytest.mark.parametrize("q", [-1, 101, 50.5, 50.0, float("nan"), "50", None, True])
def test_a_percentile_that_is_not_a_whole_number_from_0_to_100_is_refused(q):
    with pytest.raises(ValueError, match="q must be a whole number from 0 to 100"):
        percentile([1, 2, 3], q)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "12", None, True])
def test_a_sample_that_is_not_a_finite_number_is_named(bad):
    with pytest.raises(ValueError, match="finite numbers") as error:
        percentile([1.0, bad, 3.0], 50)
    assert repr(bad) in str(error.value)


def test_summarize_gives_n_min_mean_the_percentiles_and_max_rounded():
    assert summarize([35, 50, 15, 40, 20], (40, 90)) == {
        "n": 5,
        "min": 15.0,
        "mean": 32.0,
        "p40": 29.0,
        "p90": 46.0,
        "max": 50.0,
    }
    assert summarize([2.0 / 3.0])["p99"] == 0.667


def test_summaries_leave_out_empty_lists_and_samples_collect_by_name():
    samples = Samples()
    samples.add("hit", 1.0)
    samples.add("hit", 3.0)
    samples["miss"] = []
    assert summaries(samples) == {"hit": summarize([1.0, 3.0])}


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--calls", "0"], "--calls must be at least 1"), (["--token-ms", "-1"], "--token-ms must be >= 0")],
)
def test_check_args_refuses_a_flag_out_of_its_bound(argv, message, capsys):
    parser = new_parser("A bench.\n\nMore.")
    parser.add_argument("--calls", type=int, default=1)
    parser.add_argument("--token-ms", type=float, default=10.0)
    parser.add_argument("--first-token-ms", type=float, default=200.0)
    with pytest.raises(SystemExit):
        check_args(parser, parser.parse_args(argv), at_least_one=("calls",))
    assert message in capsys.readouterr().err
