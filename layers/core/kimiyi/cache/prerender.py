"""Everything a call says that is known before it is answered: the opening and every verbatim line.

Rendered once per declared language at call setup (make-call stages the call), so the twiml webhook can
take the welcome greeting, and a language switch its new opening, with one read and no rendering. The
lines are exact functions of the workflow snapshot and the call's variables, which is why they may be
written with a plain batch (an item rewritten under the same key has the same text).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..workflow import Workflow
from .keys import line_parts, opening_parts

__all__ = ["SPEAKING_NODE_TYPES", "opening_line", "prerender"]

SPEAKING_NODE_TYPES = ("static", "menu", "transfer", "end")  # nodes whose words are verbatim


def opening_line(workflow: Workflow, language: str, variables: Mapping[str, Any] | None = None) -> str:
    """What is said before the caller speaks, in `language`: the start node's path of verbatim lines
    and, when it ends at a conversation node, that node's scripted question (as `turn.opening` does for
    the workflow's own language)."""
    advance = workflow.auto_advance(workflow.start_node, variables)
    lines = [workflow.spoken_line(node_id, language, variables) for node_id in advance.path]
    final = workflow.node(advance.node_id)
    if final.type == "conversation":
        lines.append(workflow.scripted_line(final.id, language, variables))
    return " ".join(line for line in lines if line)


def prerender(
    workflow: Workflow, variables: Mapping[str, Any] | None, languages: Iterable[str] | None = None
) -> dict[str, str]:
    """key -> text for the opening and every static, menu, transfer and end line, in each language
    (default: every language the workflow declares). Empty when the workflow turns caching off."""
    if not workflow.config.cache_responses:
        return {}
    codes = list(dict.fromkeys(languages if languages is not None else workflow.config.all_languages))
    rendered: dict[str, str] = {}
    for language in codes:
        opening = opening_line(workflow, language, variables)
        if opening:
            rendered[opening_parts(workflow, language, variables).key] = opening
        for node_id, node in workflow.nodes.items():
            if node.type not in SPEAKING_NODE_TYPES:
                continue
            line = workflow.spoken_line(node_id, language, variables)
            if line and line.strip():
                rendered[line_parts(workflow, node_id, language, variables).key] = line
    return rendered
