"""Traversal: deterministic edges first, then LLM candidates, then the else edge; auto-advance."""

from __future__ import annotations

from typing import Any

import pytest

from kimiyi.workflow import Workflow, parse_workflow
from kimiyi.workflow.conditions import ALWAYS
from kimiyi.workflow.model import Edge, LocalizedText, Node


def cond(**shape: Any) -> dict[str, Any]:
    return {"condition": shape}


def flow(edges: list[dict[str, Any]], extra_nodes: list[dict[str, Any]] = ()) -> Workflow:
    nodes = [
        {"id": "ask", "type": "conversation", "data": {"isStart": True, "prompt": "Ask if they can come."}},
        {"id": "yes", "type": "end", "data": {"text": "Great."}},
        {"id": "no", "type": "end", "data": {"text": "Sorry to hear."}},
        {"id": "move", "type": "end", "data": {"text": "Let's move it."}},
        {"id": "desk", "type": "transfer", "data": {"phoneNumber": "+12125550147"}},
        *extra_nodes,
    ]
    return parse_workflow({"nodes": nodes, "edges": edges})


ASK_EDGES = [
    {
        "id": "llm-move",
        "source": "ask",
        "target": "move",
        "data": cond(type="llm", prompt="wants another day"),
    },
    {
        "id": "kw-move",
        "source": "ask",
        "target": "move",
        "data": cond(type="keywords", keywords=["reschedule"]),
    },
    {"id": "yes", "source": "ask", "target": "yes", "data": cond(type="intent", intent="yes")},
    {"id": "no", "source": "ask", "target": "no", "data": cond(type="intent", intent="no")},
    {"id": "key-0", "source": "ask", "target": "desk", "data": cond(type="dtmf", digit="0")},
    {"id": "llm-desk", "source": "ask", "target": "desk", "data": cond(type="llm", prompt="is upset")},
    {"id": "else", "source": "ask", "target": "desk", "data": cond(type="always")},
]


def test_a_deterministic_match_needs_no_llm_even_when_an_llm_edge_comes_first() -> None:
    step = flow(ASK_EDGES).next_step("ask", utterance="Yes, I'll be there")
    assert (step.target, step.edge.id, step.llm_candidates) == ("yes", "yes", ())
    assert not step.needs_llm and not step.stays


def test_deterministic_edges_are_tried_in_priority_order() -> None:
    # "reschedule" (keywords) is listed before the yes intent, so it wins over "okay".
    step = flow(ASK_EDGES).next_step("ask", utterance="okay so I need to reschedule")
    assert step.edge.id == "kw-move"


def test_priority_overrides_payload_order() -> None:
    edges = [dict(edge, data=dict(edge["data"])) for edge in ASK_EDGES]
    edges[3]["data"]["priority"] = -1  # the "no" intent before everything else
    step = flow(edges).next_step("ask", utterance="no, I need to reschedule")
    assert step.edge.id == "no"
    assert flow(edges).edges_from("ask")[0].id == "no"


def test_a_digit_takes_its_dtmf_edge() -> None:
    step = flow(ASK_EDGES).next_step("ask", digit="0")
    assert (step.target, step.edge.id) == ("desk", "key-0")


def test_unmatched_speech_yields_llm_candidates_in_order_and_the_fallback() -> None:
    step = flow(ASK_EDGES).next_step("ask", utterance="My daughter has a school thing then")
    assert step.target is None and step.edge is None
    assert [edge.id for edge in step.llm_candidates] == ["llm-move", "llm-desk"]
    assert (step.fallback, step.fallback_edge.id) == ("desk", "else")
    assert step.needs_llm
    assert step.choose("llm-move") == "move"
    assert step.choose(None) == "desk"  # the LLM said none applies
    with pytest.raises(ValueError, match="'yes' is not an LLM candidate at node 'ask'"):
        step.choose("yes")


def test_without_llm_edges_the_else_edge_is_taken_at_once() -> None:
    edges = [edge for edge in ASK_EDGES if not edge["id"].startswith("llm")]
    step = flow(edges).next_step("ask", utterance="My daughter has a school thing then")
    assert (step.target, step.edge.id) == ("desk", "else")
    assert not step.needs_llm


def test_an_unmatched_key_press_takes_the_else_edge_and_asks_no_llm() -> None:
    step = flow(ASK_EDGES).next_step("ask", digit="7")
    assert step.llm_candidates == ()
    assert (step.target, step.edge.id) == ("desk", "else")


def test_with_nothing_matching_and_no_else_edge_the_call_stays() -> None:
    edges = [edge for edge in ASK_EDGES if edge["id"] in ("yes", "no")]
    step = flow(edges).next_step("ask", utterance="What's the weather?")
    assert step.stays and step.target is None and step.fallback is None
    assert step.choose(None) is None


def test_variable_edges_decide_without_input() -> None:
    edges = [
        {
            "id": "vip",
            "source": "ask",
            "target": "desk",
            "data": cond(type="variable", variable="tier", operator="==", value="gold"),
        },
        {"id": "yes", "source": "ask", "target": "yes", "data": cond(type="intent", intent="yes")},
    ]
    workflow = flow(edges)
    assert workflow.next_step("ask", variables={"tier": "Gold"}).target == "desk"
    assert workflow.next_step("ask", utterance="yes", variables={"tier": "silver"}).target == "yes"


def test_unknown_ids_raise_key_error_naming_them() -> None:
    workflow = flow(ASK_EDGES)
    with pytest.raises(KeyError, match="no node 'ghost'"):
        workflow.next_step("ghost", utterance="hi")
    with pytest.raises(KeyError, match="no edge 'ghost'"):
        workflow.take("ghost")
    assert workflow.take("llm-move").target == "move"


# --- auto_advance ----------------------------------------------------------------------------------

CHAIN = [
    {"id": "hello", "type": "static", "data": {"isStart": True, "text": "Hello."}},
    {"id": "note", "type": "static", "data": {"text": "This call is recorded."}},
    {"id": "vip", "type": "static", "data": {"text": "Thanks for being a gold member."}},
    {"id": "question", "type": "static", "data": {"text": "Can you come? Say yes or no."}},
    {"id": "ask", "type": "conversation", "data": {"prompt": "Chat."}},
    {"id": "bye", "type": "end", "data": {"text": "Bye."}},
]
CHAIN_EDGES = [
    {"id": "c1", "source": "hello", "target": "note"},
    {
        "id": "c2",
        "source": "note",
        "target": "vip",
        "data": cond(type="variable", variable="tier", operator="==", value="gold"),
    },
    {"id": "c3", "source": "note", "target": "question", "data": cond(type="else")},
    {"id": "c4", "source": "vip", "target": "question"},
    {"id": "c5", "source": "question", "target": "bye", "data": cond(type="intent", intent="yes")},
    {"id": "c6", "source": "question", "target": "ask", "data": cond(type="intent", intent="no")},
    {"id": "c7", "source": "ask", "target": "bye", "data": cond(type="intent", intent="goodbye")},
]


def chain() -> Workflow:
    return parse_workflow({"nodes": CHAIN, "edges": CHAIN_EDGES})


def test_auto_advance_chains_static_lines_until_one_waits_for_the_caller() -> None:
    advance = chain().auto_advance("hello")
    assert advance.path == ("hello", "note", "question")
    assert (advance.node_id, advance.reason) == ("question", "waits")


def test_auto_advance_follows_variable_conditions() -> None:
    advance = chain().auto_advance("hello", {"tier": "gold"})
    assert advance.path == ("hello", "note", "vip", "question")


def test_auto_advance_stops_at_once_on_nodes_that_need_the_caller_or_end() -> None:
    workflow = chain()
    assert workflow.auto_advance("ask").path == ("ask",)
    assert workflow.auto_advance("ask").reason == "waits"
    assert (workflow.auto_advance("bye").path, workflow.auto_advance("bye").reason) == (("bye",), "ends")


def test_auto_advance_reports_a_static_node_with_no_applicable_edge() -> None:
    edges = [edge for edge in CHAIN_EDGES if edge["id"] != "c3"]
    advance = parse_workflow({"nodes": CHAIN, "edges": edges}).auto_advance("hello")
    assert (advance.path, advance.reason) == (("hello", "note"), "no_match")


def test_auto_advance_is_bounded_by_max_hops() -> None:
    advance = chain().auto_advance("hello", max_hops=1)
    assert (advance.path, advance.node_id, advance.reason) == (("hello", "note"), "note", "limit")


def _static(node_id: str) -> Node:
    return Node(node_id, "static", text=LocalizedText((("", node_id),)))


def test_auto_advance_stops_on_a_loop_even_if_validation_was_bypassed() -> None:
    from kimiyi.workflow.config import WorkflowConfig

    a_to_b = Edge("ab", "a", "b", ALWAYS)
    b_to_a = Edge("ba", "b", "a", ALWAYS)
    workflow = Workflow.build(
        nodes={"a": _static("a"), "b": _static("b")},
        outgoing={"a": (a_to_b,), "b": (b_to_a,)},
        start_node="a",
        global_prompt="",
        config=WorkflowConfig(),
    )
    advance = workflow.auto_advance("a")
    assert (advance.path, advance.reason) == (("a", "b"), "loop")


def test_spoken_lines_follow_the_callers_language_with_sensible_fallbacks() -> None:
    workflow = parse_workflow(
        {
            "nodes": [
                {
                    "id": "hi",
                    "type": "static",
                    "data": {"isStart": True, "text": {"en-US": "Hi", "zh-HK": "你好", "es-US": "Hola"}},
                },
                {"id": "bye", "type": "end", "data": {"text": "Bye"}},
            ],
            "edges": [{"id": "e", "source": "hi", "target": "bye"}],
            "config": {"languages": ["zh-HK", "zh-CN", "es-US", "es-MX"]},
        }
    )
    assert workflow.spoken_line("hi", "zh-HK") == "你好"
    assert workflow.spoken_line("hi", "zh-hk") == "你好"  # tags are compared in canonical case
    assert workflow.spoken_line("hi", "es-MX") == "Hola"  # same written language
    assert workflow.spoken_line("hi", "zh-CN") == "Hi"  # Cantonese text never stands in for Mandarin
    assert workflow.spoken_line("hi") == "Hi"
    assert workflow.spoken_line("bye", "zh-HK") == "Bye"  # a plain string serves every language
    assert workflow.nodes["hi"].text.resolve("zh-CN", "en-US") == ("Hi", "en-US")
    assert workflow.nodes["bye"].text.resolve("zh-HK", "en-US") == ("Bye", "en-US")
