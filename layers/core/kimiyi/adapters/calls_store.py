"""The calls table: call sessions, conversation state and the WebSocket connection map.

Keys: `CALL#<trackingId>` / `SESSION` (what make-call staged), `CALL#<trackingId>` / `STATE` (the
conversation, versioned: every write is conditional on the version read, so two invocations for one call
never lose an update; `turnId` names the last turn that finished with it, saved or not, which is what a
turn that replaced it waits for), `CONN#<connectionId>` / `CONN` (which call a WebSocket belongs to). Every item
carries `expiresAt` (epoch seconds) for DynamoDB's TTL, which is checked on read as well: DynamoDB may
return expired items for up to two days, and moto never expires them.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ..api_keys import DEFAULT_TENANT
from .items import CALL_TTL_SECONDS, ConditionFailed, alive, call_key, conditional, connection_key


class DuplicateTurn(RuntimeError):
    """The same caller input already started a turn moments ago."""


class ConflictError(RuntimeError):
    """The state changed since it was read: another invocation for the same call wrote first."""


@dataclass(frozen=True)
class StoredState:
    state: dict[str, Any] | None  # None: no turn has saved one yet
    version: int  # 0 when there is none
    turn_id: str | None  # the last turn that finished with it (saved it, or let it be)


@dataclass(frozen=True)
class Connection:
    connection_id: str
    tracking_id: str
    call_sid: str = ""


class SessionExists(RuntimeError):
    """A session was already staged under this trackingId (a retried webhook staged it first)."""


class CallsStore:
    def __init__(self, table: Any, clock: Any = time.time) -> None:  # a boto3 Table resource
        self._table = table
        self._clock = clock

    def _expiry(self) -> int:
        return int(self._clock()) + CALL_TTL_SECONDS

    # ------------------------------------------------------------------ sessions
    def get_session(self, tracking_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key=call_key(tracking_id, "SESSION")).get("Item")
        item = alive(item, self._clock())
        return json.loads(item["session"]) if item else None

    def put_session(self, tracking_id: str, session: dict[str, Any]) -> None:
        """Stores what make-call staged: the workflow snapshot, variables, mode (once per trackingId:
        SessionExists when one is there already)."""
        try:
            with conditional():
                self._table.put_item(
                    Item={
                        **call_key(tracking_id, "SESSION"),
                        "session": json.dumps(session, ensure_ascii=False),
                        # Beside the JSON too, so an ownership check reads it without the workflow.
                        "tenantId": session.get("tenantId") or DEFAULT_TENANT,
                        "expiresAt": self._expiry(),
                    },
                    ConditionExpression="attribute_not_exists(pk)",
                )
        except ConditionFailed:
            raise SessionExists(tracking_id) from None

    # ------------------------------------------------------------------ conversation state
    def load_state(self, tracking_id: str) -> tuple[dict[str, Any] | None, int]:
        """The stored state and its version (0 when there is none yet)."""
        stored = self.read_state(tracking_id)
        return stored.state, stored.version

    def read_state(self, tracking_id: str) -> StoredState:
        """The stored state, its version and the last turn that finished with it, in one consistent read."""
        item = self._table.get_item(Key=call_key(tracking_id, "STATE"), ConsistentRead=True).get("Item")
        item = alive(item, self._clock())
        if item is None:
            return StoredState(None, 0, None)
        state = json.loads(item["state"]) if "state" in item else None
        return StoredState(state, int(item.get("version", 0)), item.get("turnId"))

    def save_state(
        self, tracking_id: str, state: dict[str, Any], expected_version: int, turn_id: str | None = None
    ) -> int:
        """Writes the state if nobody wrote since `expected_version` was read; returns the new version.
        `turn_id` names the turn that saved it."""
        condition = "attribute_not_exists(version)" if expected_version == 0 else "version = :expected"
        values = (
            {} if expected_version == 0 else {"ExpressionAttributeValues": {":expected": expected_version}}
        )
        item = {
            **call_key(tracking_id, "STATE"),
            "state": json.dumps(state, ensure_ascii=False),  # JSON: no float-to-Decimal surprises
            "version": expected_version + 1,
            "expiresAt": self._expiry(),
        }
        if turn_id:
            item["turnId"] = turn_id
        try:
            with conditional():
                self._table.put_item(Item=item, ConditionExpression=condition, **values)
        except ConditionFailed:
            raise ConflictError(tracking_id) from None
        return expected_version + 1

    def release_state(self, tracking_id: str, turn_id: str) -> None:
        """Notes that `turn_id` finished without saving (its words came after the goodbye, its save lost
        a race, or it failed): the turn that replaced it, waiting for its save, goes on at once."""
        self._table.update_item(
            Key=call_key(tracking_id, "STATE"),
            UpdateExpression="SET turnId = :turn, expiresAt = if_not_exists(expiresAt, :expires)",
            ExpressionAttributeValues={":turn": turn_id, ":expires": self._expiry()},
        )

    # ------------------------------------------------------------------ barge-in
    def mark_interrupt(self, tracking_id: str, heard: str, at_ms: int) -> None:
        """Records that the caller interrupted after hearing `heard`; the turn that owns the reply applies it."""
        self._table.put_item(
            Item={
                **call_key(tracking_id, "INTERRUPT"),
                "heard": heard,
                "at": at_ms,
                "expiresAt": self._expiry(),
            }
        )

    def take_interrupt(self, tracking_id: str) -> tuple[str, int] | None:
        """Removes and returns the pending interrupt (what was heard, when), if any."""
        old = self._table.delete_item(Key=call_key(tracking_id, "INTERRUPT"), ReturnValues="ALL_OLD").get(
            "Attributes"
        )
        return (old["heard"], int(old["at"])) if old else None

    # ------------------------------------------------------------------ the turn in flight
    def claim_turn(
        self, tracking_id: str, turn_id: str, words: str, *, duplicate_window_ms: int
    ) -> dict[str, Any] | None:
        """Makes `turn_id` the call's current turn; returns the turn it replaced, if any.

        Raises DuplicateTurn when the same caller words started a turn less than `duplicate_window_ms`
        ago: the same frame delivered twice must not become two turns."""
        now_ms = int(self._clock() * 1000)
        try:
            with conditional():
                old = self._table.put_item(
                    Item={
                        **call_key(tracking_id, "ACTIVE"),
                        "turnId": turn_id,
                        "words": words,
                        "at": now_ms,
                        "done": False,
                        "expiresAt": self._expiry(),
                    },
                    ConditionExpression="attribute_not_exists(pk) OR words <> :words OR #at < :cutoff",
                    ExpressionAttributeNames={"#at": "at"},
                    ExpressionAttributeValues={":words": words, ":cutoff": now_ms - duplicate_window_ms},
                    ReturnValues="ALL_OLD",
                ).get("Attributes")
        except ConditionFailed:
            raise DuplicateTurn(tracking_id) from None
        return old or None

    def finish_turn(self, tracking_id: str, turn_id: str, state_version: int | None = None) -> None:
        """Marks the turn done and notes the state version it left (None: not known, e.g. its save
        lost a race), so the next turn can tell whether a copy of that state it already has is current."""
        values: dict[str, Any] = {":done": True, ":turn": turn_id}
        update = "SET done = :done REMOVE stateVersion"
        if state_version is not None:
            update, values[":version"] = "SET done = :done, stateVersion = :version", state_version
        with contextlib.suppress(ConditionFailed), conditional():  # failed: a newer turn owns the call
            self._table.update_item(
                Key=call_key(tracking_id, "ACTIVE"),
                UpdateExpression=update,
                ConditionExpression="turnId = :turn",
                ExpressionAttributeValues=values,
            )

    def turn_signals(self, tracking_id: str) -> tuple[str | None, int | None]:
        """(the current turn's id, when the caller last interrupted) in one round trip."""
        keys = [call_key(tracking_id, sk) for sk in ("ACTIVE", "INTERRUPT")]
        name = self._table.name
        items = self._table.meta.client.batch_get_item(
            RequestItems={name: {"Keys": keys, "ConsistentRead": True}}
        )["Responses"].get(name, [])
        active = next((i.get("turnId") for i in items if i["sk"] == "ACTIVE"), None)
        interrupt = next((int(i["at"]) for i in items if i["sk"] == "INTERRUPT"), None)
        return active, interrupt

    # ------------------------------------------------------------------ connection map
    def map_connection(self, connection_id: str, tracking_id: str) -> None:
        self._table.put_item(
            Item={
                **connection_key(connection_id),
                "trackingId": tracking_id,
                "connectedAt": int(self._clock() * 1000),
                "expiresAt": self._expiry(),
            }
        )

    def bind_call(self, connection_id: str, call_sid: str) -> None:
        self._table.update_item(
            Key=connection_key(connection_id),
            UpdateExpression="SET callSid = :sid",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":sid": call_sid},
        )

    def connection(self, connection_id: str) -> Connection | None:
        item = self._table.get_item(Key=connection_key(connection_id), ConsistentRead=True).get("Item")
        item = alive(item, self._clock())
        if item is None:
            return None
        return Connection(connection_id, item["trackingId"], item.get("callSid", ""))

    def unmap_connection(self, connection_id: str) -> Connection | None:
        try:
            old = self._table.delete_item(Key=connection_key(connection_id), ReturnValues="ALL_OLD").get(
                "Attributes"
            )
        except ClientError:
            return None
        if not old:
            return None
        return Connection(connection_id, old["trackingId"], old.get("callSid", ""))
