"""The near cache: a warm environment's memory in front of the shared cache store."""

from __future__ import annotations

import pytest

from kimiyi.cache import MemoryCacheStore, NearCacheStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class CountingStore(MemoryCacheStore):
    """The shared store, counting the reads that reach it."""

    def __init__(self, clock) -> None:
        super().__init__(clock)
        self.reads = 0

    def get(self, key):
        self.reads += 1
        return super().get(key)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def shared(clock):
    return CountingStore(clock)


def test_an_entry_written_or_read_here_is_answered_without_a_read(shared, clock):
    near = NearCacheStore(shared, clock=clock)
    assert near.put("k1", "We open at nine.", 60, meta={"kind": "reply"})
    assert near.get("k1").text == "We open at nine." and shared.reads == 0
    shared.put("k2", "Written by another environment.", 60)
    assert near.get("k2").text == "Written by another environment." and shared.reads == 1
    assert near.get("k2").text == "Written by another environment." and shared.reads == 1
    assert near.get("absent") is None and shared.reads == 2
    assert (near.stats.hits, near.stats.misses) == (3, 1)  # the shared store's counters


def test_an_expired_copy_is_not_served(shared, clock):
    near = NearCacheStore(shared, clock=clock)
    near.put("k", "Soon stale.", 10)
    clock.now += 11
    assert near.get("k") is None and shared.reads == 1


def test_another_writers_entry_wins_over_ours(shared, clock):
    near = NearCacheStore(shared, clock=clock)
    shared.put("k", "First writer.", 60)
    assert near.put("k", "Second writer.", 60) is False
    assert near.get("k").text == "First writer."


def test_at_most_capacity_entries_are_kept_least_recently_used_first_out(shared, clock):
    near = NearCacheStore(shared, capacity=2, clock=clock)
    near.put_many({"a": "A.", "b": "B."}, 60)
    near.get("a")  # a is now the most recently used
    near.put("c", "C.", 60)  # b goes
    reads = shared.reads
    assert [near.get(key).text for key in ("a", "c")] == ["A.", "C."] and shared.reads == reads
    assert near.get("b").text == "B." and shared.reads == reads + 1


@pytest.mark.parametrize("key", ["", "é", 7])
def test_bad_keys_are_refused_before_any_read(shared, key):
    with pytest.raises((TypeError, ValueError)):
        NearCacheStore(shared).get(key)
    assert shared.reads == 0


def test_capacity_must_be_positive(shared):
    with pytest.raises(ValueError, match="capacity"):
        NearCacheStore(shared, capacity=0)
