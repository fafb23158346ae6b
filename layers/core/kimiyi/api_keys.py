"""API keys and the tenants they belong to: which tenant (if any) a request's key opens.

Every key belongs to one tenant, and everything a key's requests create or read (calls, their metrics,
the metrics windows, idempotency keys, cached replies) is scoped to that tenant. Keys are kept only as
SHA-256 digests ("sha256:<64 hex>"):

- deployed: one SSM parameter per tenant, `<SECRETS_PATH>/tenants/<tenantId>`, holding the tenant's key
  digests comma-separated (scripts/api_keys.py creates, lists and revokes keys; see docs/tenants.md);
- locally: KIMIYI_API_KEYS, comma-separated `key` (tenant `default`) or `tenant:key` entries, hashed as
  they are read; a second local tenant is one more entry.

A key is named by a short id (`key_` + 12 hex digits of its digest), never by itself, so logs, the
authorizer context and the CLI can refer to it without revealing it. Several keys per tenant let one be
rotated while the other still works.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .api_errors import ApiError

DEFAULT_TENANT = "default"
TENANT_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62})$")  # an SSM name part, a DynamoDB key part, a log value
DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")


def key_digest(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.strip().encode()).hexdigest()


def key_id(key: str) -> str:
    """'local-dev-key' -> 'key_' + 12 hex digits of its SHA-256: stable, short, not reversible."""
    return digest_id(key_digest(key))


def digest_id(digest: str) -> str:
    return "key_" + digest.removeprefix("sha256:")[:12]


def plain_entry(entry: str) -> tuple[str, str]:
    """One KIMIYI_API_KEYS entry: 'key' -> ('default', 'key'); 'acme:key' -> ('acme', 'key')."""
    tenant, _, key = entry.partition(":") if ":" in entry else (DEFAULT_TENANT, "", entry)
    return tenant.strip(), key.strip()


@dataclass(frozen=True)
class Grant:
    """What a valid key opens: its tenant, and its id for logs."""

    tenant_id: str
    key_id: str


@dataclass(frozen=True)
class TenantKeys:
    entries: tuple[tuple[bytes, Grant], ...] = ()  # (raw SHA-256 of the key, what it opens)
    problems: tuple[str, ...] = ()  # configuration faults, for the operator's log; never key material

    @classmethod
    def from_plain(cls, text: str) -> TenantKeys:
        """KIMIYI_API_KEYS: 'key' or 'tenant:key' entries, comma-separated."""
        by_tenant: dict[str, list[str]] = {}
        problems: list[str] = []
        for number, entry in enumerate((part.strip() for part in text.split(",")), start=1):
            if not entry:
                continue
            tenant, key = plain_entry(entry)
            if not TENANT_ID.match(tenant) or not key:
                problems.append(f"KIMIYI_API_KEYS entry {number} is not 'key' or 'tenant:key'")
                continue
            by_tenant.setdefault(tenant, []).append(key_digest(key))
        found = cls.from_digests({tenant: ",".join(digests) for tenant, digests in by_tenant.items()})
        return cls(found.entries, tuple(problems) + found.problems)

    @classmethod
    def from_digests(cls, stored: Mapping[str, str]) -> TenantKeys:
        """{tenantId: 'sha256:…,sha256:…'}, as the tenants' SSM parameters hold them. A digest claimed by
        two tenants opens neither: a key must never be able to choose its tenant."""
        owners: dict[str, set[str]] = {}
        problems: list[str] = []
        for tenant, value in sorted(stored.items()):
            if not TENANT_ID.match(tenant):
                problems.append(f"tenant {tenant[:70]!r} is not a tenant id (a-z, 0-9, '-'; 1-63 chars)")
                continue
            for number, digest in enumerate((part.strip() for part in value.split(",")), start=1):
                if not digest:
                    continue
                if not DIGEST.match(digest):
                    problems.append(f"tenant {tenant}: entry {number} is not 'sha256:<64 hex digits>'")
                    continue
                owners.setdefault(digest, set()).add(tenant)
        entries = []
        for digest, tenants in owners.items():
            if len(tenants) > 1:
                problems.append(f"{digest_id(digest)} is listed under {', '.join(sorted(tenants))}: refused")
                continue
            raw = bytes.fromhex(digest.removeprefix("sha256:"))
            entries.append((raw, Grant(tenants.pop(), digest_id(digest))))
        return cls(tuple(entries), tuple(problems))

    def __bool__(self) -> bool:
        return bool(self.entries)

    @property
    def tenants(self) -> set[str]:
        return {grant.tenant_id for _, grant in self.entries}

    def identify(self, presented: str | None) -> Grant | None:
        """What `presented` opens, or None. Every digest is compared, in constant time, whether or not
        an earlier one matched; digests have one length, so nothing leaks the key's length either."""
        if not presented or not presented.strip():
            return None
        candidate = hashlib.sha256(presented.strip().encode()).digest()
        found = None
        for digest, grant in self.entries:
            if hmac.compare_digest(digest, candidate):
                found = grant
        return found


def authorize(presented: str | None, keys: TenantKeys) -> dict:
    """An HTTP API simple authorizer response (payload 2.0): the tenant and key id, never the key."""
    grant = keys.identify(presented)
    if grant is None:
        return {"isAuthorized": False}
    return {"isAuthorized": True, "context": {"tenantId": grant.tenant_id, "keyId": grant.key_id}}


def _authorizer_context(event: Mapping) -> Mapping:
    """What the Lambda authorizer passed for this request (`requestContext.authorizer.lambda`)."""
    return ((event.get("requestContext") or {}).get("authorizer") or {}).get("lambda") or {}


def tenant_of(event: Mapping) -> str | None:
    """The tenant the authorizer put in a request's context; None when the request did not pass it."""
    tenant = _authorizer_context(event).get("tenantId")
    return tenant if isinstance(tenant, str) and TENANT_ID.match(tenant) else None


def caller_keys(event: Mapping) -> dict[str, str]:
    """The tenant and key id the authorizer put in the context, for log lines (never the key)."""
    context = _authorizer_context(event)
    return {name: str(context[name])[:70] for name in ("tenantId", "keyId") if context.get(name)}


def require_tenant(event: Mapping) -> str:
    """The request's tenant, or a 401: a function reached without the authorizer serves nobody's data."""
    tenant = tenant_of(event)
    if tenant is None:
        raise ApiError(
            401, "unauthorized", "the request carries no tenant: it did not pass the API key check"
        )
    return tenant
