"""parse_workflow: turn the builder's payload into a Workflow, or a WorkflowError listing every fault."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import graph
from .config import WorkflowConfig, parse_config
from .edges import edge_path, parse_edge
from .editor import editor_only, touched_ids
from .errors import Problem, Problems, WorkflowError, json_type
from .model import NODE_TYPES, Edge, LocalizedText, Node
from .nodes import node_path, parse_node, usable_id
from .variables import check_template
from .workflow import Workflow

MAX_NODES = 200
MAX_EDGES = 500
MAX_GLOBAL_PROMPT = 8_000


def parse_workflow(payload: Mapping[str, Any]) -> Workflow:
    """Check a make-call body (or a stored snapshot) and build the Workflow.

    Reads `nodes`, `edges`, `globalPrompt` and `config`; other top-level keys (to, workflowId…)
    belong to the request and are ignored, as are UI-only fields of nodes and edges, and editor-only
    nodes (groups, notes, untyped nodes no edge touches: see editor.py), each with a warning.
    Raises WorkflowError (a ValueError) carrying every problem found.
    """
    problems = Problems()
    if not isinstance(payload, Mapping):
        raise WorkflowError([Problem("(body)", f"expected a JSON object, got {json_type(payload)}")])
    global_prompt = _global_prompt(payload.get("globalPrompt"), problems)
    config = parse_config(payload.get("config"), problems)
    raw_nodes = _array(payload, "nodes", problems, MAX_NODES, required=True)
    raw_edges = _array(payload, "edges", problems, MAX_EDGES, required=False)
    canvas = _read_nodes(raw_nodes, touched_ids(raw_edges), problems)
    edges, edge_paths, links = _read_edges(raw_edges, canvas, problems)

    _language_warnings(canvas.nodes, canvas.paths, config, problems)
    outgoing = _order_outgoing(edges)
    start = None
    # Start and reachability need only the skeleton (ids, types, ends), so they are checked even when
    # some node's data is broken. The finer checks read conditions and need everything intact.
    if canvas.types and canvas.whole and len(links) == len(raw_edges):
        start = graph.find_start(list(canvas.types), canvas.marked, links, problems)
        if start is not None:
            graph.check_reachability(start, canvas.types, links, canvas.paths, problems)
    if not problems.errors:
        graph.check_edges(canvas.nodes, outgoing, edge_paths, canvas.paths, problems)
        graph.check_static_loops(canvas.nodes, outgoing, canvas.paths, problems)
    problems.raise_if_any()
    if start is None:  # unreachable: without errors a start was found; kept so a bug cannot pass silently
        raise WorkflowError([Problem("nodes", "no start node")], problems.warnings)
    return Workflow.build(
        nodes=canvas.nodes,
        outgoing=outgoing,
        start_node=start,
        global_prompt=global_prompt,
        config=config,
        warnings=tuple(problems.warnings),
    )


@dataclass
class _Canvas:
    """The payload's nodes as read: the steps, and the skeleton the graph checks need."""

    nodes: dict[str, Node] = field(default_factory=dict)  # steps whose every field is valid
    paths: dict[str, str] = field(default_factory=dict)  # id -> "nodes[3] (id 'x')", editor-only ones too
    types: dict[str, str] = field(default_factory=dict)  # every step with a usable id and type
    marked: list[str] = field(default_factory=list)  # ids with data.isStart true
    whole: bool = True  # every step has a usable id and type (the skeleton is complete)


def _read_nodes(raw_nodes: Sequence, touched: frozenset[str], problems: Problems) -> _Canvas:
    canvas = _Canvas()
    skipped = 0
    for index, raw in enumerate(raw_nodes):
        ignored = editor_only(raw, touched)
        node, is_start = (None, False) if ignored else parse_node(index, raw, problems)
        node_id = raw.get("id") if isinstance(raw, Mapping) else None
        if not usable_id(node_id):
            canvas.whole = False
            continue
        if node_id in canvas.paths:
            canvas.whole = False
            problems.error(
                f"{node_path(index, raw)}.id", f"duplicate node id {node_id!r} (also {canvas.paths[node_id]})"
            )
            continue
        canvas.paths[node_id] = node_path(index, raw)
        if ignored:
            problems.warn(canvas.paths[node_id], ignored)
            skipped += 1
            continue
        if raw.get("type") in NODE_TYPES:
            canvas.types[node_id] = raw["type"]
        else:
            canvas.whole = False
        if is_start:
            canvas.marked.append(node_id)
        if node:
            canvas.nodes[node.id] = node
    if raw_nodes and skipped == len(raw_nodes):
        problems.error(
            "nodes",
            f"has no step a call can run: all {skipped} nodes are editor-only (no type of "
            f"{', '.join(NODE_TYPES)}, and no edge)",
        )
    return canvas


def _read_edges(
    raw_edges: Sequence, canvas: _Canvas, problems: Problems
) -> tuple[list[tuple[int, Edge, int]], dict[str, str], list[tuple[str, str]]]:
    """(edges with their priority and position, id -> path, (source, target) of every edge whose ends
    are steps in the skeleton)."""
    edges: list[tuple[int, Edge, int]] = []
    edge_paths: dict[str, str] = {}
    links: list[tuple[str, str]] = []
    for index, raw in enumerate(raw_edges):
        edge, priority = parse_edge(index, raw, canvas.paths, problems)
        edge_id = raw.get("id") if isinstance(raw, Mapping) else None
        if not usable_id(edge_id):
            continue
        if edge_id in edge_paths:
            problems.error(
                f"{edge_path(index, raw)}.id", f"duplicate edge id {edge_id!r} (also {edge_paths[edge_id]})"
            )
            continue
        edge_paths[edge_id] = edge_path(index, raw)
        if raw.get("source") in canvas.types and raw.get("target") in canvas.types:
            links.append((raw["source"], raw["target"]))
        if edge:
            edges.append((priority, edge, index))
    return edges, edge_paths, links


def _global_prompt(value: object, problems: Problems) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.error("globalPrompt", f"expected a string, got {json_type(value)}")
        return ""
    value = value.strip()
    if len(value) > MAX_GLOBAL_PROMPT:
        problems.error("globalPrompt", f"is {len(value)} characters long; the limit is {MAX_GLOBAL_PROMPT}")
    check_template(value, "globalPrompt", problems)
    return value


def _array(
    payload: Mapping[str, Any], key: str, problems: Problems, limit: int, *, required: bool
) -> Sequence:
    value = payload.get(key)
    if value is None:
        if required:
            problems.error(key, f"is required: a list of {key}")
        return ()
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        problems.error(key, f"expected an array, got {json_type(value)}")
        return ()
    if required and not value:
        problems.error(key, f"must not be empty: a workflow needs at least one of its {key}")
    if len(value) > limit:
        problems.error(key, f"has {len(value)} {key}; the limit is {limit}")
        return ()  # too big to inspect further; the count is the problem to fix first
    return value


def _order_outgoing(edges: list[tuple[int, Edge, int]]) -> dict[str, tuple[Edge, ...]]:
    """Per source node: by priority (lower first), ties in the payload's order."""
    ordered: dict[str, list[Edge]] = {}
    for _, edge, _ in sorted(edges, key=lambda item: (item[0], item[2])):
        ordered.setdefault(edge.source, []).append(edge)
    return {source: tuple(items) for source, items in ordered.items()}


def _language_warnings(
    nodes: Mapping[str, Node], node_paths: Mapping[str, str], config: WorkflowConfig, problems: Problems
) -> None:
    """Text for a language the call cannot switch to is dead weight; text lacking the main one falls back."""
    spoken = set(config.all_languages)
    for node_id, node in nodes.items():
        for key, localized in (("text", node.text), ("scriptedLine", node.scripted_line)):
            if not isinstance(localized, LocalizedText) or not localized.languages:
                continue
            field = "prompt" if node.type == "menu" and key == "text" else key
            path = f"{node_paths[node_id]}.data.{field}"
            for tag in localized.languages:
                if tag not in spoken:
                    problems.warn(
                        f"{path}.{tag}", f"the call never speaks {tag!r}: add it to config.languages"
                    )
            if config.language not in localized.languages:
                problems.warn(path, f"has no text for the call's language {config.language!r}")
