"""Editor-only nodes: a React Flow save with groups, sticky notes and untyped nodes is accepted, those
nodes skipped with a warning each; an unknown type an edge touches, and malformed nodes, are still refused.

The fixtures are whole canvas saves in React Flow's own JSON (`toObject()`): v11 (`reactflow`:
`parentNode`, `width`/`height`, `positionAbsolute`) and v12 (`@xyflow/react`: `parentId`, `measured`).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kimiyi.make_call_request import parse_call_request
from kimiyi.test_optimization import parse_comparison_request
from kimiyi.workflow import WorkflowError, parse_workflow
from tests.conftest import ROOT

SAVES = ROOT / "tests" / "data" / "react_flow"
STEPS = ("greeting", "ask", "bye")


def save(version: str) -> dict[str, Any]:
    return json.loads((SAVES / f"{version}_save.json").read_text())


def steps_only(payload: dict[str, Any]) -> dict[str, Any]:
    """The same canvas with only the call's steps on it."""
    return {**payload, "nodes": [n for n in payload["nodes"] if n["id"] in STEPS]}


def refused(payload: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(WorkflowError) as caught:
        parse_workflow(payload)
    return {problem.path: problem.message for problem in caught.value.problems}


@pytest.mark.parametrize(
    ("version", "skipped"),
    [
        ("v11", ["nodes[0] (id 'group-1')", "nodes[4] (id 'note-1')", "nodes[5] (id 'dndnode_3')"]),
        (
            "v12",
            [
                "nodes[0] (id 'group-1')",
                "nodes[4] (id 'sticky-1')",
                "nodes[5] (id 'randomnode_1733230000000')",
            ],
        ),
    ],
)
def test_a_canvas_save_runs_its_steps_and_warns_of_each_editor_only_node(version, skipped) -> None:
    workflow = parse_workflow(save(version))
    assert sorted(workflow.nodes) == sorted(STEPS) and workflow.start_node == "greeting"
    assert [w.path for w in workflow.warnings] == skipped
    assert all(w.severity == "warning" and w.message.startswith("ignored: ") for w in workflow.warnings)
    kinds = [w.message.split(" that ")[0] for w in workflow.warnings]
    assert kinds[0] == "ignored: a 'group' node" and kinds[2] == "ignored: a node with no type"
    # Skipped nodes leave no trace in the call: the same hash, and a snapshot without them.
    assert workflow.version_hash == parse_workflow(steps_only(save(version))).version_hash
    assert parse_workflow(steps_only(save(version))).warnings == ()
    assert {n["id"] for n in workflow.to_dict()["nodes"]} == set(STEPS)
    assert workflow.next_step("ask", utterance="yes").target == "bye"


def test_a_misspelt_step_type_left_unconnected_is_skipped_with_a_hint() -> None:
    payload = save("v12")
    payload["nodes"].append({"id": "draft", "type": "conversaton", "data": {"prompt": "Hm."}})
    warning = parse_workflow(payload).warnings[-1]
    assert warning.path == "nodes[6] (id 'draft')"
    assert warning.message.endswith("did you mean type 'conversation'?")


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (  # a note an edge leads to would be a step the call reaches and cannot run
            lambda p: p["edges"].append({"id": "e9", "source": "ask", "target": "sticky-1"}),
            "nodes[4] (id 'sticky-1').type",
            "unknown node type 'sticky'",
        ),
        (  # an edge out of an untyped node
            lambda p: p["edges"].append({"id": "e9", "source": "randomnode_1733230000000", "target": "bye"}),
            "nodes[5] (id 'randomnode_1733230000000').type",
            "is required: one of conversation",
        ),
        (  # a broken edge still touches what it names
            lambda p: p["edges"].append(
                {"id": "e9", "source": "group-1", "target": "ask", "data": {"condition": {"type": "regex"}}}
            ),
            "nodes[0] (id 'group-1').type",
            "unknown node type 'group'",
        ),
        (  # marked as the start: meant to run
            lambda p: p["nodes"][4]["data"].update(isStart=True),
            "nodes[4] (id 'sticky-1').type",
            "unknown node type 'sticky'",
        ),
    ],
    ids=["edge-into-note", "edge-out-of-untyped", "broken-edge", "marked-start"],
)
def test_an_unknown_type_that_could_run_is_still_refused(change, path, message) -> None:
    payload = save("v12")
    change(payload)
    problems = refused(payload)
    assert message in problems[path], problems


@pytest.mark.parametrize(
    ("node", "path", "message"),
    [
        ("a sticky note as text", "nodes[6]", "expected a node object, got a string"),
        ({"type": "note", "data": {}}, "nodes[6].id", "is required"),
        ({"id": "", "type": "group", "data": {}}, "nodes[6].id", "must not be empty"),
        ({"id": 7, "data": {"label": "x"}}, "nodes[6].id", "expected a string, got a number"),
        ({"id": "n", "type": ["note"], "data": {}}, "nodes[6] (id 'n').type", "unknown node type an array"),
        ({"id": "n", "type": "note", "data": "text"}, "nodes[6] (id 'n').data", "expected an object"),
        ({"id": "n", "data": {"isStart": "yes"}}, "nodes[6] (id 'n').data.isStart", "expected true or false"),
        ({"id": "sticky-1", "type": "note", "data": {}}, "nodes[6] (id 'sticky-1').id", "duplicate node id"),
        ({"id": "ask", "type": "note", "data": {}}, "nodes[6] (id 'ask').id", "duplicate node id"),
    ],
    ids=[
        "not-object",
        "no-id",
        "empty-id",
        "number-id",
        "array-type",
        "data-text",
        "bad-start",
        "dup-note",
        "dup-step",
    ],
)
def test_a_malformed_node_is_refused_at_its_path_even_beside_the_editor_ones(node, path, message) -> None:
    payload = save("v12")
    payload["nodes"].append(copy.deepcopy(node))
    problems = refused(payload)
    assert message in problems.get(path, ""), problems


def test_a_canvas_of_editor_only_nodes_has_nothing_to_run() -> None:
    payload = save("v11")
    payload["nodes"], payload["edges"] = [n for n in payload["nodes"] if n["id"] not in STEPS], []
    problems = refused(payload)
    assert problems == {"nodes": problems["nodes"]}
    assert problems["nodes"].startswith("has no step a call can run: all 3 nodes are editor-only")


SKIPPED_V12 = [
    "nodes[0] (id 'group-1')",
    "nodes[4] (id 'sticky-1')",
    "nodes[5] (id 'randomnode_1733230000000')",
]


def test_make_call_answers_the_skipped_nodes_as_warnings() -> None:
    body = {**save("v12"), "to": "+14155550123", "from": "+14155550100", "workflowId": "wf", "dryRun": True}
    request = parse_call_request(json.dumps(body).encode())
    assert [w.path for w in request.warnings] == SKIPPED_V12


def test_test_optimization_answers_the_skipped_nodes_as_warnings() -> None:
    body = {**save("v12"), "utterances": ["yes"]}
    request = parse_comparison_request(json.dumps(body).encode())
    assert [w.path for w in request.warnings] == SKIPPED_V12
