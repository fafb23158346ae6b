"""Dynamic variables: rendering, defaults, missing names and malformed placeholders."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kimiyi.workflow import (
    WorkflowError,
    check_variables,
    missing_variables,
    parse_workflow,
    render,
    template_errors,
    variable_names,
)


@pytest.mark.parametrize(
    ("text", "variables", "expected"),
    [
        ("Hi {{name}}!", {"name": "Ann"}, "Hi Ann!"),
        ("Hi {{ name }}!", {"name": "Ann"}, "Hi Ann!"),
        ("Hi {{name|there}}!", {}, "Hi there!"),
        ("Hi {{ name | dear patient }}!", {}, "Hi dear patient!"),
        ("Hi {{name|there}}!", {"name": "Ann"}, "Hi Ann!"),
        ("Hi {{name}}!", {}, "Hi !"),  # unknown without default: empty
        ("Hi {{name|}}!", {}, "Hi !"),  # an explicit empty default
        ("{{a}}{{b}}", {"a": 1, "b": 2}, "12"),
        ("{{n}} visits", {"n": 3.0}, "3 visits"),
        ("{{n}}", {"n": 2.5}, "2.5"),
        ("{{n}}", {"n": Decimal("4")}, "4"),
        ("{{flag}}", {"flag": True}, "true"),
        ("{{flag}}", {"flag": False}, "false"),
        ("{{count}}", {"count": 0}, "0"),
        ("你好{{姓名}}", {"姓名": "陳生"}, "你好陳生"),
        ("{{patient.name}}", {"patient.name": "Ann"}, "Ann"),
        ("{{time|9:00 | 10:00}}", {}, "9:00 | 10:00"),  # only the first bar splits
        ("no placeholders { } }}", {}, "no placeholders { } }}"),
        ("", {}, ""),
    ],
)
def test_render(text: str, variables: dict, expected: str) -> None:
    assert render(text, variables) == expected


def test_missing_variables_lists_names_without_defaults_once_in_order() -> None:
    text = "{{b}} {{a|x}} {{c}} {{b}} {{d|}}"
    assert missing_variables(text, {}) == ["b", "c"]
    assert missing_variables(text, {"c": "here"}) == ["b"]
    assert variable_names(text) == ["b", "a", "c", "d"]


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("Hi {{ }}", "empty placeholder"),
        ("Hi {{}}", "empty placeholder"),
        ("Hi {{|x}}", "empty placeholder"),
        ("Hi {{a b}}", "'a b' is not a variable name"),
        ("Hi {{1st}}", "'1st' is not a variable name"),
        ("Hi {{name", "unclosed placeholder"),
        ("Hi {{a{{b}}", "cannot be nested"),
        ("Hi {{{name}}}", "three braces"),
        ("Hi {{" + "x" * 65 + "}}", "at most 64 characters"),
    ],
)
def test_malformed_placeholders_are_described(text: str, fault: str) -> None:
    errors = template_errors(text)
    assert len(errors) == 1
    assert fault in errors[0]


def test_every_fault_in_a_text_is_reported() -> None:
    assert len(template_errors("{{ }} and {{a b}} and {{ok}} and {{x")) == 3


def test_a_malformed_placeholder_fails_validation_naming_node_and_field() -> None:
    payload = {
        "nodes": [
            {"id": "hi", "type": "static", "data": {"text": {"en-US": "Hi {{name", "zh-HK": "你好"}}},
            {"id": "bye", "type": "end", "data": {}},
        ],
        "edges": [
            {
                "id": "e",
                "source": "hi",
                "target": "bye",
                "data": {"condition": "the caller is {{ mood mood }}"},
            }
        ],
        "config": {"languages": ["zh-HK"]},
    }
    with pytest.raises(WorkflowError) as caught:
        parse_workflow(payload)
    assert [(p.path, "placeholder" in p.message) for p in caught.value.problems] == [
        ("nodes[0] (id 'hi').data.text.en-US", True),
        ("edges[0] (id 'e').data.condition.prompt", True),
    ]


def test_workflow_rendering_uses_config_variables_under_call_variables() -> None:
    workflow = parse_workflow(
        {
            "globalPrompt": "You work for {{clinic}}.",
            "nodes": [
                {"id": "hi", "type": "static", "data": {"text": "Hi {{name|there}}, {{clinic}} here."}},
                {"id": "ask", "type": "conversation", "data": {"prompt": "Ask {{name}} about {{topic}}."}},
                {"id": "bye", "type": "end", "data": {}},
            ],
            "edges": [
                {"id": "e1", "source": "hi", "target": "ask"},
                {"id": "e2", "source": "ask", "target": "bye", "data": {"condition": "done, {{ending}}"}},
            ],
            "config": {"variables": {"clinic": "Harbour Dental", "name": "Ann"}},
        }
    )
    assert workflow.spoken_line("hi") == "Hi Ann, Harbour Dental here."
    assert workflow.spoken_line("hi", variables={"name": "Bo"}) == "Hi Bo, Harbour Dental here."
    assert (
        workflow.render_prompt("ask", {"topic": "teeth"})
        == "You work for Harbour Dental.\n\nAsk Ann about teeth."
    )
    assert workflow.missing_variables() == ["topic", "ending"]
    assert workflow.missing_variables({"topic": "x", "ending": "y"}) == []
    assert workflow.variables_used("ask") == {"clinic", "name", "topic"}
    assert workflow.variables_used("bye") == {"clinic"}
    assert workflow.spoken_line("ask") is None
    assert workflow.spoken_line("bye") is None


def test_check_variables_validates_variables_given_apart() -> None:
    assert check_variables({"a": "x", "b": 2, "c": 1.5, "d": False}) == {
        "a": "x",
        "b": 2,
        "c": 1.5,
        "d": False,
    }
    with pytest.raises(WorkflowError) as caught:
        check_variables({"ok": 1, "bad name": 1, "v": None, "w": float("nan")})
    assert sorted(p.path for p in caught.value.problems) == [
        "variables.bad name",
        "variables.v",
        "variables.w",
    ]
    with pytest.raises(WorkflowError, match="expected an object"):
        check_variables(["a"])
    with pytest.raises(WorkflowError, match="the limit is 1000"):
        check_variables({"long": "x" * 1001})
