"""The messages sent to the LLM: the reply at a node, and the judgement of plain-language edges."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..languages import get_language
from ..workflow import Edge, Workflow

PHONE_STYLE = (
    "You are speaking on a phone call: your words are read aloud by a text-to-speech voice. Reply in one or "
    "two short sentences, with no lists, markdown, emoji or URLs."
)


def build_messages(
    workflow: Workflow,
    node_id: str,
    language: str,
    variables: Mapping[str, Any],
    history: Sequence[dict[str, str]],
) -> list[dict[str, str]]:
    """System prompt (global + node + phone style + language guidance), then the conversation so far."""
    system = [workflow.render_prompt(node_id, variables), PHONE_STYLE, get_language(language).prompt_guidance]
    return [{"role": "system", "content": "\n\n".join(p for p in system if p)}, *history]


def judge_messages(
    caller: str, candidates: Sequence[Edge], history: Sequence[dict[str, str]]
) -> list[dict[str, str]]:
    """Asks which plain-language condition the caller's words meet: a one-number answer, fast and cheap."""
    options = "\n".join(f"{i}. {edge.condition.prompt}" for i, edge in enumerate(candidates, start=1))
    recent = "\n".join(f"{m['role']}: {m['content']}" for m in list(history)[-4:])
    return [
        {
            "role": "system",
            "content": "You route a phone conversation. Answer with the number of the first statement that is "
            "true of the caller's last words, or 0 if none is. Answer with the number only.",
        },
        {
            "role": "user",
            "content": f"Conversation so far:\n{recent}\n\nCaller: {caller}\n\nStatements:\n{options}",
        },
    ]


def parse_judgement(answer: str, candidates: Sequence[Edge]) -> str | None:
    """The chosen edge's id, or None for 0, an answer out of range, or no number at all."""
    found = re.search(r"\d+", answer)
    if not found:
        return None
    index = int(found.group())
    return candidates[index - 1].id if 1 <= index <= len(candidates) else None


CONTINUE_CUT_REPLY = (
    "Your reply above was cut off at that point; the caller has heard exactly those words. Continue it from "
    "there: do not repeat any of it, and do not apologise or mention the interruption."
)


def continuation_messages(messages: Sequence[dict[str, str]], said: str) -> list[dict[str, str]]:
    """Asks another model to finish a reply that a failing provider left at `said`; with nothing said
    yet, the request is the original one."""
    if not said.strip():
        return list(messages)
    return [
        *messages,
        {"role": "assistant", "content": said.strip()},
        {"role": "system", "content": CONTINUE_CUT_REPLY},
    ]
