"""The predictive cache: normalised caller words, keys that hold everything an answer depends on,
the policy of what is worth caching, pre-rendering at call setup, and the turn pipeline's entry points.

Pure Python (no AWS): the DynamoDB store is `kimiyi.adapters.cache_store.CacheStore`. See docs/cache.md.
"""

from .keys import (
    KEY_SCHEMA,
    KINDS,
    KeyParts,
    conversation_digest,
    line_parts,
    opening_parts,
    reply_parts,
    verdict_parts,
)
from .normalise import family_of, normalise
from .policy import (
    LINE_TTL_S,
    REPLY_TTL_S,
    VERDICT_TTL_S,
    Eligibility,
    ReplyOutcome,
    context_free_group,
    decode_verdict,
    encode_verdict,
    reply_storable,
    ttl_for,
    turn_eligibility,
    verdict_storable,
    warm,
)
from .prerender import opening_line, prerender
from .store import CacheBackend, CachedReply, CacheStats, MemoryCacheStore, NearCacheStore
from .turns import Lookup, TurnCache

__all__ = [
    "KEY_SCHEMA",
    "KINDS",
    "LINE_TTL_S",
    "REPLY_TTL_S",
    "VERDICT_TTL_S",
    "CacheBackend",
    "CacheStats",
    "CachedReply",
    "Eligibility",
    "KeyParts",
    "Lookup",
    "MemoryCacheStore",
    "NearCacheStore",
    "ReplyOutcome",
    "TurnCache",
    "context_free_group",
    "conversation_digest",
    "decode_verdict",
    "encode_verdict",
    "family_of",
    "line_parts",
    "normalise",
    "opening_line",
    "opening_parts",
    "prerender",
    "reply_parts",
    "reply_storable",
    "ttl_for",
    "turn_eligibility",
    "verdict_parts",
    "verdict_storable",
    "warm",
]
