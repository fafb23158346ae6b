"""What may be cached, for how long, and which answers are good enough to keep. Pure functions.

The rule for conversation nodes (docs/cache.md, "The context rule"):
- the key holds the whole conversation the reply follows (`keys.reply_parts`), so a stored reply is only
  ever served after the same conversation, in the same workflow version, node, language and variables;
- a turn is looked up and stored only when the caller's words are a context-free phrase (phrases.json)
  or a key press, and so were all their earlier words in the call. Such conversations recur word for
  word across calls; any other turn has a key no other call can match, so reading it would only cost a
  round trip and writing it would only fill the table (with text that may be personal);
- a reply is kept only when it is a complete answer from a live LLM: not cut off, not dropped mid-way,
  not the scripted fallback or the holding phrase, and not empty;
- nothing is cached when the workflow says `cacheResponses: false`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..workflow import Workflow
from .normalise import family_of, normalise

__all__ = [
    "KEY_PRESS",
    "LINE_TTL_S",
    "NO_EDGE",
    "REPLY_TTL_S",
    "VERDICT_TTL_S",
    "Eligibility",
    "ReplyOutcome",
    "context_free_group",
    "decode_verdict",
    "encode_verdict",
    "reply_storable",
    "ttl_for",
    "turn_eligibility",
    "verdict_storable",
    "warm",
]

PHRASES_PATH = Path(__file__).with_name("phrases.json")

# Static lines and the opening belong to one call: they live as long as a call record does.
LINE_TTL_S = 24 * 3600
# Shared replies and verdicts: a week per workflow version (a new version has new keys anyway).
REPLY_TTL_S = 7 * 24 * 3600
VERDICT_TTL_S = 7 * 24 * 3600
_TTL = {"opening": LINE_TTL_S, "line": LINE_TTL_S, "reply": REPLY_TTL_S, "verdict": VERDICT_TTL_S}

# How run_turn writes a key press as the caller's words (TurnInput.caller_words).
KEY_PRESS = re.compile(r"\(pressed [0-9*#]\)")
NO_EDGE = "-"  # a stored verdict that no plain-language edge applies


@dataclass(frozen=True)
class Eligibility:
    ok: bool
    reason: str  # why not, for logs and metrics; "ok" when it is

    def __bool__(self) -> bool:
        return self.ok


_OK = Eligibility(True, "ok")


def ttl_for(kind: str) -> int:
    """Seconds an entry of `kind` lives: lines and the opening for a call's lifetime, replies and
    verdicts for a week."""
    try:
        return _TTL[kind]
    except KeyError:
        raise ValueError(f"unknown cache entry kind {kind!r}; expected one of {', '.join(_TTL)}") from None


# --- context-free phrases ---------------------------------------------------------------------------------


@cache
def _phrase_table() -> dict[str, dict[str, str]]:
    """family -> {normalised phrase: group}."""
    data = json.loads(PHRASES_PATH.read_text(encoding="utf-8"))["phrases"]
    table: dict[str, dict[str, str]] = {}
    for family, groups in data.items():
        entries = table.setdefault(family, {})
        for group, phrases in groups.items():
            for phrase in phrases:
                normalised = normalise(phrase, _sample_code(family))
                if not normalised:
                    raise ValueError(f"{PHRASES_PATH.name}: {family}/{group} phrase {phrase!r} is empty")
                entries.setdefault(normalised, group)
    return table


def _sample_code(family: str) -> str:
    """A code whose family is `family`, to normalise the table with that family's rules."""
    return {"yue": "zh-HK", "zh": "zh-CN"}.get(family, family)


def warm() -> None:
    """Loads and normalises the word lists now (about 15 ms) instead of on a call's first turn: call it
    at module scope in the hot handlers, where provisioned concurrency runs it before any call."""
    _phrase_table()


def context_free_group(words: str, language: str) -> str | None:
    """The group ("identity", "repeat", "answer", ..., "keypress") of context-free caller words, or None.

    The caller's own language is tried first, then every other family: "hello" in a Cantonese call is
    still context-free (the reply's language is fixed by the key's language part, not by this check).
    """
    if not isinstance(words, str):
        raise TypeError(f"caller words must be a str, got {type(words).__name__}")
    if KEY_PRESS.fullmatch(words.strip()):
        return "keypress"
    table = _phrase_table()
    own = family_of(language)
    for family in (own, *(f for f in table if f != own)):
        phrases = table.get(family)
        if phrases:
            group = phrases.get(normalise(words, _sample_code(family) if family != own else language))
            if group:
                return group
    return None


def turn_eligibility(
    workflow: Workflow, language: str, caller: str | None, history: Iterable[Mapping[str, Any]]
) -> Eligibility:
    """Whether this caller turn may be looked up (and, if the answer is good, stored).

    `history` is the conversation before this turn's caller words; earlier caller lines in it must all
    be context-free too, or the conversation is one no other call repeats.
    """
    if not workflow.config.cache_responses:
        return Eligibility(False, "caching is off for this workflow")
    if not caller or not caller.strip():
        return Eligibility(False, "no caller words")
    if context_free_group(caller, language) is None:
        return Eligibility(False, "caller words are not a context-free phrase")
    for message in history:
        if (
            message.get("role") == "user"
            and context_free_group(str(message.get("content", "")), language) is None
        ):
            return Eligibility(False, "an earlier caller line is not context-free")
    return _OK


# --- answers worth keeping --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplyOutcome:
    """How an LLM reply came about, as far as caching cares."""

    text: str  # the reply's own words (not static lines spoken before it in the same turn)
    provider: str | None  # who wrote it
    complete: bool  # the stream ran to its end (the turn was not cancelled or cut off)
    scripted: bool = False  # the scripted responder spoke: every live provider failed
    dropped: bool = False  # the provider failed after its first words
    holding_phrase: bool = False  # the failover holding phrase was appended

    @classmethod
    def from_stream(
        cls, result: Any, text: str, *, scripted_name: str, complete: bool = True
    ) -> ReplyOutcome:
        """From a `kimiyi.llm.StreamResult` (duck-typed: provider, dropped, holding_phrase_added)."""
        provider = getattr(result, "provider", None)
        return cls(
            text=text,
            provider=provider,
            complete=complete,
            scripted=provider == scripted_name,
            dropped=bool(getattr(result, "dropped", False)),
            holding_phrase=bool(getattr(result, "holding_phrase_added", False)),
        )


def reply_storable(workflow: Workflow, node_id: str, outcome: ReplyOutcome) -> Eligibility:
    """Whether an LLM reply at `node_id` is a complete answer worth sharing with later calls."""
    if not workflow.config.cache_responses:
        return Eligibility(False, "caching is off for this workflow")
    if workflow.node(node_id).type != "conversation":
        return Eligibility(False, "only conversation nodes have LLM replies")
    if not outcome.complete:
        return Eligibility(False, "the reply was cut off")
    if outcome.scripted or not outcome.provider:
        return Eligibility(False, "the scripted fallback spoke, not an LLM")
    if outcome.dropped:
        return Eligibility(False, "the provider dropped mid-reply")
    if outcome.holding_phrase:
        return Eligibility(False, "the reply ends with the failover holding phrase")
    if not outcome.text.strip():
        return Eligibility(False, "the reply is empty")
    return _OK


def verdict_storable(workflow: Workflow, provider: str | None, *, scripted_name: str) -> Eligibility:
    """A judge's choice is kept only when a live LLM made it (the scripted responder's line is no verdict)."""
    if not workflow.config.cache_responses:
        return Eligibility(False, "caching is off for this workflow")
    if not provider or provider == scripted_name:
        return Eligibility(False, "no live LLM judged")
    return _OK


def encode_verdict(edge_id: str | None) -> str:
    return edge_id if edge_id else NO_EDGE


def decode_verdict(text: str, candidates: Sequence[Any]) -> tuple[bool, str | None]:
    """(usable, edge id or None). Unusable when the stored edge is not among today's candidates."""
    if text == NO_EDGE:
        return True, None
    ids = {candidate if isinstance(candidate, str) else candidate.id for candidate in candidates}
    return (True, text) if text in ids else (False, None)
