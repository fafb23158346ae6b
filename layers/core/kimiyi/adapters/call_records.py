"""Calls-table items the Twilio webhooks own, next to kimiyi.adapters.calls_store's SESSION and STATE:

- `CALL#<trackingId>` / `STATUS`: Twilio's view of the call (status, duration, answeredBy, the
  ConversationRelay session's end and handoff data, errors, timestamps);
- `CALL#<trackingId>` / `TWIML#<turn>`: the TwiML answered to each classic Gather turn, so a retried
  webhook gets the same answer without advancing the conversation again;
- `INBOUND#<E.164 number>` / `WORKFLOW`: the session template for calls to one of our numbers (no TTL).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from ..api_keys import DEFAULT_TENANT
from ..webhooks import STATUS_RANK
from .items import CALL_TTL_SECONDS, ConditionFailed, alive, call_key, conditional, inbound_key


class CallRecords:
    def __init__(self, table: Any, clock: Any = time.time) -> None:  # a boto3 Table resource
        self._table = table
        self._clock = clock

    def _expiry(self) -> int:
        return int(self._clock()) + CALL_TTL_SECONDS

    # ------------------------------------------------------------------ classic turns
    def rendered(self, tracking_id: str, turn_key: str) -> tuple[str, str] | None:
        """(callSid, TwiML) answered earlier for this turn, if any."""
        item = self._table.get_item(Key=call_key(tracking_id, f"TWIML#{turn_key}"), ConsistentRead=True)
        item = alive(item.get("Item"), self._clock())
        return (item["callSid"], item["twiml"]) if item else None

    def keep_rendered(self, tracking_id: str, turn_key: str, call_sid: str, twiml: str) -> str:
        """Stores this turn's TwiML unless another invocation stored it first; returns the stored one."""
        try:
            with conditional():
                self._table.put_item(
                    Item={
                        **call_key(tracking_id, f"TWIML#{turn_key}"),
                        "callSid": call_sid,
                        "twiml": twiml,
                        "expiresAt": self._expiry(),
                    },
                    ConditionExpression="attribute_not_exists(pk)",
                )
        except ConditionFailed:
            earlier = self.rendered(tracking_id, turn_key)
            return earlier[1] if earlier else twiml
        return twiml

    # ------------------------------------------------------------------ inbound numbers
    def inbound_template(self, number: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key=inbound_key(number)).get("Item")
        return json.loads(item["template"]) if item else None

    def put_inbound_template(
        self,
        number: str,
        workflow: Mapping[str, Any],
        *,
        variables: Mapping[str, Any] | None = None,
        mode: str = "stream",
        workflow_id: str = "",
        tenant_id: str = DEFAULT_TENANT,
    ) -> None:
        """Answers calls to `number` with `workflow` ({nodes, edges, globalPrompt, config}); the calls are
        `tenant_id`'s."""
        template = {
            "workflow": dict(workflow),
            "variables": dict(variables or {}),
            "mode": mode,
            "workflowId": workflow_id,
            "tenantId": tenant_id,
        }
        self._table.put_item(
            Item={
                **inbound_key(number),
                "template": json.dumps(template, ensure_ascii=False),
            }
        )

    # ------------------------------------------------------------------ status
    def status(self, tracking_id: str) -> dict[str, Any] | None:
        return self._table.get_item(Key=call_key(tracking_id, "STATUS"), ConsistentRead=True).get("Item")

    def record_status(self, tracking_id: str, status: str, fields: Mapping[str, Any]) -> bool:
        """Moves the call to `status` with `fields`, unless it is already there or further on (a late
        `ringing` after `completed`, or a retried callback): then nothing changes and False is returned."""
        rank = STATUS_RANK[status]
        now_ms = int(self._clock() * 1000)
        values = {**fields, "status": status, "statusRank": rank, "updatedAt": now_ms}
        values[f"{_timestamp_name(status)}"] = now_ms
        try:
            with conditional():
                self._update(
                    tracking_id,
                    values,
                    condition="attribute_not_exists(statusRank) OR statusRank < :statusRank",
                )
        except ConditionFailed:
            return False
        return True

    def record_fields(self, tracking_id: str, fields: Mapping[str, Any]) -> None:
        """Sets facts that do not depend on ordering (the relay session's end, handoff data, answeredBy):
        writing them twice writes the same values, so a retried callback changes nothing."""
        self._update(tracking_id, {**fields, "updatedAt": int(self._clock() * 1000)})

    def _update(self, tracking_id: str, values: Mapping[str, Any], condition: str | None = None) -> None:
        values = {**values, "expiresAt": self._expiry()}
        names = {f"#{name}": name for name in values}
        extra = {"ConditionExpression": condition} if condition else {}
        self._table.update_item(
            Key=call_key(tracking_id, "STATUS"),
            UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in values),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={f":{name}": value for name, value in values.items()},
            **extra,
        )


def _timestamp_name(status: str) -> str:
    """'in-progress' -> 'inProgressAt', 'no-answer' -> 'noAnswerAt'."""
    head, *rest = status.split("-")
    return head + "".join(part.title() for part in rest) + "At"
