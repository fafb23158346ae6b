"""The arithmetic behind the sharded aggregates (docs/metrics.md, "Scale"): how big an aggregate item can
grow, what an update costs, what each item takes at 2,000 turns/s, how evenly the shards share it, and
what a window read costs. Pure: sizes follow DynamoDB's item-size rules, no table is involved.

`python tests/unit/test_metrics_capacity.py` prints the figures the docs quote.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from decimal import Decimal

from kimiyi.adapters.metrics_store import AGGREGATE_SHARDS, BATCH_KEYS, aggregate_pks, shard_of
from kimiyi.metrics import Aggregate, plan_window
from kimiyi.metrics.histogram import BIN_COUNT

TARGET_TURNS_S = 2_000  # issue 13: about 20,000 concurrent calls
ITEM_WRU_S = 1_000  # what DynamoDB sustains on one item (a partition's write limit; an item is never split)
HEADROOM = 0.5  # at the target, an item may take half of that, for bursts and the hash's unevenness
WRITE_UNIT = 1_024  # an update costs 1 WRU per KB of the larger of the item before and after
AT = 1_795_521_600_000  # 2026-11-24T12:00:00Z
LONGEST_TENANT = "t" * 63  # api_keys.TENANT_ID allows 63 characters


def item_bytes(item: dict) -> int:
    """DynamoDB's size of an item of strings and numbers: each attribute's name (UTF-8) plus a string's
    UTF-8 bytes, or a number's 1 byte per two significant digits plus 1."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        if isinstance(value, str):
            size += len(value.encode())
        else:
            digits = len(Decimal(str(value)).normalize().as_tuple().digits)
            size += math.ceil(digits / 2) + 1
    return size


def wru(item: dict) -> int:
    return math.ceil(item_bytes(item) / WRITE_UNIT)


def aggregate_item(aggregate: Aggregate, tenant: str | None = LONGEST_TENANT) -> dict:
    """The item as the store writes it: the longest key, the expiry, the counters."""
    pk = aggregate_pks("2026-11-24T12:34", tenant)[AGGREGATE_SHARDS - 1]
    return {"pk": pk, "sk": "AGG", "expiresAt": AT // 1000 + 15 * 86_400, **aggregate.counters()}


def filled(first_bin: int, last_bin: int, count: int, providers: int) -> Aggregate:
    """An aggregate with every bin from first to last holding `count`, in both histograms."""
    aggregate = Aggregate(
        turns=count, errors=count, cache_hits=count, cache_misses=count, failovers=count, interrupted=count
    )
    for histogram in (aggregate.latency, aggregate.first_token):
        histogram.counts = {index: count for index in range(first_bin, last_bin + 1)}
        histogram.total_ms = 1_234_567_890.125  # 13 significant digits, more than a day of turns needs
    aggregate.providers = {f"{'p' * 38}{n:02d}": count for n in range(providers)}
    return aggregate


def worst_item() -> dict:
    """Every bin of both histograms, 7-digit counts (10 million turns in one shard's hour: 2,000 turns/s
    puts 450,000 there), 8 providers with 40-character names, the longest tenant id."""
    return aggregate_item(filled(0, BIN_COUNT - 1, 9_999_999, 8))


def busy_item() -> dict:
    """A busy shard's hour: latencies from 20 ms to 29 s (bins 32-109), 450,000 turns, 4 providers."""
    return aggregate_item(filled(32, 109, 450_000, 4), tenant="acme")


def quiet_item() -> dict:
    """A quiet minute: turns from 100 ms to 2 s (bins 49-80), hundreds of turns, 2 providers."""
    return aggregate_item(filled(49, 80, 300, 2), tenant="acme")


def per_item(turns_s: float, item_wru: int) -> float:
    """WRU/s on one aggregate item: every turn updates one shard of each bucket (minute and hour, all
    tenants and its tenant), so an item takes 1/AGGREGATE_SHARDS of the turns."""
    return turns_s / AGGREGATE_SHARDS * item_wru


def window_keys(minutes: int) -> int:
    """The most keys a window of `minutes` reads, over every position of its end in an hour."""
    most = max(len(plan_window(AT + k * 60_000 + 30_000, minutes).bucket_keys()) for k in range(60))
    return most * len(aggregate_pks("2026-11-24T12"))


def one_busy_second(turns: int, seed: int = 13) -> Counter:
    """Which shards the turns of one second go to: ten turns from each of turns/10 calls (trackingIds as
    staging mints them, `trk_` and 16 URL-safe characters), at random milliseconds of the second."""
    rng = random.Random(seed)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    calls = ["trk_" + "".join(rng.choice(alphabet) for _ in range(16)) for _ in range(turns // 10)]
    return Counter(shard_of(rng.choice(calls), AT + rng.randrange(1000)) for _ in range(turns))


def test_an_aggregate_item_costs_at_most_4_wru_per_update():
    assert item_bytes(worst_item()) <= 4 * WRITE_UNIT
    assert wru(worst_item()) == 4
    assert wru(busy_item()) == 2 and wru(quiet_item()) == 1  # what a busy hour and a quiet minute cost


def test_at_2000_turns_per_second_each_item_takes_at_most_half_its_limit():
    worst = per_item(TARGET_TURNS_S, wru(worst_item()))
    assert worst <= HEADROOM * ITEM_WRU_S
    # ... and the limit is reached only at twice the target, from one tenant or all of them together.
    assert ITEM_WRU_S * AGGREGATE_SHARDS / wru(worst_item()) >= 2 * TARGET_TURNS_S
    # Unsharded, one item took every turn: ~300 turns/s at 3 WRU, 250 at the worst item's 4.
    assert ITEM_WRU_S / wru(worst_item()) == 250


def test_the_shards_share_a_busy_second_evenly():
    shares = one_busy_second(TARGET_TURNS_S)
    assert set(shares) == set(range(AGGREGATE_SHARDS))
    busiest = max(shares.values())
    assert busiest <= 1.25 * TARGET_TURNS_S / AGGREGATE_SHARDS  # 156 of a mean 125
    assert busiest * wru(worst_item()) < ITEM_WRU_S


def test_a_calls_turns_spread_over_the_shards():
    shards = {shard_of("trk_Qm9vX2Jhcl9iYXpx", AT + turn * 4_321) for turn in range(20)}
    assert len(shards) >= 8


def test_what_a_window_read_costs():
    per_bucket = AGGREGATE_SHARDS + 1  # every shard and the unsharded key of before
    assert per_bucket == 17
    assert {minutes: window_keys(minutes) for minutes in (15, 60, 1440, 20_160)} == {
        15: 15 * 17,
        60: 60 * 17,
        1440: 83 * 17,
        20_160: 395 * 17,
    }
    assert math.ceil(window_keys(20_160) / BATCH_KEYS) == 68  # BatchGetItem requests
    assert window_keys(20_160) * 0.5 == 3_357.5  # RRU: eventually consistent, a missing key costs as much


def main() -> None:
    for name, item in (("worst", worst_item()), ("busy", busy_item()), ("quiet", quiet_item())):
        print(f"{name:6} item: {item_bytes(item):5} bytes, {wru(item)} WRU per update")
    for item_wru in (1, 2, 3, 4):
        print(
            f"{TARGET_TURNS_S} turns/s, {item_wru} WRU items: {per_item(TARGET_TURNS_S, item_wru):.0f} WRU/s per item"
        )
    shares = one_busy_second(TARGET_TURNS_S)
    print(
        f"a busy second over {AGGREGATE_SHARDS} shards: {min(shares.values())}-{max(shares.values())} turns"
    )
    for minutes in (15, 60, 1440, 20_160):
        keys = window_keys(minutes)
        print(
            f"{minutes:6}-minute window: {keys:5} keys, {math.ceil(keys / BATCH_KEYS):2} requests, {keys / 2} RRU"
        )


if __name__ == "__main__":
    main()
