"""The cache table in DynamoDB: one item per key (`pk`), the answer's text, a little metadata, and
`expiresAt` (epoch seconds) for DynamoDB's TTL.

Reads are one eventually consistent GetItem. That is safe here because a key names its answer's whole
context: whatever item a read returns under a key is a right answer for it, and the only thing a
slightly stale read can do is miss an item written a moment ago, which costs one LLM reply, never a
wrong one. It also halves the read cost. Expiry is checked on read: DynamoDB may return expired items
for up to two days, and moto never removes them.

The cache is an optimisation, so DynamoDB trouble never reaches the call: a failed read is a miss, a
failed write is skipped, both are counted (`stats.errors`) and logged by error type only. Bad input
(a malformed key, empty text, a silly TTL) is a programming error and raises.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..cache.store import CachedReply, CacheStats, check_entry, check_key, check_meta
from .items import ConditionFailed, conditional

__all__ = ["CACHE_CLIENT_CONFIG", "CacheStore", "open_cache_store"]

logger = logging.getLogger(__name__)

# A lookup has to be much cheaper than the LLM reply it saves (DESIGN §4: the whole warm lookup path is
# within 15 ms). Short limits and one retry: a slow cache is a miss, and the LLM takes over.
CACHE_CLIENT_CONFIG = Config(
    connect_timeout=0.5,
    read_timeout=0.5,
    retries={"max_attempts": 2, "mode": "standard"},
    tcp_keepalive=True,
)


class CacheStore:
    """get / put / put_many on the cache table (a boto3 Table resource), with hit and miss counters."""

    def __init__(self, table: Any, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock
        self.stats = CacheStats()

    def get(self, key: str) -> CachedReply | None:
        check_key(key)
        try:
            item = self._table.get_item(Key={"pk": key}).get("Item")
        except (ClientError, BotoCoreError) as error:
            self._failed("read", error)
            self.stats.count("misses")
            return None
        if item is not None and int(item.get("expiresAt", 0)) <= self._clock():
            self.stats.count("expired")
            item = None
        if item is None or not isinstance(item.get("text"), str):
            self.stats.count("misses")
            return None
        self.stats.count("hits")
        return CachedReply(
            key=key,
            text=item["text"],
            created_at=int(item.get("createdAt", 0)),
            expires_at=int(item["expiresAt"]),
            kind=item.get("kind"),
            provider=item.get("provider"),
            language=item.get("language"),
            node=item.get("node"),
        )

    def put(self, key: str, text: str, ttl_s: int, *, meta: Mapping[str, str] | None = None) -> bool:
        """Writes unless a live entry holds the key (the first answer wins, so conversations that
        continue from it keep matching); True when written."""
        check_entry(key, text, ttl_s)
        item = self._item(key, text, ttl_s, check_meta(meta))
        try:
            with conditional():
                self._table.put_item(
                    Item=item,
                    ConditionExpression="attribute_not_exists(pk) OR expiresAt <= :now",
                    ExpressionAttributeValues={":now": item["createdAt"]},
                )
        except ConditionFailed:
            self.stats.count("kept")
            return False
        except (ClientError, BotoCoreError) as error:
            self._failed("write", error)
            return False
        self.stats.count("writes")
        return True

    def put_many(self, items: Mapping[str, str], ttl_s: int, *, meta: Mapping[str, str] | None = None) -> int:
        """BatchWriteItem (25 per request, unprocessed items retried by boto3) for pre-rendered lines,
        which are exact, so overwriting is fine. Returns how many were written (0 when the batch failed)."""
        for key, text in items.items():
            check_entry(key, text, ttl_s)
        fields = check_meta(meta)
        if not items:
            return 0
        try:
            with self._table.batch_writer(overwrite_by_pkeys=["pk"]) as batch:
                for key, text in items.items():
                    batch.put_item(Item=self._item(key, text, ttl_s, fields))
        except (ClientError, BotoCoreError) as error:
            self._failed("batch write", error)
            return 0
        self.stats.count("writes", len(items))
        return len(items)

    def _item(self, key: str, text: str, ttl_s: int, fields: dict[str, str]) -> dict[str, Any]:
        now = int(self._clock())
        return {"pk": key, "text": text, "createdAt": now, "expiresAt": now + ttl_s, **fields}

    def _failed(self, what: str, error: Exception) -> None:
        self.stats.count("errors")
        code = error.response.get("Error", {}).get("Code", "") if isinstance(error, ClientError) else ""
        logger.warning("cache %s failed: %s %s", what, type(error).__name__, code)


def open_cache_store(table_name: str, clock: Callable[[], float] = time.time) -> CacheStore:
    """The store on `table_name` (the CACHE_TABLE environment variable) with the short-timeout client.
    Create it once per execution environment, at module scope."""
    if not table_name:
        raise ValueError("no cache table name: set CACHE_TABLE (the template's CacheTable)")
    resource = boto3.resource("dynamodb", config=CACHE_CLIENT_CONFIG)
    return CacheStore(resource.Table(table_name), clock)
