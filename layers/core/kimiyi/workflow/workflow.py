"""The Workflow: a checked, immutable graph with traversal and rendering helpers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import WorkflowConfig
from .errors import Problem
from .fields import Scalar
from .graph import auto_edges
from .model import Edge, Node
from .traversal import MAX_AUTO_ADVANCE, Advance, Step, next_step
from .variables import missing_variables, render, variable_names


@dataclass(frozen=True)
class Workflow:
    nodes: Mapping[str, Node]
    edges: Mapping[str, Edge]
    outgoing: Mapping[str, tuple[Edge, ...]]  # per node, in priority order
    start_node: str
    global_prompt: str
    config: WorkflowConfig
    version_hash: str
    warnings: tuple[Problem, ...] = ()

    @classmethod
    def build(
        cls,
        *,
        nodes: Mapping[str, Node],
        outgoing: Mapping[str, tuple[Edge, ...]],
        start_node: str,
        global_prompt: str,
        config: WorkflowConfig,
        warnings: tuple[Problem, ...] = (),
    ) -> Workflow:
        edges = {edge.id: edge for group in outgoing.values() for edge in group}
        draft = cls(dict(nodes), edges, dict(outgoing), start_node, global_prompt, config, "", warnings)
        content = draft.to_dict(include_variables=False)
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return cls(
            draft.nodes,
            edges,
            draft.outgoing,
            start_node,
            global_prompt,
            config,
            hashlib.sha256(canonical.encode()).hexdigest(),
            warnings,
        )

    def __hash__(self) -> int:
        return hash(
            self.version_hash
        )  # the mappings inside are not hashable; the content hash is the identity

    # --- lookup -----------------------------------------------------------------------------------

    @property
    def start(self) -> Node:
        return self.nodes[self.start_node]

    def node(self, node_id: str) -> Node:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise KeyError(f"no node {node_id!r} in this workflow") from None

    def edges_from(self, node_id: str) -> tuple[Edge, ...]:
        return self.outgoing.get(self.node(node_id).id, ())

    def take(self, edge_id: str) -> Edge:
        """The edge an LLM (or anything else) chose, by id; its `target` is the next node."""
        try:
            return self.edges[edge_id]
        except KeyError:
            raise KeyError(f"no edge {edge_id!r} in this workflow") from None

    # --- traversal --------------------------------------------------------------------------------

    def variables_for(self, variables: Mapping[str, Scalar] | None) -> dict[str, Scalar]:
        """config.variables overlaid with the call's own values."""
        return {**self.config.variables, **(variables or {})}

    def next_step(
        self,
        node_id: str,
        *,
        utterance: str | None = None,
        digit: str | None = None,
        variables: Mapping[str, Scalar] | None = None,
    ) -> Step:
        """Which edge the caller's turn takes: deterministic edges first (no LLM), then LLM candidates."""
        node = self.node(node_id)
        return next_step(
            node,
            self.outgoing.get(node_id, ()),
            utterance=utterance,
            digit=digit,
            variables=self.variables_for(variables),
        )

    def auto_advance(
        self, node_id: str, variables: Mapping[str, Scalar] | None = None, *, max_hops: int = MAX_AUTO_ADVANCE
    ) -> Advance:
        """Follow static nodes whose edges need no caller input (always and variable conditions)."""
        values = self.variables_for(variables)
        path = [self.node(node_id).id]
        for _ in range(max_hops):
            node = self.nodes[path[-1]]
            edges = self.outgoing.get(node.id, ())
            if node.type in ("end", "transfer"):
                return Advance(tuple(path), node.id, "ends")
            if not auto_edges(node, edges):
                return Advance(tuple(path), node.id, "waits")
            target = next_step(node, edges, utterance=None, digit=None, variables=values).target
            if target is None:
                return Advance(tuple(path), node.id, "no_match")
            if target in path:
                return Advance(tuple(path), node.id, "loop")
            path.append(target)
        return Advance(tuple(path), path[-1], "limit")

    # --- text ---------------------------------------------------------------------------------------

    def spoken_line(
        self, node_id: str, language: str | None = None, variables: Mapping[str, Scalar] | None = None
    ) -> str | None:
        """The verbatim line of a static, menu, transfer or end node, rendered; None for conversation
        nodes (their words come from the LLM) and for end/transfer nodes without text."""
        node = self.node(node_id)
        if node.text is None:
            return None
        return render(node.text.text_for(language, self.config.language), self.variables_for(variables))

    def scripted_line(
        self, node_id: str, language: str | None = None, variables: Mapping[str, Scalar] | None = None
    ) -> str | None:
        """A conversation node's fallback line (for the scripted responder), rendered."""
        node = self.node(node_id)
        if node.scripted_line is None:
            return None
        return render(
            node.scripted_line.text_for(language, self.config.language), self.variables_for(variables)
        )

    def render_prompt(self, node_id: str, variables: Mapping[str, Scalar] | None = None) -> str:
        """The global prompt and the node's prompt, rendered, as one system prompt."""
        node = self.node(node_id)
        values = self.variables_for(variables)
        parts = [render(text, values) for text in (self.global_prompt, node.prompt) if text]
        return "\n\n".join(parts)

    def variables_used(self, node_id: str) -> frozenset[str]:
        """Variables that shape what is said at this node (its texts and the global prompt): a cache
        key for an answer here must include their values, since version_hash does not."""
        texts = (self.global_prompt, *self.node(node_id).templates())
        return frozenset(name for text in texts for name in variable_names(text))

    def missing_variables(self, variables: Mapping[str, Scalar] | None = None) -> list[str]:
        """Variables used anywhere without a default that neither config.variables nor `variables` give."""
        values = self.variables_for(variables)
        texts = [self.global_prompt]
        for node in self.nodes.values():
            texts.extend(node.templates())
        texts.extend(edge.condition.prompt for edge in self.edges.values() if edge.condition.prompt)
        return list(dict.fromkeys(name for text in texts for name in missing_variables(text, values)))

    # --- serialisation ----------------------------------------------------------------------------

    def to_dict(self, *, include_variables: bool = True) -> dict[str, Any]:
        """The meaningful content as a payload parse_workflow accepts: no UI fields, nodes by id,
        edges grouped by source in priority order. version_hash is the sha256 of this without
        config.variables (call data, not workflow), as canonical JSON."""
        nodes = [
            self.nodes[node_id].to_json(is_start=node_id == self.start_node) for node_id in sorted(self.nodes)
        ]
        edges = [edge.to_json() for source in sorted(self.outgoing) for edge in self.outgoing[source]]
        return {
            "globalPrompt": self.global_prompt,
            "nodes": nodes,
            "edges": edges,
            "config": self.config.to_json(include_variables=include_variables),
        }
