"""Whole-graph checks: one start, every reachable path able to end, no silent dead ends or loops."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from .errors import Problems
from .model import Edge, Node

_TERMINAL = ("end", "transfer")


def find_start(
    node_ids: list[str], marked: list[str], links: list[tuple[str, str]], problems: Problems
) -> str | None:
    """The node with data.isStart true; if none is marked, the only node nothing leads into."""
    if len(marked) == 1:
        return marked[0]
    if len(marked) > 1:
        problems.error(
            "nodes", f"several start nodes ({_ids(marked)}): exactly one may have data.isStart: true"
        )
        return None
    entered = {target for source, target in links if source != target}
    roots = [node_id for node_id in node_ids if node_id not in entered]
    if len(roots) == 1:
        return roots[0]
    if not roots:
        problems.error(
            "nodes", "no start node: every node has incoming edges; mark one with data.isStart: true"
        )
    else:
        problems.error(
            "nodes",
            f"no start node: several nodes have no incoming edges ({_ids(roots)}); "
            "mark the first one with data.isStart: true",
        )
    return None


def check_edges(
    nodes: Mapping[str, Node],
    outgoing: Mapping[str, tuple[Edge, ...]],
    edge_paths: Mapping[str, str],
    node_paths: Mapping[str, str],
    problems: Problems,
) -> None:
    for node_id, node in nodes.items():
        edges = outgoing.get(node_id, ())
        if edges and node.type in _TERMINAL:
            for edge in edges:
                problems.error(
                    f"{edge_paths[edge.id]}.source",
                    f"node {node_id!r} is {'an' if node.type == 'end' else 'a'} {node.type} node: "
                    "the call leaves the workflow there, "
                    "so it cannot have outgoing edges",
                )
            continue
        _check_duplicates(edges, edge_paths, problems)
        if node.type == "menu":
            _check_menu(node, edges, node_paths[node_id], edge_paths, problems)
        if not edges and node.type == "static":
            problems.error(
                node_paths[node_id],
                "static node has no outgoing edge: the call would fall silent after its line; "
                "add an edge or make it an end node",
            )
        elif not edges and node.type == "conversation":
            problems.warn(
                node_paths[node_id],
                "has no outgoing edges: the call can only end here by hang-up or maxTurns",
            )


def _check_duplicates(edges: tuple[Edge, ...], edge_paths: Mapping[str, str], problems: Problems) -> None:
    """Two always edges, or two edges for one key, leave the second one dead."""
    seen: dict[tuple, str] = {}
    for edge in edges:
        condition = edge.condition
        key: tuple | None = None
        if condition.kind == "always":
            key = ("always",)
        elif condition.kind == "dtmf":
            key = ("dtmf", condition.digit)
        if key is None:
            continue
        if key in seen:
            what = "an always/else edge" if key == ("always",) else f"an edge for digit {condition.digit!r}"
            problems.error(
                f"{edge_paths[edge.id]}.data.condition",
                f"node {edge.source!r} already has {what} ({seen[key]!r}); this one could never be taken",
            )
        else:
            seen[key] = edge.id


def _check_menu(
    node: Node, edges: tuple[Edge, ...], path: str, edge_paths: Mapping[str, str], problems: Problems
) -> None:
    handled = {edge.condition.digit: edge for edge in edges if edge.condition.kind == "dtmf"}
    offered = {option.digit for option in node.options}
    for position, option in enumerate(node.options):
        if option.digit not in handled:
            problems.error(
                f"{path}.data.options[{position}]",
                f"no edge from this menu has condition dtmf {option.digit!r}: pressing it would do nothing",
            )
    for digit, edge in handled.items():
        if digit not in offered:
            problems.warn(
                f"{edge_paths[edge.id]}.data.condition.digit",
                f"digit {digit!r} is not among the menu's options, so callers are never told about it",
            )


def reachable(start: str, links: list[tuple[str, str]]) -> list[str]:
    """Node ids reachable from start, breadth first (start included)."""
    targets: dict[str, list[str]] = {}
    for source, target in links:
        targets.setdefault(source, []).append(target)
    seen = {start: None}
    queue = deque([start])
    while queue:
        for target in targets.get(queue.popleft(), ()):
            if target not in seen:
                seen[target] = None
                queue.append(target)
    return list(seen)


def check_reachability(
    start: str,
    types: Mapping[str, str],
    links: list[tuple[str, str]],
    node_paths: Mapping[str, str],
    problems: Problems,
) -> None:
    found = reachable(start, links)
    if not any(types[node_id] in _TERMINAL for node_id in found):
        problems.error(
            "nodes",
            f"no end or transfer node can be reached from the start node {start!r}: "
            "every workflow must be able to end",
        )
    found_set = set(found)
    for node_id in types:
        if node_id not in found_set:
            problems.warn(
                node_paths[node_id], f"cannot be reached from the start node {start!r}; it never runs"
            )


def auto_edges(node: Node, edges: tuple[Edge, ...]) -> bool:
    """A static node moves on by itself when none of its edges waits for the caller."""
    return node.type == "static" and bool(edges) and not any(edge.condition.needs_caller for edge in edges)


def check_static_loops(
    nodes: Mapping[str, Node],
    outgoing: Mapping[str, tuple[Edge, ...]],
    node_paths: Mapping[str, str],
    problems: Problems,
) -> None:
    """Static nodes that pass the call along by themselves must not form a cycle: it would talk forever."""
    moving = {node_id for node_id, node in nodes.items() if auto_edges(node, outgoing.get(node_id, ()))}
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    reported: set[frozenset[str]] = set()

    def visit(node_id: str, trail: list[str]) -> None:
        state[node_id] = 1
        trail.append(node_id)
        for edge in outgoing.get(node_id, ()):
            if edge.target in moving and state.get(edge.target) == 1:
                cycle = [*trail[trail.index(edge.target) :], edge.target]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    problems.error(
                        node_paths[edge.target],
                        "static nodes loop with no caller input in between: " + " → ".join(cycle),
                    )
            elif edge.target in moving and edge.target not in state:
                visit(edge.target, trail)
        trail.pop()
        state[node_id] = 2

    for node_id in nodes:  # payload order, so the report names the loop where the author drew it
        if node_id in moving and node_id not in state:
            visit(node_id, [])


def _ids(ids: list[str]) -> str:
    return ", ".join(repr(node_id) for node_id in ids)
