"""Staging a call: the session make-call stores and the TwiML webhook and the relay read back.

What can be known before the call is answered is rendered here, once: the opening (the start node's
static lines and the first question), so Twilio speaks it as the welcome greeting with no LLM latency.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .api_keys import DEFAULT_TENANT
from .conversation.turn import opening
from .workflow import Workflow, parse_workflow

MODES = ("stream", "classic")


def new_tracking_id() -> str:
    return f"trk_{secrets.token_urlsafe(12)}"


@dataclass(frozen=True)
class Session:
    """A staged call, as stored under CALL#<trackingId> / SESSION."""

    tracking_id: str
    workflow: Workflow
    variables: dict[str, Any]
    mode: str
    greeting: str
    to: str = ""
    from_: str = ""
    workflow_id: str = ""
    created_at: int = 0
    tenant_id: str = DEFAULT_TENANT  # whose call it is: every read through the API checks it

    def to_record(self) -> dict[str, Any]:
        return {
            "trackingId": self.tracking_id,
            # A JSON string: the relay caches parsed workflows keyed by it.
            "workflow": json.dumps(self.workflow.to_dict(), ensure_ascii=False, sort_keys=True),
            "workflowId": self.workflow_id,
            "versionHash": self.workflow.version_hash,
            "variables": self.variables,
            "mode": self.mode,
            "greeting": self.greeting,
            "to": self.to,
            "from": self.from_,
            "createdAt": self.created_at,
            "tenantId": self.tenant_id,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Session:
        return cls(
            tracking_id=record["trackingId"],
            workflow=parse_workflow(json.loads(record["workflow"])),
            variables=dict(record.get("variables") or {}),
            mode=record.get("mode", "stream"),
            greeting=record.get("greeting", ""),
            to=record.get("to", ""),
            from_=record.get("from", ""),
            workflow_id=record.get("workflowId", ""),
            created_at=int(record.get("createdAt", 0)),
            tenant_id=record.get("tenantId") or DEFAULT_TENANT,
        )


def stage(
    workflow: Workflow,
    *,
    variables: Mapping[str, Any] | None = None,
    mode: str = "stream",
    to: str = "",
    from_: str = "",
    workflow_id: str = "",
    tracking_id: str | None = None,
    tenant_id: str = DEFAULT_TENANT,
) -> Session:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    values = dict(variables or {})
    greeting, _ = opening(workflow, values)
    return Session(
        tracking_id=tracking_id or new_tracking_id(),
        workflow=workflow,
        variables=values,
        mode=mode,
        greeting=greeting,
        to=to,
        from_=from_,
        workflow_id=workflow_id,
        created_at=int(time.time()),
        tenant_id=tenant_id,
    )
