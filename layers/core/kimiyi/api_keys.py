"""API keys for the control-plane routes: which key (if any) a request presented.

Keys are configured comma-separated (SSM `<SECRETS_PATH>/api-keys`, or KIMIYI_API_KEYS locally); several
keys let you rotate one while the other still works. A key is identified by a short hash, never by
itself, so logs, authorizer context and idempotency records can name it without revealing it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass


def key_id(key: str) -> str:
    """'local-dev-key' -> 'key_' + 12 hex digits of its SHA-256: stable, short, not reversible."""
    return "key_" + hashlib.sha256(key.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ApiKeys:
    digests: tuple[bytes, ...]  # SHA-256 of each key: equal lengths, so comparing leaks no length
    ids: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> ApiKeys:
        keys = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
        return cls(tuple(_digest(k) for k in keys), tuple(key_id(k) for k in keys))

    def __bool__(self) -> bool:
        return bool(self.digests)

    def identify(self, presented: str | None) -> str | None:
        """The id of the configured key equal to `presented`, or None. Every key is compared, in
        constant time, whether or not an earlier one matched."""
        if not presented:
            return None
        candidate = _digest(presented.strip())
        found = None
        for digest, ident in zip(self.digests, self.ids, strict=True):
            if hmac.compare_digest(digest, candidate):
                found = ident
        return found


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def authorize(presented: str | None, keys: ApiKeys) -> dict:
    """An HTTP API simple authorizer response (payload 2.0)."""
    ident = keys.identify(presented)
    if ident is None:
        return {"isAuthorized": False}
    return {"isAuthorized": True, "context": {"keyId": ident}}
