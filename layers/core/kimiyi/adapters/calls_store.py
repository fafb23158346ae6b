"""The calls table: call sessions, conversation state and the WebSocket connection map.

Keys: `CALL#<trackingId>` / `SESSION` (what make-call staged), `CALL#<trackingId>` / `STATE` (the
conversation, versioned: every write is conditional on the version read, so two invocations for one call
never lose an update), `CONN#<connectionId>` / `CONN` (which call a WebSocket belongs to). Every item
carries `expiresAt` (epoch seconds) for DynamoDB's TTL, which is checked on read as well: DynamoDB may
return expired items for up to two days, and moto never expires them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

CALL_TTL_SECONDS = 24 * 3600


class ConflictError(RuntimeError):
    """The state changed since it was read: another invocation for the same call wrote first."""


@dataclass(frozen=True)
class Connection:
    connection_id: str
    tracking_id: str
    call_sid: str = ""


def _alive(item: dict[str, Any] | None, now: float) -> dict[str, Any] | None:
    if item is None or int(item.get("expiresAt", 0)) <= now:
        return None
    return item


class CallsStore:
    def __init__(self, table: Any, clock: Any = time.time) -> None:  # a boto3 Table resource
        self._table = table
        self._clock = clock

    def _expiry(self) -> int:
        return int(self._clock()) + CALL_TTL_SECONDS

    # ------------------------------------------------------------------ sessions
    def get_session(self, tracking_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"pk": f"CALL#{tracking_id}", "sk": "SESSION"}).get("Item")
        return _alive(item, self._clock())

    def put_session(self, tracking_id: str, session: dict[str, Any]) -> None:
        self._table.put_item(
            Item={**session, "pk": f"CALL#{tracking_id}", "sk": "SESSION", "expiresAt": self._expiry()},
            ConditionExpression="attribute_not_exists(pk)",
        )

    # ------------------------------------------------------------------ connection map
    def map_connection(self, connection_id: str, tracking_id: str) -> None:
        self._table.put_item(
            Item={
                "pk": f"CONN#{connection_id}",
                "sk": "CONN",
                "trackingId": tracking_id,
                "connectedAt": int(self._clock() * 1000),
                "expiresAt": self._expiry(),
            }
        )

    def bind_call(self, connection_id: str, call_sid: str) -> None:
        self._table.update_item(
            Key={"pk": f"CONN#{connection_id}", "sk": "CONN"},
            UpdateExpression="SET callSid = :sid",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":sid": call_sid},
        )

    def connection(self, connection_id: str) -> Connection | None:
        item = self._table.get_item(
            Key={"pk": f"CONN#{connection_id}", "sk": "CONN"}, ConsistentRead=True
        ).get("Item")
        item = _alive(item, self._clock())
        if item is None:
            return None
        return Connection(connection_id, item["trackingId"], item.get("callSid", ""))

    def unmap_connection(self, connection_id: str) -> Connection | None:
        try:
            old = self._table.delete_item(
                Key={"pk": f"CONN#{connection_id}", "sk": "CONN"}, ReturnValues="ALL_OLD"
            ).get("Attributes")
        except ClientError:
            return None
        if not old:
            return None
        return Connection(connection_id, old["trackingId"], old.get("callSid", ""))
