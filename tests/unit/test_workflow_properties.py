"""Property-based checks of the validator: random graphs never crash it, and the version hash
depends only on meaningful content."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kimiyi.workflow import NODE_TYPES, OPERATORS, Workflow, WorkflowError, parse_workflow
from kimiyi.workflow.conditions import KINDS

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- arbitrary (mostly broken) payloads -------------------------------------------------------------

TRICKY = st.sampled_from(
    [
        "",
        " ",
        "{{",
        "{{ }}",
        "{{a b}}",
        "{{name|x}}",
        "+14155550123",
        "1",
        "#",
        "12",
        "yes",
        "en-US",
        "zh-HK",
        "係",
    ]
)
LEAF = st.none() | st.booleans() | st.integers(-3, 3) | st.floats() | st.text(max_size=6) | TRICKY
ANY = st.recursive(
    LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
NODE_IDS = st.sampled_from(["a", "b", "c", "d"])
TEXT = (
    ANY
    | TRICKY
    | st.dictionaries(st.sampled_from(["en-US", "zh-HK", "xx_bad", "es"]), ANY | TRICKY, max_size=2)
)

CONDITION = st.fixed_dictionaries(
    {"type": st.sampled_from([*KINDS, "else", "bogus"]) | LEAF},
    optional={
        "keywords": st.lists(TRICKY | LEAF, max_size=3) | LEAF,
        "intent": st.sampled_from(["yes", "no", "maybe"]) | LEAF,
        "digit": TRICKY | LEAF,
        "variable": st.sampled_from(["x", "a b", ""]) | LEAF,
        "operator": st.sampled_from([*OPERATORS, "=~"]) | LEAF,
        "value": LEAF,
        "prompt": TEXT,
    },
)
NODE = st.fixed_dictionaries(
    {"id": NODE_IDS | LEAF, "type": st.sampled_from(NODE_TYPES) | LEAF},
    optional={
        "data": st.fixed_dictionaries(
            {},
            optional={
                "isStart": st.booleans() | LEAF,
                "prompt": TEXT,
                "text": TEXT,
                "scriptedLine": TEXT,
                "phoneNumber": TRICKY | LEAF,
                "options": st.lists(st.fixed_dictionaries({"digit": TRICKY | LEAF}) | LEAF, max_size=3)
                | LEAF,
            },
        )
        | LEAF,
        "position": ANY,
    },
)
EDGE = st.fixed_dictionaries(
    {"id": st.sampled_from(["e1", "e2", "e3"]) | LEAF, "source": NODE_IDS | LEAF, "target": NODE_IDS | LEAF},
    optional={
        "data": st.fixed_dictionaries({}, optional={"condition": CONDITION | TEXT, "priority": LEAF}) | LEAF
    },
)
CONFIG = st.fixed_dictionaries(
    {},
    optional={
        "language": TRICKY | LEAF,
        "languages": st.lists(TRICKY | LEAF, max_size=3) | LEAF,
        "temperature": LEAF,
        "maxTokens": LEAF,
        "providerOrder": st.lists(st.sampled_from(["azure", "openai", "x"]) | LEAF, max_size=3) | LEAF,
        "interruptible": LEAF,
        "variables": st.dictionaries(st.sampled_from(["x", "a b"]), LEAF, max_size=2) | LEAF,
        "bogus": LEAF,
    },
)
PAYLOAD = st.fixed_dictionaries(
    {},
    optional={
        "nodes": st.lists(NODE | ANY, max_size=6) | ANY,
        "edges": st.lists(EDGE | ANY, max_size=8) | ANY,
        "globalPrompt": TEXT,
        "config": CONFIG | ANY,
    },
)


def check_outcome(payload: object) -> None:
    """Either a WorkflowError whose every problem has a path and a message, or a walkable workflow."""
    try:
        workflow = parse_workflow(payload)
    except WorkflowError as error:
        assert error.problems
        for problem in (*error.problems, *error.warnings):
            assert problem.path and problem.message
        assert str(error).startswith("invalid workflow")
        return
    for problem in workflow.warnings:
        assert problem.path and problem.message
    for node_id in workflow.nodes:  # a valid workflow can be walked from anywhere
        workflow.next_step(node_id, utterance="yes 係 1", digit="1", variables={"x": 1})
        assert workflow.auto_advance(node_id).path[0] == node_id


@SETTINGS
@given(PAYLOAD)
def test_parse_only_ever_raises_workflow_error_and_every_problem_has_a_path(payload: dict[str, Any]) -> None:
    check_outcome(payload)


@SETTINGS
@given(ANY)
def test_any_json_value_at_all_is_handled(payload: Any) -> None:
    check_outcome(payload)


# --- well-formed nodes and edges wired at random: exercises the whole-graph checks ------------------

VALID_DATA = {
    "conversation": {"prompt": "Chat with {{name|the caller}}."},
    "static": {"text": {"en-US": "Hello.", "zh-HK": "你好。"}},
    "menu": {"prompt": "Press 1.", "options": [{"digit": "1"}]},
    "transfer": {"phoneNumber": "+12125550147"},
    "end": {"text": "Bye."},
}
SOME_CONDITION = st.sampled_from(
    [
        None,
        {"type": "always"},
        {"type": "else"},
        {"type": "dtmf", "digit": "1"},
        {"type": "dtmf", "digit": "2"},
        {"type": "intent", "intent": "yes"},
        {"type": "keywords", "keywords": ["取消", "cancel"]},
        {"type": "variable", "variable": "x", "operator": "exists"},
        "the caller is done",
    ]
)


@st.composite
def random_graphs(draw: st.DrawFn) -> dict[str, Any]:
    ids = draw(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=6, unique=True))
    nodes = []
    for node_id in ids:
        kind = draw(st.sampled_from(NODE_TYPES))
        data = {**VALID_DATA[kind], **({"isStart": True} if draw(st.integers(0, 3)) == 0 else {})}
        nodes.append({"id": node_id, "type": kind, "data": data})
    edges = [
        {
            "id": f"e{number}",
            "source": draw(st.sampled_from(ids)),
            "target": draw(st.sampled_from(ids)),
            "data": {"condition": draw(SOME_CONDITION)},
        }
        for number in range(draw(st.integers(0, 10)))
    ]
    return {"nodes": nodes, "edges": edges, "config": {"languages": ["zh-HK"]}}


@SETTINGS
@given(random_graphs())
def test_random_graphs_are_either_valid_or_rejected_with_paths(payload: dict[str, Any]) -> None:
    check_outcome(payload)


# --- valid payloads ---------------------------------------------------------------------------------

WORDS = st.text(alphabet="abcdefgh 你好係呀é", min_size=1, max_size=20).filter(str.strip)
SPOKEN = WORDS | st.builds(lambda a, b: f"{a} {{{{name|{b}}}}}", WORDS, WORDS)
LOCALIZED = SPOKEN | st.fixed_dictionaries({"en-US": SPOKEN, "zh-HK": SPOKEN})
INPUT_CONDITION = st.one_of(
    st.builds(
        lambda i: {"type": "intent", "intent": i},
        st.sampled_from(["yes", "no", "repeat", "goodbye", "human"]),
    ),
    st.builds(
        lambda k: {"type": "keywords", "keywords": k},
        st.lists(WORDS.filter(lambda w: any(c.isalnum() for c in w)), min_size=1, max_size=3),
    ),
    st.builds(lambda p: {"type": "llm", "prompt": p}, WORDS),
)
VARIABLE_CONDITION = st.builds(
    lambda op, value: {"type": "variable", "variable": "score", "operator": op, "value": value},
    st.sampled_from(OPERATORS),
    st.integers(-5, 5) | WORDS | st.booleans(),
)


@st.composite
def valid_payloads(draw: st.DrawFn) -> dict[str, Any]:
    kinds = draw(st.lists(st.sampled_from(["conversation", "static", "menu"]), min_size=1, max_size=7))
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for index, kind in enumerate(kinds):
        data: dict[str, Any] = {}
        if kind == "conversation":
            data = {"prompt": draw(SPOKEN)}
            if draw(st.booleans()):
                data["scriptedLine"] = draw(LOCALIZED)
        elif kind == "static":
            data = {"text": draw(LOCALIZED)}
        else:
            data = {"prompt": draw(LOCALIZED), "options": [{"digit": "1", "label": draw(WORDS)}]}
        if index == 0:
            data["isStart"] = True
        nodes.append({"id": f"n{index}", "type": kind, "data": data})
        # The chain n0 → n1 → … → done keeps everything reachable and able to end.
        target = f"n{index + 1}" if index + 1 < len(kinds) else "done"
        if kind == "menu":
            chain = {"type": "dtmf", "digit": "1"}
        elif kind == "static":
            chain = {"type": "always"}
        else:
            chain = draw(INPUT_CONDITION | VARIABLE_CONDITION | st.just({"type": "always"}))
        edges.append(
            {"id": f"chain{index}", "source": f"n{index}", "target": target, "data": {"condition": chain}}
        )
    nodes.append({"id": "done", "type": "end", "data": {"text": draw(LOCALIZED)}})
    nodes.append(
        {"id": "desk", "type": "transfer", "data": {"phoneNumber": "+12125550147", "text": draw(LOCALIZED)}}
    )
    # Extra edges wait for the caller, so no static node can start a silent loop.
    for number in range(draw(st.integers(0, 8))):
        edges.append(
            {
                "id": f"x{number}",
                "source": draw(st.sampled_from([node["id"] for node in nodes[: len(kinds)]])),
                "target": draw(st.sampled_from([node["id"] for node in nodes])),
                "data": {"condition": draw(INPUT_CONDITION), "priority": draw(st.integers(-2, 2))},
            }
        )
    config = draw(
        st.fixed_dictionaries(
            {"languages": st.just(["zh-HK"])},
            optional={
                "temperature": st.floats(0, 2),
                "maxTokens": st.integers(1, 1024),
                "interruptible": st.booleans(),
            },
        )
    )
    return {"nodes": nodes, "edges": edges, "globalPrompt": draw(SPOKEN), "config": config}


UI_FIELDS = {
    "position": {"x": 10, "y": 20},
    "positionAbsolute": {"x": 1, "y": 2},
    "selected": True,
    "dragging": False,
    "width": 180,
    "height": 64,
    "style": {"border": "1px solid"},
}
EDGE_UI_FIELDS = {
    "sourceHandle": "out",
    "targetHandle": None,
    "animated": True,
    "selected": False,
    "style": {},
}


def shuffled_keys(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {key: shuffled_keys(value[key], rng) for key in keys}
    if isinstance(value, list):
        return [shuffled_keys(item, rng) for item in value]
    return value


def disguised(payload: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Same meaning, different bytes: UI fields, labels, node order, interleaved edges, key order."""
    payload = copy.deepcopy(payload)
    for node in payload["nodes"]:
        node.update(UI_FIELDS)
        node["data"]["label"] = f"Label {rng.random()}"
    for edge in payload["edges"]:
        edge.update(EDGE_UI_FIELDS, label=str(rng.random()))
    rng.shuffle(payload["nodes"])
    # Edges of one source keep their relative order (it sets priority ties); sources interleave freely.
    queues: dict[str, list[dict[str, Any]]] = {}
    for edge in payload["edges"]:
        queues.setdefault(edge["source"], []).append(edge)
    sources = [edge["source"] for edge in payload["edges"]]
    rng.shuffle(sources)
    payload["edges"] = [queues[source].pop(0) for source in sources]
    payload.update(viewport={"zoom": 1.5}, to="+14155550100", workflowId="wf")
    return shuffled_keys(payload, rng)


@SETTINGS
@given(valid_payloads(), st.randoms(use_true_random=False))
def test_valid_workflows_hash_the_same_whatever_the_key_order_and_ui_fields(
    payload: dict[str, Any], rng: random.Random
) -> None:
    workflow = parse_workflow(payload)
    assert parse_workflow(disguised(payload, rng)).version_hash == workflow.version_hash
    # to_dict is itself a valid payload with the same meaning
    assert parse_workflow(json.loads(json.dumps(workflow.to_dict()))).version_hash == workflow.version_hash


@SETTINGS
@given(valid_payloads())
def test_meaningful_changes_change_the_hash(payload: dict[str, Any]) -> None:
    original = parse_workflow(payload).version_hash
    changed = copy.deepcopy(payload)
    changed["globalPrompt"] += " Be brief."
    assert parse_workflow(changed).version_hash != original
    retargeted = copy.deepcopy(payload)
    retargeted["edges"][-1]["target"] = "desk" if retargeted["edges"][-1]["target"] != "desk" else "done"
    assert parse_workflow(retargeted).version_hash != original


@SETTINGS
@given(valid_payloads(), st.text(max_size=30), st.sampled_from([None, "1", "9", "#"]))
def test_a_step_is_always_consistent(payload: dict[str, Any], utterance: str, digit: str | None) -> None:
    workflow: Workflow = parse_workflow(payload)
    for node_id in workflow.nodes:
        step = workflow.next_step(node_id, utterance=utterance, digit=digit, variables={"score": 1})
        outgoing = workflow.edges_from(node_id)
        if step.target is not None:
            assert step.edge in outgoing and step.edge.target == step.target and not step.llm_candidates
        for candidate in step.llm_candidates:
            assert candidate in outgoing and candidate.condition.kind == "llm"
        advance = workflow.auto_advance(node_id, {"score": 1})
        assert advance.path[0] == node_id and advance.path[-1] == advance.node_id
        assert len(set(advance.path)) == len(advance.path)
