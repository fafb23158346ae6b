"""Sharded aggregates under moto: a bucket's turns are spread over AGGREGATE_SHARDS items, a window reads
every shard (and the unsharded item of before) in batches of at most 100 keys, and the sums are exact."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from kimiyi.adapters.metrics_store import (
    AGGREGATE_SHARDS,
    METRICS_TTL_S,
    MetricsReadError,
    MetricsStore,
    aggregate_pks,
    shard_of,
)
from kimiyi.metrics import Aggregate, TurnRecord, plan_window

AT = 1_795_521_600_000 + 34 * 60_000  # 2026-11-24T12:34:00Z
MINUTE, HOUR = "2026-11-24T12:34", "2026-11-24T12"


def turn(tracking: str, n: int, at: int, latency: float = 120.0, provider: str = "openai") -> TurnRecord:
    return TurnRecord(
        tracking_id=tracking,
        turn=n,
        at_ms=at,
        latency_ms=latency,
        first_token_ms=latency * 0.7,
        frames=2,
        provider=provider,
        failovers=n % 2,
        cache_hit=n % 3 == 0,
        language="en-US",
        node="confirm",
    )


def busy_minute(calls: int = 6, turns: int = 8) -> list[TurnRecord]:
    """`calls` calls of `turns` turns each, all inside the minute 12:34."""
    return [
        turn(
            f"trk_call{c:02d}", n + 1, AT + c * 1_000 + n * 2_003, latency=float(40 + (c * 31 + n * 17) % 900)
        )
        for c in range(calls)
        for n in range(turns)
    ]


def written(table, bucket: str, tenant: str | None = None) -> dict[str, dict]:
    """The bucket's items that exist, by key."""
    found = {
        pk: table.get_item(Key={"pk": pk, "sk": "AGG"}).get("Item") for pk in aggregate_pks(bucket, tenant)
    }
    return {pk: item for pk, item in found.items() if item}


def write_unsharded(table, record: TurnRecord, tenant: str | None, expires: int) -> None:
    """What the store wrote before sharding: the turn's counters ADDed to `METRICS#[<tenant>#]<bucket>`."""
    counters = Aggregate.of_turn(record).counters()
    values = {
        f":c{i}": Decimal(str(v)) if isinstance(v, float) else v for i, v in enumerate(counters.values())
    }
    for bucket in (MINUTE, HOUR):
        table.update_item(
            Key={"pk": f"METRICS#{tenant}#{bucket}" if tenant else f"METRICS#{bucket}", "sk": "AGG"},
            UpdateExpression="SET expiresAt = :exp ADD "
            + ", ".join(f"#c{i} :c{i}" for i in range(len(counters))),
            ExpressionAttributeNames={f"#c{i}": name for i, name in enumerate(counters)},
            ExpressionAttributeValues={**values, ":exp": expires},
        )


@pytest.fixture
def store(table):
    return MetricsStore(table, clock=lambda: AT / 1000 + 120)


def test_a_busy_minute_is_spread_over_the_shards_and_nothing_unsharded_is_written(store, table):
    records = busy_minute()
    for record in records:
        store.record_turn(record, "acme")
    shards = {shard_of(r.tracking_id, r.at_ms) for r in records}
    assert len(shards) >= 12  # 48 turns: most of the 16 shards
    for bucket in (MINUTE, HOUR):
        for tenant in (None, "acme"):
            items = written(table, bucket, tenant)
            assert set(items) == {aggregate_pks(bucket, tenant)[shard] for shard in shards}  # no old key
            assert sum(item["turns"] for item in items.values()) == len(records)
    per_call = {shard_of(r.tracking_id, r.at_ms) for r in records if r.tracking_id == "trk_call00"}
    assert len(per_call) > 1  # one call's turns do not all land on one item


def test_a_turns_four_updates_go_to_one_shard_number(store, table):
    record = turn("trk_lonely", 1, AT + 7_777)
    store.record_turn(record, "acme")
    shard = f"#{shard_of('trk_lonely', AT + 7_777):02d}"
    for bucket in (MINUTE, HOUR):
        for tenant in (None, "acme"):
            (pk,) = written(table, bucket, tenant)
            assert pk.endswith(shard)


def test_every_windows_sum_over_the_shards_equals_the_exact_summary_per_tenant(store):
    records = busy_minute()
    acme = [r for r in records if int(r.tracking_id[-2:]) % 3]
    globex = [r for r in records if not int(r.tracking_id[-2:]) % 3]
    for record in acme:
        store.record_turn(record, "acme")
    for record in globex:
        store.record_turn(record, "globex")
    store.record_failure("trk_call00", AT + 59_000, "acme")
    store.record_failure(None, AT + 59_500)  # no call found: all tenants only
    for minutes in (1, 60):  # the minute's shards; the hour's shards
        plan = plan_window(AT + 30_000, minutes)
        assert store.window(plan, "acme").summary() == Aggregate.of_records(acme, errors=1).summary()
        assert store.window(plan, "globex").summary() == Aggregate.of_records(globex).summary()
        assert store.window(plan).summary() == Aggregate.of_records(records, errors=2).summary()
        assert store.window(plan, "initech").turns == 0


def test_items_written_before_sharding_are_still_counted(store, table):
    old = [turn("trk_before", n, AT + n * 1_000, latency=300.0 + n) for n in range(1, 4)]
    expires = AT // 1000 + 3600 + METRICS_TTL_S
    for record in old:
        write_unsharded(table, record, "acme", expires)
        write_unsharded(table, record, None, expires)
    new = [turn("trk_after", n, AT + 30_000 + n * 1_000) for n in range(1, 6)]
    for record in new:
        store.record_turn(record, "acme")
    assert "METRICS#acme#2026-11-24T12:34" in written(table, MINUTE, "acme")
    want = Aggregate.of_records(old + new).summary()
    for minutes in (1, 60):
        plan = plan_window(AT + 30_000, minutes)
        assert store.window(plan, "acme").summary() == want
        assert store.window(plan).summary() == want
        assert store.window(plan, "globex").turns == 0  # an old tenant item is still the tenant's alone


def test_an_expired_unsharded_item_is_not_counted(store, table):
    write_unsharded(table, turn("trk_before", 1, AT), None, expires=int(AT / 1000))  # already past
    store.record_turn(turn("trk_after", 1, AT + 1_000))
    assert store.window(plan_window(AT + 30_000, 5)).turns == 1


class Batches:
    """Records the keys of every BatchGetItem request (from any thread); can leave some unprocessed."""

    def __init__(self, table, unprocessed: int = 0):
        self.name, self._table = table.name, table
        self.meta = self.client = self
        self.requests: list[list[str]] = []
        self._unprocessed = unprocessed
        self._lock = threading.Lock()

    def batch_get_item(self, RequestItems):
        with self._lock:
            self.requests.append([key["pk"] for key in RequestItems[self.name]["Keys"]])
            flaky = self._unprocessed > 0
            self._unprocessed -= flaky
        if flaky:
            return {"Responses": {self.name: []}, "UnprocessedKeys": RequestItems}
        return self._table.meta.client.batch_get_item(RequestItems=RequestItems)


@pytest.mark.parametrize(("minutes", "tenant"), [(15, None), (24 * 60, "acme"), (14 * 24 * 60, "acme")])
def test_a_window_reads_each_shard_of_each_bucket_once_in_batches_of_100(table, minutes, tenant):
    now = AT + 30_000
    MetricsStore(table).record_turn(
        turn("trk_a", 1, AT - (minutes - 1) * 60_000), "acme"
    )  # the oldest minute
    MetricsStore(table).record_turn(turn("trk_a", 2, AT), "acme")
    batches = Batches(table)
    total = MetricsStore(batches, clock=lambda: now / 1000).window(plan_window(now, minutes), tenant)
    assert total.turns == 2
    keys = [pk for request in batches.requests for pk in request]
    want = [pk for bucket in plan_window(now, minutes).bucket_keys() for pk in aggregate_pks(bucket, tenant)]
    assert sorted(keys) == sorted(want) and len(set(keys)) == len(keys)
    assert max(map(len, batches.requests)) <= 100 and len(batches.requests) == -(-len(want) // 100)


def test_unprocessed_keys_of_parallel_batches_are_retried_then_reported(table):
    now = AT + 30_000
    MetricsStore(table).record_turn(turn("trk_a", 1, AT - 20 * 3600 * 1000))
    MetricsStore(table).record_turn(turn("trk_a", 2, AT))
    plan = plan_window(now, 24 * 60)
    flaky = Batches(table, unprocessed=3)
    assert MetricsStore(flaky, clock=lambda: now / 1000, sleep=lambda _: None).window(plan).turns == 2
    keys = len(plan.bucket_keys()) * (AGGREGATE_SHARDS + 1)
    assert keys > 100 and len(flaky.requests) == -(-keys // 100) + 3  # every batch, and the three retries
    with pytest.raises(MetricsReadError, match="unprocessed"):
        MetricsStore(
            Batches(table, unprocessed=10_000), clock=lambda: now / 1000, sleep=lambda _: None
        ).window(plan)
