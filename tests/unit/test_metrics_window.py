"""Which aggregate buckets a window reads: whole hours from hour items, the ragged edge from minutes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kimiyi.metrics.window import (
    DEFAULT_WINDOW_MINUTES,
    MAX_WINDOW_MINUTES,
    WindowError,
    hour_key,
    minute_key,
    parse_minutes,
    plan_window,
)


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_the_last_hour_at_12_34_reads_one_hour_item_and_25_minutes():
    plan = plan_window(ms("2026-11-24T12:34:56"), 60)
    assert [hour_key(h) for h in plan.hours] == ["2026-11-24T12"]
    assert [minute_key(m) for m in plan.minute_buckets][:2] == ["2026-11-24T11:35", "2026-11-24T11:36"]
    assert len(plan.minute_buckets) == 25 and minute_key(plan.minute_buckets[-1]) == "2026-11-24T11:59"
    assert plan.describe() == {"minutes": 60, "start": "2026-11-24T11:35:00Z", "end": "2026-11-24T12:34:56Z"}


def test_a_window_inside_one_hour_reads_minutes_only():
    plan = plan_window(ms("2026-11-24T12:59:10"), 5)
    assert plan.hours == () and [minute_key(m) for m in plan.minute_buckets] == [
        f"2026-11-24T12:{m}" for m in range(55, 60)
    ]


def test_a_window_from_the_top_of_the_hour_reads_that_hours_item():
    plan = plan_window(ms("2026-11-24T12:05:00"), 6)
    assert plan.bucket_keys() == ["2026-11-24T12"]


def test_one_minute_is_the_current_minute():
    assert plan_window(ms("2026-11-24T12:05:59"), 1).bucket_keys() == ["2026-11-24T12:05"]


def test_fourteen_days_is_one_item_per_hour_plus_at_most_59_minutes():
    plan = plan_window(ms("2026-11-24T12:34:56"), MAX_WINDOW_MINUTES)
    assert len(plan.hours) == 14 * 24 and len(plan.minute_buckets) == 25
    assert len(plan.bucket_keys()) <= 14 * 24 + 59


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2035, 1, 1)),
    st.integers(1, 3 * 24 * 60),
)
def test_the_buckets_cover_exactly_the_windows_minutes(now, minutes):
    now_ms = ms(now.isoformat())
    plan = plan_window(now_ms, minutes)
    last = datetime.fromtimestamp(now_ms / 1000, UTC).replace(second=0, microsecond=0)
    wanted = {last - timedelta(minutes=i) for i in range(minutes)}
    covered = set(plan.minute_buckets)
    for hour in plan.hours:  # an hour item holds that hour's minutes up to now
        covered |= {hour + timedelta(minutes=i) for i in range(60) if hour + timedelta(minutes=i) <= last}
    assert covered == wanted
    assert len(plan.minute_buckets) <= 59
    assert len(set(plan.bucket_keys())) == len(plan.bucket_keys())


@pytest.mark.parametrize(
    ("raw", "minutes"), [(None, DEFAULT_WINDOW_MINUTES), ("15", 15), (" 1 ", 1), ("20160", 20160)]
)
def test_minutes_parameter(raw, minutes):
    assert parse_minutes(raw) == minutes


@pytest.mark.parametrize(
    "raw", ["", "0", "-5", "20161", "1.5", "abc", "5,10", "１５", "1e3", "99999999999999999999"]
)
def test_bad_minutes_are_refused_naming_the_parameter(raw):
    with pytest.raises(WindowError, match="minutes"):
        parse_minutes(raw)


@pytest.mark.parametrize("minutes", [0, MAX_WINDOW_MINUTES + 1, True, 1.0])
def test_plans_refuse_out_of_bounds_windows(minutes):
    with pytest.raises(WindowError, match="minutes"):
        plan_window(ms("2026-11-24T12:00:00"), minutes)


def test_the_longest_window_is_what_the_aggregates_ttl_keeps():
    from kimiyi.adapters.items import METRICS_TTL_S
    from kimiyi.metrics.window import MAX_WINDOW_MINUTES

    assert MAX_WINDOW_MINUTES * 60 == METRICS_TTL_S
