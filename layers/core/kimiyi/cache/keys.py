"""Cache keys: everything an answer depends on, hashed.

A key is the sha256 of a canonical JSON object of its parts (`KeyParts`): the kind of entry, the
workflow's version hash, the node, the language, the normalised caller words, the values of the
variables the node's texts use, and a digest of the conversation the answer follows. Two requests get
the same key only when every part is equal, so a cached answer can never be served in another workflow,
version, node, language, with other variable values or after another conversation. Keys hold no raw
words and no variable values: only hashes reach the table.

Kinds:
- "opening": what is said before the caller speaks, per language (pre-rendered at call setup);
- "line": a static, menu, transfer or end node's line, per language (pre-rendered at call setup);
- "reply": an LLM reply at a conversation node (shared across calls of the same workflow version);
- "verdict": which plain-language edge the LLM judge chose for the caller's words (or none).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..workflow import Workflow
from ..workflow.langtags import normalize_tag
from ..workflow.variables import format_value, variable_names
from .normalise import normalise

__all__ = [
    "KEY_SCHEMA",
    "KINDS",
    "KeyParts",
    "conversation_digest",
    "line_parts",
    "opening_parts",
    "reply_parts",
    "verdict_parts",
]

# Bump when the meaning of a key changes (its parts, the normalisation, the judge's prompt wording):
# every old entry then simply stops matching and ages out.
KEY_SCHEMA = 1
KINDS = ("opening", "line", "reply", "verdict")

VariableValues = tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class KeyParts:
    kind: str
    workflow_version: str
    node_id: str
    language: str
    utterance: str = ""  # normalised caller words; "" for lines
    variables: VariableValues = ()  # (name, value as rendered, or None when not given), sorted by name
    context: str = ""  # digest of the conversation the answer follows; "" for lines

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown cache entry kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        for name in ("workflow_version", "node_id", "language"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"KeyParts.{name} must be a non-empty string, got {value!r}")

    def canonical(self) -> str:
        return _canonical(
            {
                "schema": KEY_SCHEMA,
                "kind": self.kind,
                "workflow": self.workflow_version,
                "node": self.node_id,
                "language": self.language,
                "utterance": self.utterance,
                "variables": [list(pair) for pair in self.variables],
                "context": self.context,
            }
        )

    @property
    def key(self) -> str:
        """The table key: the kind (for people reading the table) and the hash, never the words."""
        return f"{self.kind}#{hashlib.sha256(self.canonical().encode('ascii')).hexdigest()}"


# --- builders ---------------------------------------------------------------------------------------------


def opening_parts(workflow: Workflow, language: str, variables: Mapping[str, Any] | None) -> KeyParts:
    """The opening depends on every variable: the start path's conditions may read any of them."""
    values = workflow.variables_for(variables)
    return KeyParts(
        "opening",
        workflow.version_hash,
        workflow.start_node,
        _language(language),
        variables=_values(values.keys(), values),
    )


def line_parts(
    workflow: Workflow, node_id: str, language: str, variables: Mapping[str, Any] | None
) -> KeyParts:
    """A node's verbatim line depends on the variables its own text uses, and nothing else."""
    node = workflow.node(node_id)
    names = {name for text in (node.text.all_texts() if node.text else ()) for name in variable_names(text)}
    return KeyParts(
        "line",
        workflow.version_hash,
        node.id,
        _language(language),
        variables=_values(names, workflow.variables_for(variables)),
    )


def reply_parts(
    workflow: Workflow,
    node_id: str,
    language: str,
    variables: Mapping[str, Any] | None,
    messages: Sequence[Mapping[str, Any]],
) -> KeyParts:
    """An LLM reply at a conversation node, from the exact messages the LLM is (or was) sent.

    `messages` is what `build_messages` returns: the system prompt, then the conversation so far ending
    with the caller's words (and any static line spoken in this turn before the reply). The digest takes
    the system prompt and assistant lines verbatim and caller lines normalised, so it changes whenever
    anything the LLM reads changes, including prompt text that lives in code rather than the workflow.
    """
    language = _language(language)
    caller = _last_caller_line(messages)
    return KeyParts(
        "reply",
        workflow.version_hash,
        workflow.node(node_id).id,
        language,
        utterance=normalise(caller, language),
        variables=_values(workflow.variables_used(node_id), workflow.variables_for(variables)),
        context=conversation_digest(messages, language),
    )


def verdict_parts(
    workflow: Workflow,
    node_id: str,
    language: str,
    caller: str,
    variables: Mapping[str, Any] | None,
    history: Sequence[Mapping[str, Any]],
    candidates: Iterable[Any],
) -> KeyParts:
    """The judge's choice at `node_id` for the caller's words: `history` is the conversation before
    this turn (the judge reads its end), `candidates` the plain-language edges (or their ids) in the
    order the judge numbers them."""
    language = _language(language)
    ids = [candidate if isinstance(candidate, str) else candidate.id for candidate in candidates]
    transcript = [*history, {"role": "user", "content": caller}, {"role": "candidates", "content": ids}]
    return KeyParts(
        "verdict",
        workflow.version_hash,
        workflow.node(node_id).id,
        language,
        utterance=normalise(caller, language),
        variables=_values(workflow.variables_used(node_id), workflow.variables_for(variables)),
        context=conversation_digest(transcript, language),
    )


def conversation_digest(messages: Sequence[Mapping[str, Any]], language: str) -> str:
    """sha256 over the messages: caller ("user") lines normalised in `language`, all others verbatim."""
    shaped = []
    for position, message in enumerate(messages):
        if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
            raise ValueError(f"messages[{position}] must be a mapping with 'role' and 'content'")
        role, content = message["role"], message["content"]
        if role == "user":
            if not isinstance(content, str):
                raise ValueError(f"messages[{position}].content must be a string for a caller line")
            content = normalise(content, language)
        shaped.append([role, content])
    return hashlib.sha256(_canonical(shaped).encode("ascii")).hexdigest()


# --- helpers ----------------------------------------------------------------------------------------------


def _canonical(value: Any) -> str:
    # ensure_ascii: any string, even one with a lone surrogate, has exactly one ASCII encoding
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_refuse)


def _refuse(value: Any) -> Any:
    raise TypeError(f"cannot put a {type(value).__name__} into a cache key")


def _language(code: str) -> str:
    tag = normalize_tag(code) if isinstance(code, str) else None
    if tag is None:
        raise ValueError(f"{code!r} is not a BCP-47 language tag like 'en-US' or 'zh-HK'")
    return tag


def _values(names: Iterable[str], values: Mapping[str, Any]) -> VariableValues:
    """Each variable as the prompt renders it: 3 and 3.0 both read "3", a missing one renders its
    default (which is part of the workflow version), so None stands for it."""
    return tuple(
        (name, None if values.get(name) is None else format_value(values[name]))
        for name in sorted(set(names))
    )


def _last_caller_line(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
    raise ValueError("messages hold no caller ('user') line: a reply key needs the caller's words")
