"""Checking one edge of the payload: its ends, its condition and its priority."""

from __future__ import annotations

from collections.abc import Container, Mapping

from .conditions import parse_condition
from .errors import Problems, json_type
from .fields import read_mapping, read_number
from .model import Edge
from .nodes import read_id, usable_id

MAX_PRIORITY = 1_000


def edge_path(index: int, raw: object) -> str:
    edge_id = raw.get("id") if isinstance(raw, Mapping) else None
    return f"edges[{index}] (id {edge_id!r})" if usable_id(edge_id) else f"edges[{index}]"


def parse_edge(
    index: int, raw: object, node_ids: Container[str], problems: Problems
) -> tuple[Edge | None, int]:
    """(edge or None if broken, priority: lower is checked first, ties keep the payload's order)."""
    path = edge_path(index, raw)
    if not isinstance(raw, Mapping):
        problems.error(path, f"expected an edge object, got {json_type(raw)}")
        return None, 0
    before = len(problems.errors)
    edge_id = read_id(raw, path, problems)
    ends = [_end(raw, key, path, node_ids, problems) for key in ("source", "target")]
    label = raw.get("label") if isinstance(raw.get("label"), str) else None  # display only
    data = read_mapping(raw, "data", f"{path}.data", problems) or {}
    condition = parse_condition(data.get("condition"), f"{path}.data.condition", problems)
    priority = read_number(
        data,
        "priority",
        f"{path}.data.priority",
        problems,
        low=-MAX_PRIORITY,
        high=MAX_PRIORITY,
        integer=True,
    )
    source, target = ends
    if (
        len(problems.errors) > before
        or edge_id is None
        or condition is None
        or source is None
        or target is None
    ):
        return None, 0
    return Edge(edge_id, source, target, condition, label=label), int(priority or 0)


def _end(raw: Mapping, key: str, path: str, node_ids: Container[str], problems: Problems) -> str | None:
    value = raw.get(key)
    if value is None:
        problems.error(f"{path}.{key}", "is required: the id of a node")
    elif not isinstance(value, str):
        problems.error(f"{path}.{key}", f"expected a node id string, got {json_type(value)}")
    elif value not in node_ids:
        problems.error(f"{path}.{key}", f"{value!r} is not the id of any node")
    else:
        return value
    return None
