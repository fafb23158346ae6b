"""parse_workflow: each fault is reported with its exact path, and all faults are reported together."""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from kimiyi.workflow import Problem, WorkflowError, parse_workflow


def minimal() -> dict[str, Any]:
    """static 'hello' (start) → conversation 'ask' → end 'bye'."""
    return {
        "nodes": [
            {"id": "hello", "type": "static", "data": {"isStart": True, "text": "Hello {{name|there}}."}},
            {"id": "ask", "type": "conversation", "data": {"prompt": "Ask how the caller is."}},
            {"id": "bye", "type": "end", "data": {"text": "Goodbye."}},
        ],
        "edges": [
            {"id": "e1", "source": "hello", "target": "ask"},
            {
                "id": "e2",
                "source": "ask",
                "target": "bye",
                "data": {"condition": {"type": "intent", "intent": "goodbye"}},
            },
        ],
        "globalPrompt": "You are a polite assistant.",
        "config": {},
    }


def problems_of(payload: Any) -> list[Problem]:
    with pytest.raises(WorkflowError) as caught:
        parse_workflow(payload)
    return list(caught.value.problems)


def mutate(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    payload = minimal()
    change(payload)
    return payload


def node(payload: dict[str, Any], index: int) -> dict[str, Any]:
    return payload["nodes"][index]


def edge(payload: dict[str, Any], index: int) -> dict[str, Any]:
    return payload["edges"][index]


FAULTS: list[tuple[str, Callable[[dict[str, Any]], object], str, str]] = [
    ("missing node type", lambda p: node(p, 2).pop("type"), "nodes[2] (id 'bye').type", "is required"),
    (
        "unknown node type",
        lambda p: node(p, 2).update(type="start"),
        "nodes[2] (id 'bye').type",
        "unknown node type 'start'; expected one of conversation, static, menu, transfer, end"
        " (mark the first node with data.isStart: true instead)",
    ),
    ("node type not a string", lambda p: node(p, 2).update(type=5), "nodes[2] (id 'bye').type", "a number"),
    (
        "duplicate node id",
        lambda p: p["nodes"].append({"id": "ask", "type": "end", "data": {}}),
        "nodes[3] (id 'ask').id",
        "duplicate node id 'ask' (also nodes[1] (id 'ask'))",
    ),
    (
        "duplicate edge id",
        lambda p: edge(p, 1).update(id="e1"),
        "edges[1] (id 'e1').id",
        "duplicate edge id 'e1' (also edges[0] (id 'e1'))",
    ),
    (
        "edge from an unknown node",
        lambda p: edge(p, 0).update(source="ghost"),
        "edges[0] (id 'e1').source",
        "'ghost' is not the id of any node",
    ),
    (
        "edge to an unknown node",
        lambda p: edge(p, 1).update(target="nowhere"),
        "edges[1] (id 'e2').target",
        "'nowhere' is not the id of any node",
    ),
    ("edge without a target", lambda p: edge(p, 1).pop("target"), "edges[1] (id 'e2').target", "is required"),
    ("edge without an id", lambda p: edge(p, 1).pop("id"), "edges[1].id", "is required"),
    (
        "node id not a string",
        lambda p: node(p, 0).update(id=7),
        "nodes[0].id",
        "expected a string, got a number",
    ),
    ("empty node id", lambda p: node(p, 0).update(id="  "), "nodes[0].id", "must not be empty"),
    ("node id too long", lambda p: node(p, 0).update(id="x" * 129), "nodes[0].id", "limit is 128"),
    (
        "several start nodes",
        lambda p: node(p, 1)["data"].update(isStart=True),
        "nodes",
        "several start nodes ('hello', 'ask')",
    ),
    (
        "no start node: everything has an incoming edge",
        lambda p: (
            node(p, 0)["data"].pop("isStart"),
            p["edges"].append({"id": "back", "source": "ask", "target": "hello"}),
        ),
        "nodes",
        "no start node: every node has incoming edges",
    ),
    (
        "no start node: several roots",
        lambda p: (node(p, 0)["data"].pop("isStart"), p["edges"].pop(0)),
        "nodes",
        "several nodes have no incoming edges ('hello', 'ask')",
    ),
    (
        "isStart not a boolean",
        lambda p: node(p, 0)["data"].update(isStart="yes"),
        "nodes[0] (id 'hello').data.isStart",
        "expected true or false, got a string",
    ),
    (
        "no reachable end",
        lambda p: node(p, 2).update(type="conversation", data={"prompt": "Chat."}),
        "nodes",
        "no end or transfer node can be reached from the start node 'hello'",
    ),
    (
        "global prompt too long",
        lambda p: p.update(globalPrompt="x" * 8_001),
        "globalPrompt",
        "8001 characters long; the limit is 8000",
    ),
    ("global prompt not a string", lambda p: p.update(globalPrompt=["a"]), "globalPrompt", "got an array"),
    (
        "node prompt too long",
        lambda p: node(p, 1)["data"].update(prompt="x" * 4_001),
        "nodes[1] (id 'ask').data.prompt",
        "the limit is 4000",
    ),
    (
        "static text too long",
        lambda p: node(p, 0)["data"].update(text="x" * 1_001),
        "nodes[0] (id 'hello').data.text",
        "the limit is 1000",
    ),
    (
        "one language's text too long",
        lambda p: node(p, 0)["data"].update(text={"en-US": "Hi", "zh-HK": "你" * 1_001}),
        "nodes[0] (id 'hello').data.text.zh-HK",
        "the limit is 1000",
    ),
    (
        "text keyed by something that is not a language",
        lambda p: node(p, 0)["data"].update(text={"english": "Hi"}),
        "nodes[0] (id 'hello').data.text.english",
        "not a BCP-47 language tag",
    ),
    (
        "text neither string nor object",
        lambda p: node(p, 0)["data"].update(text=["Hi"]),
        "nodes[0] (id 'hello').data.text",
        "expected a string or an object of language → text, got an array",
    ),
    (
        "static node without text",
        lambda p: node(p, 0)["data"].pop("text"),
        "nodes[0] (id 'hello').data.text",
        "is required",
    ),
    (
        "conversation node without prompt",
        lambda p: node(p, 1)["data"].pop("prompt"),
        "nodes[1] (id 'ask').data.prompt",
        "is required",
    ),
    (
        "data not an object",
        lambda p: node(p, 1).update(data=["x"]),
        "nodes[1] (id 'ask').data",
        "got an array",
    ),
    (
        "empty placeholder",
        lambda p: node(p, 0)["data"].update(text="Hello {{ }}"),
        "nodes[0] (id 'hello').data.text",
        "empty placeholder",
    ),
    (
        "placeholder with a space in the name",
        lambda p: node(p, 1)["data"].update(prompt="Greet {{first name}}"),
        "nodes[1] (id 'ask').data.prompt",
        "'first name' is not a variable name",
    ),
    (
        "unclosed placeholder",
        lambda p: node(p, 2)["data"].update(text="Bye {{name"),
        "nodes[2] (id 'bye').data.text",
        "unclosed placeholder '{{name'",
    ),
    (
        "malformed placeholder in the global prompt",
        lambda p: p.update(globalPrompt="Call {{clinic name}}"),
        "globalPrompt",
        "'clinic name' is not a variable name",
    ),
    (
        "malformed placeholder in a scripted line",
        lambda p: node(p, 1)["data"].update(scriptedLine={"en-US": "Hi {{}}"}),
        "nodes[1] (id 'ask').data.scriptedLine.en-US",
        "empty placeholder",
    ),
    (
        "unknown condition type",
        lambda p: edge(p, 1)["data"].update(condition={"type": "regex"}),
        "edges[1] (id 'e2').data.condition.type",
        "unknown condition type 'regex'",
    ),
    (
        "condition neither object nor string",
        lambda p: edge(p, 1)["data"].update(condition=42),
        "edges[1] (id 'e2').data.condition",
        "got a number",
    ),
    (
        "unknown intent",
        lambda p: edge(p, 1)["data"].update(condition={"type": "intent", "intent": "maybe"}),
        "edges[1] (id 'e2').data.condition.intent",
        "must be one of 'yes', 'no', 'repeat', 'goodbye', 'human'",
    ),
    (
        "keywords given as a string",
        lambda p: edge(p, 1)["data"].update(condition={"type": "keywords", "keywords": "bye"}),
        "edges[1] (id 'e2').data.condition.keywords",
        "expected an array, got a string",
    ),
    (
        "keywords missing",
        lambda p: edge(p, 1)["data"].update(condition={"type": "keywords"}),
        "edges[1] (id 'e2').data.condition.keywords",
        "is required",
    ),
    (
        "keyword with nothing to match",
        lambda p: edge(p, 1)["data"].update(condition={"type": "keywords", "keywords": ["bye", "?!"]}),
        "edges[1] (id 'e2').data.condition.keywords[1]",
        "'?!' has no letters or digits",
    ),
    (
        "bad DTMF digit",
        lambda p: edge(p, 1)["data"].update(condition={"type": "dtmf", "digit": "12"}),
        "edges[1] (id 'e2').data.condition.digit",
        "'12' is not a phone key",
    ),
    (
        "missing DTMF digit",
        lambda p: edge(p, 1)["data"].update(condition={"type": "dtmf"}),
        "edges[1] (id 'e2').data.condition.digit",
        "is required",
    ),
    (
        "unknown operator",
        lambda p: edge(p, 1)["data"].update(
            condition={"type": "variable", "variable": "age", "operator": "=~", "value": 1}
        ),
        "edges[1] (id 'e2').data.condition.operator",
        "unknown operator '=~'",
    ),
    (
        "comparison without a value",
        lambda p: edge(p, 1)["data"].update(
            condition={"type": "variable", "variable": "age", "operator": ">"}
        ),
        "edges[1] (id 'e2').data.condition.value",
        "is required for operator '>'",
    ),
    (
        "comparison against a list",
        lambda p: edge(p, 1)["data"].update(
            condition={"type": "variable", "variable": "age", "operator": "==", "value": [1]}
        ),
        "edges[1] (id 'e2').data.condition.value",
        "got an array",
    ),
    (
        "variable condition without variable",
        lambda p: edge(p, 1)["data"].update(condition={"type": "variable", "operator": "exists"}),
        "edges[1] (id 'e2').data.condition.variable",
        "is required",
    ),
    (
        "bad variable name in a condition",
        lambda p: edge(p, 1)["data"].update(
            condition={"type": "variable", "variable": "a b", "operator": "exists"}
        ),
        "edges[1] (id 'e2').data.condition.variable",
        "'a b' is not a variable name",
    ),
    (
        "LLM condition without a prompt",
        lambda p: edge(p, 1)["data"].update(condition={"type": "llm", "prompt": " "}),
        "edges[1] (id 'e2').data.condition.prompt",
        "must not be empty",
    ),
    (
        "LLM condition too long",
        lambda p: edge(p, 1)["data"].update(condition="x" * 501),
        "edges[1] (id 'e2').data.condition.prompt",
        "the limit is 500",
    ),
    (
        "priority not a whole number",
        lambda p: edge(p, 1)["data"].update(priority=1.5),
        "edges[1] (id 'e2').data.priority",
        "expected a whole number",
    ),
    (
        "edge data not an object",
        lambda p: edge(p, 1).update(data="x"),
        "edges[1] (id 'e2').data",
        "expected an object, got a string",
    ),
    ("nodes not a list", lambda p: p.update(nodes="hello"), "nodes", "expected an array, got a string"),
    ("nodes missing", lambda p: p.pop("nodes"), "nodes", "is required"),
    ("nodes empty", lambda p: p.update(nodes=[], edges=[]), "nodes", "must not be empty"),
    ("edges not a list", lambda p: p.update(edges={"id": "e1"}), "edges", "expected an array, got an object"),
    (
        "node not an object",
        lambda p: p["nodes"].append("bye"),
        "nodes[3]",
        "expected a node object, got a string",
    ),
    (
        "too many nodes",
        lambda p: p["nodes"].extend({"id": f"n{i}", "type": "end", "data": {}} for i in range(198)),
        "nodes",
        "has 201 nodes; the limit is 200",
    ),
    (
        "too many edges",
        lambda p: p["edges"].extend({"id": f"x{i}", "source": "ask", "target": "bye"} for i in range(499)),
        "edges",
        "has 501 edges; the limit is 500",
    ),
    (
        "transfer number not E.164",
        lambda p: node(p, 2).update(type="transfer", data={"phoneNumber": "(212) 555-0147"}),
        "nodes[2] (id 'bye').data.phoneNumber",
        "not an E.164 number",
    ),
    (
        "transfer without a number",
        lambda p: node(p, 2).update(type="transfer", data={"text": "Hold on."}),
        "nodes[2] (id 'bye').data.phoneNumber",
        "is required",
    ),
    (
        "static node leading nowhere",
        lambda p: (
            p["nodes"].append({"id": "dead", "type": "static", "data": {"text": "Hmm."}}),
            p["edges"].append(
                {"id": "e3", "source": "ask", "target": "dead", "data": {"condition": "confused"}}
            ),
        ),
        "nodes[3] (id 'dead')",
        "static node has no outgoing edge",
    ),
    (
        "edge out of an end node",
        lambda p: p["edges"].append({"id": "e3", "source": "bye", "target": "ask"}),
        "edges[2] (id 'e3').source",
        "node 'bye' is an end node: the call leaves the workflow there, so it cannot have outgoing edges",
    ),
    (
        "two always edges",
        lambda p: p["edges"].extend(
            [
                {"id": "e3", "source": "ask", "target": "bye"},
                {"id": "e4", "source": "ask", "target": "hello", "data": {"condition": {"type": "else"}}},
            ]
        ),
        "edges[3] (id 'e4').data.condition",
        "node 'ask' already has an always/else edge ('e3')",
    ),
    (
        "two edges for one key",
        lambda p: p["edges"].extend(
            [
                {
                    "id": "e3",
                    "source": "ask",
                    "target": "bye",
                    "data": {"condition": {"type": "dtmf", "digit": 1}},
                },
                {
                    "id": "e4",
                    "source": "ask",
                    "target": "hello",
                    "data": {"condition": {"type": "dtmf", "digit": "1"}},
                },
            ]
        ),
        "edges[3] (id 'e4').data.condition",
        "already has an edge for digit '1' ('e3')",
    ),
    (
        "static nodes looping by themselves",
        lambda p: (
            node(p, 1).update(type="static", data={"text": "Again."}),
            edge(p, 1)["data"].update(condition={"type": "variable", "variable": "x", "operator": "exists"}),
            p["edges"].append({"id": "e3", "source": "ask", "target": "hello"}),
        ),
        "nodes[0] (id 'hello')",
        "static nodes loop with no caller input in between: hello → ask → hello",
    ),
    ("config not an object", lambda p: p.update(config="fast"), "config", "expected an object, got a string"),
    (
        "unknown config key",
        lambda p: p["config"].update(temprature=0.2),
        "config.temprature",
        "unknown config key 'temprature'; did you mean 'temperature'?",
    ),
    (
        "temperature out of range",
        lambda p: p["config"].update(temperature=2.5),
        "config.temperature",
        "must be between 0 and 2, got 2.5",
    ),
    (
        "temperature as a string",
        lambda p: p["config"].update(temperature="0.4"),
        "config.temperature",
        "expected a number, got a string",
    ),
    (
        "maxTokens too big",
        lambda p: p["config"].update(maxTokens=4096),
        "config.maxTokens",
        "between 1 and 1024",
    ),
    (
        "maxTokens fractional",
        lambda p: p["config"].update(maxTokens=100.5),
        "config.maxTokens",
        "expected a whole number",
    ),
    (
        "firstTokenTimeoutMs too small",
        lambda p: p["config"].update(firstTokenTimeoutMs=10),
        "config.firstTokenTimeoutMs",
        "between 100 and 10000",
    ),
    (
        "unknown provider",
        lambda p: p["config"].update(providerOrder=["openai", "anthropic"]),
        "config.providerOrder[1]",
        "unknown provider 'anthropic'",
    ),
    (
        "provider twice",
        lambda p: p["config"].update(providerOrder=["openai", "openai"]),
        "config.providerOrder[1]",
        "'openai' is listed twice",
    ),
    (
        "providerOrder as a string",
        lambda p: p["config"].update(providerOrder="openai"),
        "config.providerOrder",
        "expected an array, got a string",
    ),
    (
        "bad language",
        lambda p: p["config"].update(language="English"),
        "config.language",
        "'English' is not a BCP-47",
    ),
    (
        "bad switchable language",
        lambda p: p["config"].update(languages=["zh-HK", "cantonese!"]),
        "config.languages[1]",
        "'cantonese!' is not a BCP-47",
    ),
    (
        "interruptible nonsense",
        lambda p: p["config"].update(interruptible="sometimes"),
        "config.interruptible",
        "must be one of 'any', 'speech', 'dtmf', 'none'",
    ),
    (
        "variable value not a scalar",
        lambda p: p["config"].update(variables={"name": ["Ann"]}),
        "config.variables.name",
        "expected a string, number or boolean, got an array",
    ),
    (
        "variable name with a space",
        lambda p: p["config"].update(variables={"first name": "Ann"}),
        "config.variables.first name",
        "not a variable name",
    ),
]


@pytest.mark.parametrize(("change", "path", "message"), [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_each_fault_is_reported_at_its_path(change, path: str, message: str) -> None:
    problems = problems_of(mutate(change))
    matching = [p for p in problems if p.path == path]
    assert matching, f"no problem at {path!r}; got {[str(p) for p in problems]}"
    assert any(message in p.message for p in matching), [str(p) for p in matching]
    assert all(p.severity == "error" for p in problems)


def test_the_minimal_payload_is_valid() -> None:
    workflow = parse_workflow(minimal())
    assert workflow.start_node == "hello"
    assert workflow.warnings == ()


def test_all_problems_are_collected_not_just_the_first() -> None:
    def break_three(p: dict[str, Any]) -> None:
        node(p, 1)["data"].pop("prompt")
        edge(p, 1)["data"]["condition"] = {"type": "dtmf", "digit": "x"}
        p["config"]["temperature"] = -1

    paths = {p.path for p in problems_of(mutate(break_three))}
    assert {
        "nodes[1] (id 'ask').data.prompt",
        "edges[1] (id 'e2').data.condition.digit",
        "config.temperature",
    } <= paths


def test_start_and_reachability_are_checked_even_when_some_node_data_is_broken() -> None:
    def break_data_and_graph(p: dict[str, Any]) -> None:
        node(p, 1)["data"]["prompt"] = "Hi {{oops"
        node(p, 0)["data"].pop("isStart")
        p["edges"].append({"id": "back", "source": "ask", "target": "hello"})

    paths = [p.path for p in problems_of(mutate(break_data_and_graph))]
    assert paths == ["nodes[1] (id 'ask').data.prompt", "nodes"]


def test_the_error_reads_as_a_summary_with_one_line_per_problem() -> None:
    payload = mutate(lambda p: (node(p, 2).update(type="hangup"), p["config"].update(maxTurns=0)))
    with pytest.raises(WorkflowError) as caught:
        parse_workflow(payload)
    text = str(caught.value)
    assert text.startswith("invalid workflow: 2 problems")
    assert "- nodes[2] (id 'bye').type: unknown node type 'hangup'" in text
    assert "- config.maxTurns: must be between 1 and 500, got 0" in text
    assert isinstance(caught.value, ValueError)
    body = caught.value.to_dict()
    assert body["error"] == "invalid workflow"
    assert {p["path"] for p in body["problems"]} == {"nodes[2] (id 'bye').type", "config.maxTurns"}


def test_a_long_list_of_problems_is_cut_in_the_summary_but_kept_in_full() -> None:
    payload = minimal()
    payload["nodes"].extend(
        {"id": f"n{i}", "type": 5, "data": {}} for i in range(60)
    )  # malformed: not skipped
    with pytest.raises(WorkflowError) as caught:
        parse_workflow(payload)
    assert len(caught.value.problems) == 60
    assert "… and 20 more" in str(caught.value)


def test_a_payload_that_is_not_an_object_is_rejected() -> None:
    problems = problems_of(["nodes"])
    assert problems[0].path == "(body)"
    assert "expected a JSON object, got an array" in problems[0].message


def test_an_unreachable_node_is_a_warning_not_an_error() -> None:
    payload = minimal()
    payload["nodes"].append({"id": "draft", "type": "end", "data": {"text": "Unused.", "isStart": False}})
    payload["edges"].append({"id": "e3", "source": "draft", "target": "draft"})  # self-loop: still a root
    payload["edges"].pop()
    workflow = parse_workflow(payload)
    assert [(w.path, w.severity) for w in workflow.warnings] == [("nodes[3] (id 'draft')", "warning")]
    assert "cannot be reached from the start node 'hello'" in workflow.warnings[0].message


def test_start_may_be_the_only_node_without_incoming_edges() -> None:
    payload = minimal()
    node(payload, 0)["data"].pop("isStart")
    assert parse_workflow(payload).start_node == "hello"


def test_a_self_loop_does_not_count_as_an_incoming_edge_for_the_start_rule() -> None:
    payload = minimal()
    node(payload, 0)["data"].pop("isStart")
    node(payload, 1)["data"]["prompt"] = "Chat."
    payload["nodes"][0] = {"id": "hello", "type": "conversation", "data": {"prompt": "Hi."}}
    payload["edges"].append(
        {
            "id": "loop",
            "source": "hello",
            "target": "hello",
            "data": {"condition": {"type": "intent", "intent": "repeat"}},
        }
    )
    assert parse_workflow(payload).start_node == "hello"


def test_a_menu_option_without_an_edge_is_an_error_and_an_unannounced_digit_a_warning() -> None:
    payload = minimal()
    payload["nodes"][1] = {
        "id": "ask",
        "type": "menu",
        "data": {"prompt": "Press 1 or 2.", "options": [{"digit": "1", "label": "Yes"}, {"digit": 2}]},
    }
    edge(payload, 1)["data"]["condition"] = {"type": "dtmf", "digit": "1"}
    problems = problems_of(payload)
    assert [p.path for p in problems] == ["nodes[1] (id 'ask').data.options[1]"]
    assert "no edge from this menu has condition dtmf '2'" in problems[0].message

    payload["nodes"][1]["data"]["options"].pop()
    payload["edges"].append(
        {"id": "e9", "source": "ask", "target": "bye", "data": {"condition": {"type": "dtmf", "digit": "#"}}}
    )
    workflow = parse_workflow(payload)
    assert [w.path for w in workflow.warnings] == ["edges[2] (id 'e9').data.condition.digit"]


def test_menu_faults_in_options() -> None:
    payload = minimal()
    payload["nodes"][1] = {
        "id": "ask",
        "type": "menu",
        "data": {"prompt": "Press 1.", "options": [{"digit": "1"}, {"digit": "1"}, "2", {"digit": "A"}]},
    }
    paths = {p.path: p.message for p in problems_of(payload)}
    assert "is used by another option" in paths["nodes[1] (id 'ask').data.options[1].digit"]
    assert "expected an object {digit, label}" in paths["nodes[1] (id 'ask').data.options[2]"]
    assert "'A' is not a phone key" in paths["nodes[1] (id 'ask').data.options[3].digit"]


def test_menu_needs_options() -> None:
    payload = minimal()
    payload["nodes"][1] = {"id": "ask", "type": "menu", "data": {"prompt": "Press a key."}}
    assert [p.path for p in problems_of(payload)] == ["nodes[1] (id 'ask').data.options"]


def test_text_in_a_language_the_call_never_speaks_is_a_warning() -> None:
    payload = minimal()
    node(payload, 2)["data"]["text"] = {"en-US": "Bye.", "fr-FR": "Au revoir."}
    node(payload, 0)["data"]["text"] = {"zh-HK": "你好。"}
    payload["config"]["languages"] = ["zh-HK"]
    warnings = {w.path: w.message for w in parse_workflow(payload).warnings}
    assert "never speaks 'fr-FR'" in warnings["nodes[2] (id 'bye').data.text.fr-FR"]
    assert "no text for the call's language 'en-US'" in warnings["nodes[0] (id 'hello').data.text"]


def test_ui_only_fields_and_request_fields_are_ignored() -> None:
    payload = minimal()
    payload.update(to="+14155550100", workflowId="wf-1", viewport={"x": 1})
    for item in payload["nodes"]:
        item.update(
            position={"x": 1, "y": 2}, selected=True, dragging=False, width=150, height=40, style={"a": 1}
        )
        item["data"]["label"] = {"rich": "text"}  # display-only, whatever its shape
    for item in payload["edges"]:
        item.update(sourceHandle="a", targetHandle=None, animated=True, style={}, markerEnd={"type": "arrow"})
    assert parse_workflow(payload).version_hash == parse_workflow(minimal()).version_hash


def test_numbers_from_dynamodb_arrive_as_decimal_and_are_accepted() -> None:
    payload = minimal()
    payload["config"] = {
        "temperature": Decimal("0.7"),
        "maxTokens": Decimal("100"),
        "variables": {"n": Decimal("2")},
    }
    edge(payload, 1)["data"] = {
        "condition": {"type": "variable", "variable": "n", "operator": ">", "value": Decimal("1")},
        "priority": Decimal("3"),
    }
    workflow = parse_workflow(payload)
    assert workflow.config.temperature == 0.7
    assert workflow.config.max_tokens == 100
    assert workflow.next_step("ask").target == "bye"


def test_the_payload_is_not_modified() -> None:
    payload = minimal()
    before = copy.deepcopy(payload)
    parse_workflow(payload)
    assert payload == before
