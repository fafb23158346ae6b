"""The metrics store under moto, on the template's calls table: turn items, atomic aggregates, reads
that never scan."""

from __future__ import annotations

import time
from decimal import Decimal

import boto3
import pytest

from kimiyi.adapters.calls_store import CallsStore
from kimiyi.adapters.metrics_store import (
    AGGREGATE_SHARDS,
    METRICS_TTL_S,
    MetricsReadError,
    MetricsStore,
    aggregate_pks,
)
from kimiyi.metrics import Aggregate, TurnRecord, call_summary, plan_window

AT = 1_795_521_600_000 + 34 * 60_000 + 5_000  # 2026-11-24T12:34:05Z


def turn(n=1, at=AT, latency=120.0, first_token=95.0, cache_hit=False, provider="openai", tracking="trk_a"):
    return TurnRecord(
        tracking_id=tracking,
        turn=n,
        at_ms=at,
        latency_ms=latency,
        first_token_ms=first_token,
        frames=3,
        provider=provider,
        failovers=0,
        cache_hit=cache_hit,
        language="en-US",
        node="confirm",
        marks={"stepDone": 1.25, "firstChunk": 119.5},
    )


def bucket_items(table, bucket, tenant=None):
    """The items a bucket's counters are in (those of its shards that were written)."""
    items = [table.get_item(Key={"pk": pk, "sk": "AGG"}).get("Item") for pk in aggregate_pks(bucket, tenant)]
    return [item for item in items if item]


def summed(items):
    """The items' counters added up, as the aggregate item of an unsharded bucket would hold them."""
    total = {}
    for item in items:
        for name, value in item.items():
            if name not in ("pk", "sk", "expiresAt"):
                total[name] = total.get(name, 0) + value
    return total


class Watched:
    """The boto3 Table with a log of the operations the store called; a Scan fails the test."""

    def __init__(self, table):
        self._table = table
        self.calls: list[tuple[str, dict]] = []
        self.name, self.meta = table.name, table.meta

    def __getattr__(self, operation):
        if operation == "scan":
            raise AssertionError("the metrics store must never scan the table")
        method = getattr(self._table, operation)

        def call(**kwargs):
            self.calls.append((operation, kwargs))
            return method(**kwargs)

        return call


@pytest.fixture
def table(aws):
    return boto3.resource("dynamodb").Table("CallsTable")


@pytest.fixture
def watched(table):
    return Watched(table)


@pytest.fixture
def store(watched):
    return MetricsStore(watched, clock=lambda: AT / 1000 + 60)


def test_a_turn_is_stored_under_its_call_with_a_ttl(store, table):
    store.record_turn(turn())
    item = table.get_item(Key={"pk": "CALL#trk_a", "sk": "TURN#00001"})["Item"]
    assert item["expiresAt"] == AT // 1000 + METRICS_TTL_S
    assert item["latencyMs"] == Decimal("120.0") and item["marks"]["firstChunk"] == Decimal("119.5")
    assert item["provider"] == "openai" and item["cacheHit"] is False and "gone" in item


def test_aggregates_are_bumped_with_add_only_no_read_first(store, watched, table):
    store.record_turn(turn(1))
    store.record_turn(turn(2, latency=30.0, first_token=None, cache_hit=True, provider="cache"))
    store.record_failure("trk_a", AT + 1)
    operations = [name for name, _ in watched.calls]
    assert "get_item" not in operations and "query" not in operations  # no read-modify-write
    for name, kwargs in watched.calls:
        if name == "update_item":
            assert " ADD " in kwargs["UpdateExpression"]
    minutes = bucket_items(table, "2026-11-24T12:34")
    hours = bucket_items(table, "2026-11-24T12")
    for items in (minutes, hours):
        item = summed(items)
        assert (item["turns"], item["errors"], item["cacheHits"], item["cacheMisses"]) == (3, 1, 1, 1)
        assert item["latN"] == 2 and item["latSum"] == Decimal("150.0") and item["fttN"] == 1
        assert item["prov_openai"] == 1 and item["prov_cache"] == 1
    assert {item["expiresAt"] for item in minutes} == {(AT // 60_000 + 1) * 60 + METRICS_TTL_S}
    assert {item["expiresAt"] for item in hours} == {(1_795_521_600 + 3600) + METRICS_TTL_S}


def test_a_calls_turns_come_back_in_order_with_its_errors_in_one_query(store, watched):
    for n in (2, 1, 3):
        store.record_turn(turn(n, at=AT + n))
    store.record_failure("trk_a", AT + 9)
    store.record_failure("trk_a", AT + 10)
    store.record_turn(turn(1, tracking="trk_other"))
    watched.calls.clear()
    found = store.call_turns("trk_a", "default")
    assert [r.turn for r in found.records] == [1, 2, 3] and found.errors == 2
    assert found.records[0] == turn(1, at=AT + 1)
    assert [name for name, _ in watched.calls] == ["query"]


def test_two_turns_with_one_number_are_both_kept(store):
    store.record_turn(turn(4, at=AT))
    store.record_turn(turn(4, at=AT + 700, latency=50.0))
    assert [(r.turn, r.latency_ms) for r in store.call_turns("trk_a", "default").records] == [
        (4, 120.0),
        (4, 50.0),
    ]


def test_unknown_call_is_none_but_a_staged_call_without_turns_is_empty(store, table):
    assert store.call_turns("trk_nobody", "default") is None
    CallsStore(table, clock=lambda: AT / 1000).put_session("trk_staged", {"workflow": "{}"})
    found = store.call_turns("trk_staged", "default")
    assert found is not None and found.records == [] and found.errors == 0


@pytest.mark.parametrize(
    ("session", "mode"),
    [({"mode": "classic"}, "classic"), ({"mode": "stream"}, "stream"), ({}, "stream")],
    ids=["classic", "stream", "before-modes"],
)
def test_a_staged_calls_mode_comes_from_its_session(store, table, session, mode):
    CallsStore(table, clock=lambda: AT / 1000).put_session("trk_staged", {"workflow": "{}", **session})
    assert store.call_turns("trk_staged", "default").mode == mode


def test_a_call_with_turns_is_a_streaming_one_read_in_one_query(store, table, watched):
    CallsStore(table, clock=lambda: AT / 1000).put_session("trk_a", {"workflow": "{}", "mode": "stream"})
    store.record_turn(turn(1))
    watched.calls.clear()
    assert store.call_turns("trk_a", "default").mode == "stream"
    assert [name for name, _ in watched.calls] == ["query"]  # turn records are relay turns: no session read


def test_expired_items_are_not_read(table, aws):
    later = MetricsStore(table, clock=lambda: AT / 1000 + METRICS_TTL_S + 3600)
    later.record_turn(turn())  # written long ago by the clock's standards; moto never expires items
    assert later.call_turns("trk_a", "default") is None
    assert later.window(plan_window(AT, 60)).turns == 0


def test_a_calls_turns_and_errors_are_read_back_for_its_own_tenant_only(store, table):
    store.record_turn(turn(1), "acme")
    store.record_failure("trk_a", AT + 5, "acme")
    assert store.call_turns("trk_a", "default") is None  # the same answer as for no call at all
    found = store.call_turns("trk_a", "acme")
    assert [r.turn for r in found.records] == [1] and found.errors == 1
    CallsStore(table, clock=lambda: AT / 1000).put_session(
        "trk_quiet", {"workflow": "{}", "tenantId": "acme"}
    )
    assert store.call_turns("trk_quiet", "default") is None
    assert store.call_turns("trk_quiet", "acme").records == []


def test_items_from_before_tenants_belong_to_the_default_tenant(store, table):
    store.record_turn(turn(1))
    table.update_item(Key={"pk": "CALL#trk_a", "sk": "TURN#00001"}, UpdateExpression="REMOVE tenantId")
    assert [r.turn for r in store.call_turns("trk_a", "default").records] == [1]
    assert store.call_turns("trk_a", "acme") is None


def test_a_tenants_window_and_the_all_tenant_window(store, table):
    store.record_turn(turn(1), "acme")
    store.record_turn(turn(2), "globex")
    store.record_failure(None, AT + 3)  # a frame whose call could not be found: all tenants only
    plan = plan_window(AT + 60_000, 5)
    assert store.window(plan, "acme").turns == 1 and store.window(plan, "globex").turns == 1
    assert store.window(plan, "initech").turns == 0
    everyone = store.window(plan)
    assert (everyone.turns, everyone.errors) == (3, 1)
    assert summed(bucket_items(table, "2026-11-24T12:34", "acme"))["turns"] == 1


def test_a_window_sums_minutes_and_hours_like_the_exact_summary(table):
    store = MetricsStore(table, clock=lambda: AT / 1000 + 1)
    start = AT - 3 * 3600 * 1000
    turns = [
        turn(i + 1, at=start + i * 97_000, latency=float(10 + (i * 37) % 400), cache_hit=i % 3 == 0)
        for i in range(3 * 3600 // 97 + 1)
    ]
    assert turns[-1].at_ms <= AT
    for record in turns:
        store.record_turn(record)
    plan = plan_window(AT, 180)
    assert plan.hours and plan.minute_buckets  # the read mixes both kinds of bucket
    inside = [r for r in turns if r.at_ms >= plan.first_minute.timestamp() * 1000]
    got = store.window(plan).summary()
    want = Aggregate.of_records(inside).summary()
    assert got == want
    exact = call_summary(inside)["turnLatencyMs"]
    assert got["turnLatencyMs"]["count"] == exact["count"] == len(inside)
    assert abs(got["turnLatencyMs"]["p95"] - exact["p95"]) <= 0.049 * exact["p95"] + 0.01


def test_an_empty_window_is_zeros(store):
    empty = store.window(plan_window(AT, 15)).summary()
    assert empty["turns"] == 0 and empty["turnLatencyMs"]["p50"] is None and empty["cacheHitRate"] is None


def test_fourteen_days_are_read_in_batches_of_100_keys(store, watched):
    store.record_turn(turn(at=AT - 13 * 24 * 3600 * 1000))
    store.record_turn(turn(2))
    watched.calls.clear()

    batches = []
    client = watched.meta.client
    original = client.batch_get_item

    def counting(**kwargs):
        batches.append(len(kwargs["RequestItems"]["CallsTable"]["Keys"]))
        return original(**kwargs)

    client.batch_get_item = counting
    try:
        aggregate = store.window(plan_window(AT, 14 * 24 * 60))
    finally:
        del client.batch_get_item
    assert aggregate.turns == 2
    buckets = len(plan_window(AT, 14 * 24 * 60).bucket_keys())
    assert max(batches) <= 100 and sum(batches) == buckets * (
        AGGREGATE_SHARDS + 1
    )  # every shard, and the old key


class FlakyBatches:
    """A table whose BatchGetItem leaves keys unprocessed `times` times, as DynamoDB does under load."""

    def __init__(self, table, times):
        self.name = table.name
        self._table, self._times = table, times
        self.meta = self
        self.client = self

    def batch_get_item(self, RequestItems):
        if self._times:
            self._times -= 1
            return {"Responses": {self.name: []}, "UnprocessedKeys": RequestItems}
        return self._table.meta.client.batch_get_item(RequestItems=RequestItems)


def test_unprocessed_keys_are_retried_with_backoff_then_reported(table):
    MetricsStore(table).record_turn(turn(at=int(time.time() * 1000)))
    plan = plan_window(int(time.time() * 1000), 5)
    sleeps = []
    assert MetricsStore(FlakyBatches(table, 2), sleep=sleeps.append).window(plan).turns == 1
    assert sleeps == [0.05, 0.1]
    with pytest.raises(MetricsReadError, match="unprocessed"):
        MetricsStore(FlakyBatches(table, 99), sleep=sleeps.append).window(plan)
