"""Per-turn metrics and per-minute/per-hour aggregates in the calls table. No read scans the table.

Items (every one with `expiresAt`, epoch seconds, for DynamoDB's TTL, checked on read as well):

Every call item carries `tenantId` (items written before tenants existed belong to `default`): a call's
turns are read back only for the tenant that owns them, and unknown and foreign calls look alike.

- `CALL#<trackingId>` / `TURN#<turn, 5 digits>`: one turn's record (kimiyi.metrics.TurnRecord). If
  two turns of one call ever carry the same number (two invocations saved from the same state), the
  second is kept as `TURN#<n>#<at ms>` rather than overwriting the first.
- `CALL#<trackingId>` / `TURN#ERRORS`: `errors` (ADD), `lastErrorAt`: the call's failed turns. It sorts
  after the numbered turns, so one Query (`sk begins_with TURN#`) reads a call's whole record.
- `METRICS#<tenant>#<yyyy-mm-ddThh:mm>#<shard>` / `AGG` and `METRICS#<tenant>#<yyyy-mm-ddThh>#<shard>` /
  `AGG`: a tenant's minute and hour, read by the API; `METRICS#<yyyy-mm-ddThh:mm>#<shard>` and
  `METRICS#<yyyy-mm-ddThh>#<shard>`: the same over all tenants, read by health. `<shard>` is two digits,
  00-15 (`AGGREGATE_SHARDS`): each bucket is spread over 16 items so no item takes more than 1/16 of the
  turns. Each holds the `Aggregate` counters (turns, errors, cacheHits, ..., one `lat_NNN`/`ftt_NNN`
  counter per histogram bin), updated with one `ADD` per turn each: atomic, so concurrent turns never
  lose a count, and nothing is read first. A turn's shard is a hash (CRC-32) of its trackingId and its
  time in ms, so a call's turns spread over the shards, and its four updates (minute and hour, all
  tenants and its tenant) go to the same shard number.
- `METRICS#<tenant>#<bucket>` and `METRICS#<bucket>` (no shard): the unsharded items written before
  sharding. Reads still add them, as one more shard per bucket (1 key in 17), so a window that reaches
  back before the change loses nothing; they expire 14 days after their bucket, and nothing writes them.

Costs (on-demand): a turn writes its record (1 WRU; under 1 KB) and updates four aggregate items (each
charged by the item's size: 1 WRU while it is small, 2-3 as its bins fill, 4 at the very worst), so
5-17 WRU per turn; sharding adds no write. A window read is a BatchGetItem of 17 keys per bucket (16
shards and the unsharded key; a missing item still costs a read) over at most 59 minute buckets plus one
per hour: 1 hour <= 1,020 keys (11 requests), 24 hours <= 1,411 (15), 14 days <= 6,715 (68 requests,
3,358 RRU), 0.5 RRU per key (eventually consistent, < 4 KB); the requests run 8 at a time. A call's
read is one Query (0.5 RRU per 4 KB of turn records), plus one GetItem when it has no turns.
Limit: DynamoDB sustains about 1,000 WRU/s per item (a partition's limit; one item is never split). At
2,000 turns/s each aggregate item gets 2,000 / 16 = 125 updates/s, 500 WRU/s at the worst item size
(4 WRU), half the limit; so about 4,000 turns/s in total, from one tenant or all of them (docs/metrics.md
has the arithmetic).
"""

from __future__ import annotations

import itertools
import json
import logging
import time
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key
from botocore.config import Config

from ..api_keys import DEFAULT_TENANT
from ..metrics.aggregate import Aggregate
from ..metrics.record import TurnRecord
from ..metrics.window import HOUR, MINUTE, WindowPlan, hour_key, minute_key, minute_of
from .items import METRICS_TTL_S, ConditionFailed, call_key, call_pk, conditional

__all__ = [
    "AGGREGATE_SHARDS",
    "METRICS_TTL_S",
    "CallTurns",
    "MetricsReadError",
    "MetricsStore",
    "aggregate_pks",
    "open_metrics_store",
    "shard_of",
    "turn_sk",
]

logger = logging.getLogger(__name__)

TURN_PREFIX = "TURN#"
ERRORS_SK = "TURN#ERRORS"
AGG_SK = "AGG"
BATCH_KEYS = 100  # BatchGetItem's limit per request
READ_THREADS = 8  # BatchGetItem requests in flight at once (a 14-day window is 68 requests)
# Items per aggregate bucket. Raising it is safe (readers read every shard they know of); lowering it
# would hide the higher shards' items until they expire, 14 days after their bucket.
AGGREGATE_SHARDS = 16
UNPROCESSED_RETRIES = 5
# Readers that answer people (the API, health) would rather say "unavailable" than hang.
READ_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 2, "mode": "standard"})
PROBE_CONFIG = Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1, "mode": "standard"})


class MetricsReadError(RuntimeError):
    """DynamoDB did not return every aggregate item, even after retries."""


@dataclass
class CallTurns:
    records: list[TurnRecord] = field(default_factory=list)
    errors: int = 0
    mode: str = "stream"  # turn records are ConversationRelay turns; a turnless call's comes from its session


def turn_sk(turn: int) -> str:
    return f"{TURN_PREFIX}{turn:05d}"


class MetricsStore:
    def __init__(
        self,
        table: Any,  # a boto3 Table resource (the calls table)
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = table
        self._clock = clock
        self._sleep = sleep

    # ------------------------------------------------------------------ writes (the relay)
    def record_turn(self, record: TurnRecord, tenant_id: str = DEFAULT_TENANT) -> None:
        item = {
            **call_key(record.tracking_id, turn_sk(record.turn)),
            "expiresAt": record.at_ms // 1000 + METRICS_TTL_S,
            **_to_dynamo(record.to_dict()),
            "tenantId": tenant_id,
        }
        try:
            with conditional():
                self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(sk)")
        except ConditionFailed:
            self._table.put_item(Item={**item, "sk": f"{item['sk']}#{record.at_ms}"})
        self._add(Aggregate.of_turn(record), record.at_ms, tenant_id, record.tracking_id)

    def record_failure(self, tracking_id: str | None, at_ms: int, tenant_id: str | None = None) -> None:
        """A failed turn: counted under its call when the call is known, and in the aggregates (the
        tenant's too when it is known)."""
        if tracking_id:
            self._table.update_item(
                Key=call_key(tracking_id, ERRORS_SK),
                UpdateExpression="SET lastErrorAt = :at, expiresAt = :exp, tenantId = :tenant ADD errors :one",
                ExpressionAttributeValues={
                    ":at": at_ms,
                    ":exp": at_ms // 1000 + METRICS_TTL_S,
                    ":tenant": tenant_id or DEFAULT_TENANT,
                    ":one": 1,
                },
            )
        self._add(Aggregate.of_failure(), at_ms, tenant_id, tracking_id)

    def _add(self, delta: Aggregate, at_ms: int, tenant_id: str | None, tracking_id: str | None) -> None:
        counters = delta.counters()
        names = {f"#c{i}": name for i, name in enumerate(counters)}
        values: dict[str, Any] = {f":c{i}": _to_dynamo(value) for i, value in enumerate(counters.values())}
        adds = ", ".join(f"#c{i} :c{i}" for i in range(len(counters)))
        minute = minute_of(at_ms)
        hour = minute.replace(minute=0)
        buckets = ((minute_key(minute), minute, MINUTE), (hour_key(hour), hour, HOUR))
        scopes = (None, tenant_id) if tenant_id else (None,)
        shard = shard_of(tracking_id, at_ms)
        for (key, start, length), scope in itertools.product(buckets, scopes):
            # The expiry is a function of the bucket, so every writer SETs the same value.
            expires = int((start + length).timestamp()) + METRICS_TTL_S
            self._table.update_item(
                Key={"pk": _shard_pk(_aggregate_pk(key, scope), shard), "sk": AGG_SK},
                UpdateExpression=f"SET #exp = :exp ADD {adds}",
                ExpressionAttributeNames={**names, "#exp": "expiresAt"},
                ExpressionAttributeValues={**values, ":exp": expires},
            )

    # ------------------------------------------------------------------ reads (the API, health)
    def call_turns(self, tracking_id: str, tenant_id: str) -> CallTurns | None:
        """The call's turns in order and its failed-turn count; None when the call is unknown or is
        another tenant's."""
        now = self._clock()
        found = CallTurns()
        seen_any = False
        query: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(call_pk(tracking_id)) & Key("sk").begins_with(TURN_PREFIX)
        }
        while True:
            page = self._table.query(**query)
            for item in page.get("Items", []):
                if int(item.get("expiresAt", 0)) <= now or _owner(item) != tenant_id:
                    continue
                seen_any = True
                if item["sk"] == ERRORS_SK:
                    found.errors += int(item.get("errors", 0))
                    continue
                try:
                    found.records.append(TurnRecord.from_dict(_from_dynamo(item)))
                except (ValueError, TypeError, KeyError) as error:
                    logger.warning("skipped a malformed turn record %s: %s", item.get("sk"), error)
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if not seen_any:
            session = self._session(tracking_id, now)
            if session is None or _owner(session) != tenant_id:
                return None
            found.mode = _session_mode(session)
        found.records.sort(key=lambda record: (record.turn, record.at_ms))
        return found

    def _session(self, tracking_id: str, now: float) -> dict[str, Any] | None:
        """The staged session, if alive: its owner, and the snapshot JSON for the call's mode (a GetItem
        is charged for the whole item whatever it projects, so reading the JSON costs nothing more)."""
        item = self._table.get_item(
            Key=call_key(tracking_id, "SESSION"),
            ProjectionExpression="pk, expiresAt, tenantId, #session",
            ExpressionAttributeNames={"#session": "session"},
        ).get("Item")
        return item if item and int(item.get("expiresAt", 0)) > now else None

    def window(self, plan: WindowPlan, tenant_id: str | None = None) -> Aggregate:
        """The sum of the window's hour and minute aggregates, every shard of each (BatchGetItem, no
        Scan): the tenant's, or with no tenant, all tenants' (health)."""
        now = self._clock()
        total = Aggregate()
        keys = [
            {"pk": pk, "sk": AGG_SK}
            for bucket in plan.bucket_keys()
            for pk in aggregate_pks(bucket, tenant_id)
        ]
        batches = [keys[start : start + BATCH_KEYS] for start in range(0, len(keys), BATCH_KEYS)]
        if len(batches) > 1:
            with ThreadPoolExecutor(min(READ_THREADS, len(batches))) as pool:
                replies = list(pool.map(self._batch_get, batches))
        else:
            replies = [self._batch_get(batch) for batch in batches]
        for items in replies:
            for item in items:
                if int(item.get("expiresAt", 0)) > now:
                    total.merge(Aggregate.from_counters(_from_dynamo(item)))
        return total

    def _batch_get(self, keys: list[dict[str, str]]) -> list[dict[str, Any]]:
        name = self._table.name
        client = self._table.meta.client
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {name: {"Keys": keys}}
        for attempt in range(UNPROCESSED_RETRIES + 1):
            reply = client.batch_get_item(RequestItems=request)
            items.extend(reply.get("Responses", {}).get(name, []))
            request = reply.get("UnprocessedKeys") or {}
            if not request:
                return items
            if attempt < UNPROCESSED_RETRIES:
                self._sleep(0.05 * 2**attempt)  # DynamoDB asks for backoff on unprocessed keys
        raise MetricsReadError(f"{len(request[name]['Keys'])} aggregate items stayed unprocessed")


def open_metrics_store(table_name: str, config: Config = READ_CONFIG) -> MetricsStore:
    """A store on its own DynamoDB resource with short timeouts (for the API and health)."""
    return MetricsStore(boto3.resource("dynamodb", config=config).Table(table_name))


def shard_of(tracking_id: str | None, at_ms: int) -> int:
    """The shard a turn's aggregates go to: stable for one turn, spread over a call's turns and calls."""
    return zlib.crc32(f"{tracking_id or ''}#{at_ms}".encode()) % AGGREGATE_SHARDS


def aggregate_pks(bucket: str, tenant_id: str | None = None) -> list[str]:
    """Every key a bucket's counters may be under: its shards, then the unsharded key of before."""
    unsharded = _aggregate_pk(bucket, tenant_id)
    return [_shard_pk(unsharded, shard) for shard in range(AGGREGATE_SHARDS)] + [unsharded]


def _aggregate_pk(bucket: str, tenant_id: str | None) -> str:
    return f"METRICS#{tenant_id}#{bucket}" if tenant_id else f"METRICS#{bucket}"


def _shard_pk(unsharded: str, shard: int) -> str:
    return f"{unsharded}#{shard:02d}"


def _session_mode(item: Mapping[str, Any]) -> str:
    """The mode make-call staged ("stream" when the snapshot does not say, as Session.from_record reads it)."""
    try:
        mode = json.loads(item.get("session") or "{}").get("mode", "stream")
    except (ValueError, AttributeError):
        return "stream"
    return mode if mode in ("stream", "classic") else "stream"


def _owner(item: Mapping[str, Any]) -> str:
    return str(item.get("tenantId") or DEFAULT_TENANT)


def _to_dynamo(value: Any) -> Any:
    """Floats become Decimals (boto3 refuses floats); None fields are left out (they read back as None)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value
