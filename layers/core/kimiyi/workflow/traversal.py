"""Moving through the graph: which edge a caller's words or key press take, with no LLM when possible."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .fields import Scalar
from .model import Edge, Node
from .text import tokenize

MAX_AUTO_ADVANCE = 16


@dataclass(frozen=True)
class Step:
    """The outcome of one caller turn at `node_id`.

    - `target`/`edge`: where to go now, decided without an LLM (a deterministic edge matched, or
      nothing else could apply and the always/else edge was taken). None: not decided here.
    - `llm_candidates`: when no deterministic edge matched and the caller spoke, the LLM-judged
      edges to put to the LLM, in priority order. Resolve its answer with `choose`.
    - `fallback`/`fallback_edge`: the always/else edge, the way out when the LLM picks none.
    When target is None and there are no candidates, the call stays at `node_id`.
    """

    node_id: str
    target: str | None = None
    edge: Edge | None = None
    llm_candidates: tuple[Edge, ...] = ()
    fallback: str | None = None
    fallback_edge: Edge | None = None

    @property
    def needs_llm(self) -> bool:
        return self.target is None and bool(self.llm_candidates)

    @property
    def stays(self) -> bool:
        return self.target is None and not self.llm_candidates

    def choose(self, edge_id: str | None) -> str | None:
        """Resolve the LLM's verdict: the chosen candidate's target, or the fallback for None."""
        if edge_id is None:
            return self.fallback
        for edge in self.llm_candidates:
            if edge.id == edge_id:
                return edge.target
        known = ", ".join(repr(edge.id) for edge in self.llm_candidates) or "none"
        raise ValueError(
            f"edge {edge_id!r} is not an LLM candidate at node {self.node_id!r} (candidates: {known})"
        )


@dataclass(frozen=True)
class Advance:
    """Static nodes passed through without caller input. `path` starts at the node asked about and
    ends at `node_id`, where the call now waits (or ends). `reason` says why it stopped:
    "waits" (a node that needs the caller, or a static node whose edges wait for input),
    "ends" (end or transfer), "no_match" (no edge applied), "loop" or "limit" (safety stops)."""

    path: tuple[str, ...]
    node_id: str
    reason: str


def next_step(
    node: Node,
    edges: tuple[Edge, ...],
    *,
    utterance: str | None,
    digit: str | None,
    variables: Mapping[str, Scalar],
) -> Step:
    units = tokenize(utterance) if utterance else ()
    always = next((edge for edge in edges if edge.condition.kind == "always"), None)
    fallback = always.target if always else None
    for edge in edges:
        if edge.condition.deterministic and edge.condition.matches(units, digit, variables):
            return Step(node.id, edge.target, edge, (), fallback, always)
    candidates = tuple(edge for edge in edges if edge.condition.kind == "llm") if units else ()
    if candidates:
        return Step(node.id, None, None, candidates, fallback, always)
    return Step(node.id, fallback, always, (), fallback, always)
