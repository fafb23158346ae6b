"""The cache as the turn pipeline uses it: four calls, policy and keys inside.

    cache = TurnCache(store)                                   # any CacheBackend
    # before judging plain-language edges:
    found = cache.find_verdict(workflow, node_id, language, caller, variables, history, candidates)
    # ... found.verdict on a hit; else judge, then cache.keep_verdict(found, edge_id, provider=..., ...)
    # before streaming a conversation node's reply:
    found = cache.find_reply(workflow, node_id, language, variables, messages)
    # ... found.text on a hit (send it whole); else stream, then cache.keep_reply(found, outcome)

A `Lookup` with status "skipped" made no read and will make no write: the policy ruled the turn out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..workflow import Workflow
from .keys import KeyParts, reply_parts, verdict_parts
from .policy import (
    Eligibility,
    ReplyOutcome,
    decode_verdict,
    encode_verdict,
    reply_storable,
    ttl_for,
    turn_eligibility,
    verdict_storable,
)
from .store import CacheBackend, CachedReply

__all__ = ["Lookup", "TurnCache"]


@dataclass(frozen=True)
class Lookup:
    kind: str  # "reply" or "verdict"
    status: str  # "hit", "miss" or "skipped"
    reason: str
    key: str | None = None
    entry: CachedReply | None = None
    workflow: Workflow | None = None
    node_id: str | None = None
    language: str | None = None
    verdict: str | None = None  # on a verdict hit: the chosen edge id, or None for "no edge"

    @property
    def hit(self) -> bool:
        return self.status == "hit"

    @property
    def text(self) -> str | None:
        return self.entry.text if self.entry else None


class TurnCache:
    """`tenant`: whose calls this cache serves. Entries are never shared between tenants, even for equal
    workflows: a hit would tell one tenant what another's callers said."""

    def __init__(self, store: CacheBackend, tenant: str = "") -> None:
        self.store = store
        self.tenant = tenant

    def for_tenant(self, tenant: str) -> TurnCache:
        return self if tenant == self.tenant else TurnCache(self.store, tenant)

    def _key(self, parts: KeyParts) -> str:
        if not self.tenant:
            return parts.key
        return hashlib.sha256(f"{self.tenant}\n{parts.key}".encode()).hexdigest()

    # --- replies ------------------------------------------------------------------------------------------

    def find_reply(
        self,
        workflow: Workflow,
        node_id: str,
        language: str,
        variables: Mapping[str, Any] | None,
        messages: Sequence[Mapping[str, Any]],
    ) -> Lookup:
        """Before streaming: `messages` exactly as they would go to the LLM (build_messages' result)."""
        history = list(messages[1:]) if messages and messages[0].get("role") == "system" else messages
        caller, earlier = _split_caller(history)
        allowed = turn_eligibility(workflow, language, caller, earlier)
        if not allowed:
            return Lookup("reply", "skipped", allowed.reason, workflow=workflow, node_id=node_id)
        key = self._key(reply_parts(workflow, node_id, language, variables, messages))
        entry = self.store.get(key)
        return Lookup(
            "reply",
            "hit" if entry else "miss",
            "found" if entry else "not cached yet",
            key,
            entry,
            workflow,
            node_id,
            language,
        )

    def keep_reply(self, lookup: Lookup, outcome: ReplyOutcome) -> Eligibility:
        """After the last chunk of a streamed reply: stores it when the lookup missed and it is complete."""
        if lookup.kind != "reply" or lookup.status != "miss" or lookup.key is None or lookup.workflow is None:
            return Eligibility(False, f"lookup was {lookup.status}")
        allowed = reply_storable(lookup.workflow, lookup.node_id or "", outcome)
        if allowed:
            meta = _meta(
                kind="reply", provider=outcome.provider, language=lookup.language, node=lookup.node_id
            )
            written = self.store.put(lookup.key, outcome.text.strip(), ttl_for("reply"), meta=meta)
            if not written:
                return Eligibility(False, "not written (already cached, or the store failed)")
        return allowed

    # --- verdicts -----------------------------------------------------------------------------------------

    def find_verdict(
        self,
        workflow: Workflow,
        node_id: str,
        language: str,
        caller: str | None,
        variables: Mapping[str, Any] | None,
        history: Sequence[Mapping[str, Any]],
        candidates: Sequence[Any],
    ) -> Lookup:
        """Before judging plain-language edges: `history` is the state's history (before this turn)."""
        allowed = turn_eligibility(workflow, language, caller, history)
        if not allowed or caller is None:
            return Lookup("verdict", "skipped", allowed.reason, workflow=workflow, node_id=node_id)
        key = self._key(verdict_parts(workflow, node_id, language, caller, variables, history, candidates))
        entry = self.store.get(key)
        if entry is None:
            return Lookup("verdict", "miss", "not cached yet", key, None, workflow, node_id, language)
        usable, edge = decode_verdict(entry.text, candidates)
        if not usable:
            return Lookup(
                "verdict", "miss", "stored edge is not a candidate", key, None, workflow, node_id, language
            )
        return Lookup("verdict", "hit", "found", key, entry, workflow, node_id, language, verdict=edge)

    def keep_verdict(
        self, lookup: Lookup, edge_id: str | None, *, provider: str | None, scripted_name: str
    ) -> Eligibility:
        """After a live LLM judged: stores its choice (an edge id, or None for "none applies")."""
        if (
            lookup.kind != "verdict"
            or lookup.status != "miss"
            or lookup.key is None
            or lookup.workflow is None
        ):
            return Eligibility(False, f"lookup was {lookup.status}")
        allowed = verdict_storable(lookup.workflow, provider, scripted_name=scripted_name)
        if allowed:
            meta = _meta(kind="verdict", provider=provider, language=lookup.language, node=lookup.node_id)
            if not self.store.put(lookup.key, encode_verdict(edge_id), ttl_for("verdict"), meta=meta):
                return Eligibility(False, "not written (already cached, or the store failed)")
        return allowed


def _split_caller(history: Sequence[Mapping[str, Any]]) -> tuple[str | None, list[Mapping[str, Any]]]:
    """The last caller line and everything before it (static lines after it belong to this turn)."""
    for index in range(len(history) - 1, -1, -1):
        if history[index].get("role") == "user":
            content = history[index].get("content")
            return (content if isinstance(content, str) else None), list(history[:index])
    return None, list(history)


def _meta(**fields: str | None) -> dict[str, str]:
    """An entry's metadata: the fields that are known (the store keeps no empty ones)."""
    return {name: value for name, value in fields.items() if value is not None}
