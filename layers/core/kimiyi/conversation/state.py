"""A call's conversation state: where it is in the workflow, in which language, and what was said."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..inputs import clip
from ..workflow import Workflow

MAX_HISTORY_MESSAGES = 24  # what the LLM sees: enough for a phone call, bounded for latency and cost
# Bounded in size too, so the state item (history, the call's variables and a few fields) stays well
# inside DynamoDB's 400 KB: a message is at most MAX_MESSAGE_CHARS (the relay cuts a caller's voicePrompt
# to the same length), and the history as stored (JSON, UTF-8) at most MAX_HISTORY_BYTES, the oldest
# messages leaving first. The variables come from make-call's body, itself at most 256 KB.
MAX_MESSAGE_CHARS = 4_000
MAX_HISTORY_BYTES = 96 * 1024
_WORST_BYTES_PER_CHAR = 6  # a control character is stored as a \u0001 escape
_MESSAGE_OVERHEAD_BYTES = 40  # {"role": "assistant", "content": ""},


@dataclass(frozen=True)
class CallState:
    node_id: str
    language: str
    history: tuple[dict[str, str], ...] = ()
    variables: Mapping[str, Any] = field(default_factory=dict)
    turns: int = 0
    ended: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodeId": self.node_id,
            "language": self.language,
            "history": [dict(m) for m in self.history],
            "variables": dict(self.variables),
            "turns": self.turns,
            "ended": self.ended,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallState:
        return cls(
            node_id=str(data["nodeId"]),
            language=str(data["language"]),
            history=tuple(
                {"role": str(m["role"]), "content": str(m["content"])} for m in data.get("history", ())
            ),
            variables=dict(data.get("variables") or {}),
            turns=int(data.get("turns", 0)),
            ended=bool(data.get("ended", False)),
        )


def new_call_state(workflow: Workflow, variables: Mapping[str, Any] | None = None) -> CallState:
    """The state before the first caller turn: at the start node, in the workflow's language."""
    return CallState(workflow.start_node, workflow.config.language, variables=dict(variables or {}))


def with_exchange(state: CallState, user: str | None, assistant: str) -> tuple[dict[str, str], ...]:
    """The history with this exchange added, within its bounds (messages, characters, bytes)."""
    history = list(state.history)
    if user:
        history.append({"role": "user", "content": clip(user, MAX_MESSAGE_CHARS)})
    if assistant:
        history.append({"role": "assistant", "content": clip(assistant, MAX_MESSAGE_CHARS)})
    return within_budget(history[-MAX_HISTORY_MESSAGES:])


def within_budget(history: Sequence[dict[str, str]]) -> tuple[dict[str, str], ...]:
    """The latest messages whose stored JSON fits MAX_HISTORY_BYTES (the last one always does)."""
    worst = sum(len(m["content"]) * _WORST_BYTES_PER_CHAR + _MESSAGE_OVERHEAD_BYTES for m in history)
    if worst <= MAX_HISTORY_BYTES:  # an ordinary call: no need to measure
        return tuple(history)
    sizes = [len(json.dumps(m, ensure_ascii=False).encode("utf-8", "surrogatepass")) + 2 for m in history]
    total, start = sum(sizes), 0
    while total > MAX_HISTORY_BYTES and start < len(history) - 1:
        total -= sizes[start]
        start += 1
    return tuple(history[start:])


def apply_interrupt(state: CallState, heard: str, *, replies_back: int = 0) -> CallState:
    """The caller barged in: a stored reply becomes what they heard before they interrupted.

    `replies_back` = 0 cuts the latest reply; 1 the one before it (an interrupt that reached us only
    after the next turn had started)."""
    positions = [i for i, m in enumerate(state.history) if m["role"] == "assistant"]
    if len(positions) <= replies_back:
        return state
    index = positions[-1 - replies_back]
    said = state.history[index]["content"]
    heard = heard.strip()
    # Twilio reports the spoken words; keep the reply's own prefix when it matches, else the report.
    cut = said[: said.find(heard) + len(heard)] if heard and heard in said else heard
    kept = ({"role": "assistant", "content": cut},) if cut else ()
    return replace(state, history=state.history[:index] + kept + state.history[index + 1 :])
