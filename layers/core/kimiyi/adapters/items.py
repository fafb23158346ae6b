"""The calls table's keys and lifetimes, and the one test for a failed conditional write, in one place.

Partition keys: `CALL#<trackingId>` (a call's session, state, turn claim, interrupt, status, classic turns,
turn records), `CONN#<connectionId>` (which call a WebSocket belongs to), `INBOUND#<E.164 number>` (the
template for calls to one of our numbers), `METRICS#…` (aggregates: adapters/metrics_store.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError

CALL_TTL_SECONDS = 24 * 3600  # a call's items live a day from their last write
METRICS_TTL_S = 14 * 24 * 3600  # turn records and aggregates; kimiyi.metrics.window.MAX_WINDOW_MINUTES


def call_pk(tracking_id: str) -> str:
    return f"CALL#{tracking_id}"


def call_key(tracking_id: str, sk: str) -> dict[str, str]:
    return {"pk": call_pk(tracking_id), "sk": sk}


def connection_key(connection_id: str) -> dict[str, str]:
    return {"pk": f"CONN#{connection_id}", "sk": "CONN"}


def inbound_key(number: str) -> dict[str, str]:
    return {"pk": f"INBOUND#{number}", "sk": "WORKFLOW"}


def alive(item: dict | None, now: float) -> dict | None:
    """The item unless its `expiresAt` has passed: DynamoDB may return expired items for up to two days,
    and moto never expires them."""
    if item is None or int(item.get("expiresAt", 0)) <= now:
        return None
    return item


class ConditionFailed(Exception):
    """A conditional write found the item not as the condition required; nothing was written."""


@contextmanager
def conditional() -> Iterator[None]:
    """Turns DynamoDB's ConditionalCheckFailedException into ConditionFailed; other errors pass."""
    try:
        yield
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise ConditionFailed(str(error)) from None
        raise
