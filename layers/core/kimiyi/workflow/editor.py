"""Editor-only nodes: what a builder's canvas holds besides the steps of the call.

A React Flow save carries every node on the canvas: `group` frames (v11 children point at them with
`parentNode`, v12 with `parentId`), sticky notes (`note`, `sticky`, `annotation`, whatever the editor
calls them) and untyped placeholder nodes. None of them is a step. The rule, so a builder need not
list its own types: a node is editor-only when its type is not one a call can run (missing, or any
string outside NODE_TYPES) and no edge touches it, and it is not marked as the start. Such a node can
never be reached and leads nowhere, so it is left out of the workflow with a warning naming it.

Everything else is still checked as a step: an unknown type that an edge touches (the call would reach
a step it cannot run), a start node with an unknown type, and malformed nodes (not an object, an unusable
or duplicate id, a type that is not a string, `data` that is not an object) stay errors at their paths.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from .model import NODE_TYPES
from .nodes import usable_id


def touched_ids(raw_edges: Iterable[object]) -> frozenset[str]:
    """Every node id an edge names as its source or target, read from the raw payload (a broken edge
    still touches what it names: its node must not vanish and turn one error into another)."""
    touched: set[str] = set()
    for raw in raw_edges:
        if isinstance(raw, Mapping):
            touched.update(raw[key] for key in ("source", "target") if isinstance(raw.get(key), str))
    return frozenset(touched)


def editor_only(raw: object, touched: frozenset[str]) -> str | None:
    """The warning's text when the node is editor-only and is to be skipped; None when it is a step."""
    if not isinstance(raw, Mapping) or not usable_id(raw.get("id")) or raw["id"] in touched:
        return None
    kind = raw.get("type")
    if kind in NODE_TYPES or (kind is not None and not isinstance(kind, str)):
        return None
    data = raw.get("data")
    if data is not None and (not isinstance(data, Mapping) or data.get("isStart") not in (None, False)):
        return None
    what = "a node with no type" if kind is None else f"a {kind[:40]!r} node"
    return (
        f"ignored: {what} that no edge touches is editor-only (a group, a note): it never runs{_hint(kind)}"
    )


def _hint(kind: str | None) -> str:
    """A misspelt step type left unconnected is ignored too; say so, since it was meant to run."""
    close = difflib.get_close_matches(kind.lower(), NODE_TYPES, n=1, cutoff=0.8) if kind else []
    return f"; did you mean type {close[0]!r}?" if close else ""
