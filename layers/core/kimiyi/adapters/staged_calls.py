"""What make-call writes to the calls table around the dial: the session, then the callSid, or nothing.

The session item (CALL#<trackingId> / SESSION) is written by CallsStore.put_session before dialing,
because Twilio may fetch the TwiML webhook as soon as calls.create returns. After the dial the item
gets `callSid`, `dialStatus` and `dialedAt` as top-level attributes (the stored session JSON is left
alone). A failed dial deletes the item: a session exists only for a call that was placed or staged
as a dry run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .calls_store import CallsStore
from .items import call_key


class StagedCalls:
    def __init__(self, table: Any, clock: Callable[[], float] = time.time) -> None:  # a boto3 Table
        self._table = table
        self._store = CallsStore(table, clock)
        self._clock = clock

    def put(self, tracking_id: str, session: dict[str, Any]) -> None:
        self._store.put_session(tracking_id, session)

    def record_dial(self, tracking_id: str, call_sid: str, status: str) -> None:
        self._table.update_item(
            Key=_key(tracking_id),
            UpdateExpression="SET callSid = :sid, dialStatus = :status, dialedAt = :at",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":sid": call_sid, ":status": status, ":at": int(self._clock())},
        )

    def discard(self, tracking_id: str) -> None:
        self._table.delete_item(Key=_key(tracking_id))

    def get(self, tracking_id: str) -> dict[str, Any] | None:
        """The raw item (session JSON plus dial attributes); for checks and tests."""
        return self._table.get_item(Key=_key(tracking_id), ConsistentRead=True).get("Item")


def _key(tracking_id: str) -> dict[str, str]:
    return call_key(tracking_id, "SESSION")
