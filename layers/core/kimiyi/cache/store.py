"""The cache's storage contract, its checks, and an in-memory store for tests and the local simulation.

The DynamoDB store (`kimiyi.adapters.cache_store.CacheStore`) implements the same contract. Both check
expiry on every read: DynamoDB deletes expired items only eventually (up to two days late) and moto never.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "MAX_KEY_CHARS",
    "MAX_TEXT_CHARS",
    "MAX_TTL_S",
    "META_FIELDS",
    "CacheBackend",
    "CacheStats",
    "CachedReply",
    "MemoryCacheStore",
    "NearCacheStore",
    "check_entry",
    "check_meta",
]

MAX_KEY_CHARS = 200  # our keys are ~75 characters; DynamoDB allows 2048 bytes
MAX_TEXT_CHARS = 16_000  # a spoken reply is a sentence or two; this keeps an item far below 400 KB
MAX_TTL_S = 30 * 24 * 3600
META_FIELDS = ("kind", "provider", "language", "node")  # small, never personal
MAX_META_CHARS = 128

Clock = Callable[[], float]


@dataclass(frozen=True)
class CachedReply:
    key: str
    text: str
    created_at: int  # epoch seconds
    expires_at: int  # epoch seconds
    kind: str | None = None
    provider: str | None = None
    language: str | None = None
    node: str | None = None


@dataclass
class CacheStats:
    """Counters since the store was made (per warm Lambda): for metrics and the health endpoint."""

    hits: int = 0
    misses: int = 0
    expired: int = 0  # misses because the item had expired but was still returned
    errors: int = 0  # reads or writes that failed; a failed read counts as a miss too
    writes: int = 0
    kept: int = 0  # writes skipped because a live entry already held the key
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    @property
    def hit_rate(self) -> float | None:
        reads = self.hits + self.misses
        return self.hits / reads if reads else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "expired": self.expired,
            "errors": self.errors,
            "writes": self.writes,
            "kept": self.kept,
            "hitRate": self.hit_rate,
        }


class CacheBackend(Protocol):
    stats: CacheStats

    def get(self, key: str) -> CachedReply | None: ...

    def put(self, key: str, text: str, ttl_s: int, *, meta: Mapping[str, str] | None = None) -> bool: ...

    def put_many(
        self, items: Mapping[str, str], ttl_s: int, *, meta: Mapping[str, str] | None = None
    ) -> int: ...


def check_entry(key: object, text: object, ttl_s: object) -> None:
    """Raises ValueError/TypeError naming what is wrong with an entry about to be written."""
    check_key(key)
    if not isinstance(text, str):
        raise TypeError(f"cache text must be a str, got {type(text).__name__}")
    if not text.strip():
        raise ValueError(f"cache text for {key!r} is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"cache text for {key!r} is {len(text)} characters; the limit is {MAX_TEXT_CHARS}")
    if not isinstance(ttl_s, int) or isinstance(ttl_s, bool):
        raise TypeError(f"ttl_s must be a whole number of seconds, got {type(ttl_s).__name__}")
    if not 0 < ttl_s <= MAX_TTL_S:
        raise ValueError(f"ttl_s must be between 1 and {MAX_TTL_S} seconds, got {ttl_s}")


def check_key(key: object) -> None:
    if not isinstance(key, str):
        raise TypeError(f"a cache key must be a str, got {type(key).__name__}")
    if not key or len(key) > MAX_KEY_CHARS or not key.isascii() or not key.isprintable():
        raise ValueError(f"{key[:40]!r} is not a cache key (make one with kimiyi.cache.KeyParts.key)")


def check_meta(meta: Mapping[str, str] | None) -> dict[str, str]:
    if meta is None:
        return {}
    if not isinstance(meta, Mapping):
        raise TypeError(f"meta must be a mapping, got {type(meta).__name__}")
    checked: dict[str, str] = {}
    for name, value in meta.items():
        if name not in META_FIELDS:
            raise ValueError(f"unknown cache meta field {name!r}; allowed: {', '.join(META_FIELDS)}")
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > MAX_META_CHARS:
            raise ValueError(f"cache meta {name!r} must be a string of at most {MAX_META_CHARS} characters")
        checked[name] = value
    return checked


class MemoryCacheStore:
    """A dict with the DynamoDB store's behaviour (expiry on read, first writer wins, counters)."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._items: dict[str, CachedReply] = {}
        self._clock = clock
        self.stats = CacheStats()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> CachedReply | None:
        check_key(key)
        item = self._items.get(key)
        if item is not None and item.expires_at <= self._clock():
            self.stats.count("expired")
            item = None
        self.stats.count("hits" if item else "misses")
        return item

    def put(self, key: str, text: str, ttl_s: int, *, meta: Mapping[str, str] | None = None) -> bool:
        check_entry(key, text, ttl_s)
        fields = check_meta(meta)
        now = self._clock()
        current = self._items.get(key)
        if current is not None and current.expires_at > now:
            self.stats.count("kept")
            return False
        self._items[key] = CachedReply(key, text, int(now), int(now) + ttl_s, **fields)
        self.stats.count("writes")
        return True

    def put_many(self, items: Mapping[str, str], ttl_s: int, *, meta: Mapping[str, str] | None = None) -> int:
        for key, text in items.items():
            check_entry(key, text, ttl_s)
        fields = check_meta(meta)
        now = int(self._clock())
        for key, text in items.items():  # overwrites, like BatchWriteItem: pre-rendered lines are exact
            self._items[key] = CachedReply(key, text, now, now + ttl_s, **fields)
        self.stats.count("writes", len(items))
        return len(items)


class NearCacheStore:
    """A warm environment's memory of the entries it read or wrote lately, in front of the shared store.

    Entries never change under a key (the key holds everything the answer depends on), so a copy stays
    right until it expires; a hit found here costs no round trip. At most `capacity` entries, the least
    recently used dropped first. Counters are the shared store's, a hit here counted as a hit."""

    def __init__(self, backend: CacheBackend, capacity: int = 1024, clock: Clock = time.time) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._backend = backend
        self._capacity = capacity
        self._clock = clock
        self._near: OrderedDict[str, CachedReply] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = backend.stats

    def get(self, key: str) -> CachedReply | None:
        check_key(key)
        with self._lock:
            item = self._near.get(key)
            if item is not None and item.expires_at > self._clock():
                self._near.move_to_end(key)
                self.stats.count("hits")
                return item
            self._near.pop(key, None)
        item = self._backend.get(key)
        if item is not None:
            self._remember(item)
        return item

    def put(self, key: str, text: str, ttl_s: int, *, meta: Mapping[str, str] | None = None) -> bool:
        written = self._backend.put(key, text, ttl_s, meta=meta)
        if written:  # else another writer's entry holds the key, and a read will bring that one here
            now = int(self._clock())
            self._remember(CachedReply(key, text, now, now + ttl_s, **check_meta(meta)))
        return written

    def put_many(self, items: Mapping[str, str], ttl_s: int, *, meta: Mapping[str, str] | None = None) -> int:
        written = self._backend.put_many(items, ttl_s, meta=meta)
        now, fields = int(self._clock()), check_meta(meta)
        for key, text in items.items():
            self._remember(CachedReply(key, text, now, now + ttl_s, **fields))
        return written

    def _remember(self, item: CachedReply) -> None:
        with self._lock:
            self._near[item.key] = item
            self._near.move_to_end(item.key)
            while len(self._near) > self._capacity:
                self._near.popitem(last=False)
