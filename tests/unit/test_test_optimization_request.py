"""The test-optimization body: every fault reported at once, each naming its field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kimiyi.api_errors import ApiError
from kimiyi.test_optimization import MAX_UTTERANCES, SampleTurn, parse_comparison_request

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "clinic-appointment.json"


def body(**changes) -> dict:
    payload = json.loads(EXAMPLE.read_text())
    payload["utterances"] = ["Hello?"]
    payload.update(changes)
    return {key: value for key, value in payload.items() if value is not None}


def parse(payload) -> object:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse_comparison_request(raw)


def problems_of(payload) -> dict[str, str]:
    with pytest.raises(ApiError) as caught:
        parse(payload)
    assert caught.value.status == 422
    assert caught.value.code == "invalid_request"
    return {problem.path: problem.message for problem in caught.value.problems}


def test_a_valid_body_gives_the_samples_the_merged_variables_and_the_language():
    request = parse(
        body(
            utterances=["  Hello?  ", {"say": "Who is this?"}, {"dtmf": "1"}],
            variables={"patientName": "Anna"},
            repeat=3,
        )
    )
    assert request.samples == (
        SampleTurn(utterance="Hello?"),
        SampleTurn(utterance="Who is this?"),
        SampleTurn(digit="1"),
    )
    assert request.variables["patientName"] == "Anna"  # the body's value over config.variables
    assert request.variables["clinicName"] == "Harbour Dental"
    assert request.repeat == 3
    assert request.language == "en-US"
    assert request.workflow_id == "clinic-appointment-confirmation"


def test_the_language_may_be_any_the_workflow_declares_and_is_made_canonical():
    assert parse(body(language="yue")).language == "zh-HK"


@pytest.mark.parametrize(
    ("utterances", "message"),
    [
        (None, "is required"),
        ("Hello?", "expected an array of caller turns, got a string"),
        ([], "must hold at least one caller turn"),
        (
            ["Hi"] * (MAX_UTTERANCES + 1),
            f"has {MAX_UTTERANCES + 1} caller turns; the limit is {MAX_UTTERANCES}",
        ),
    ],
)
def test_the_utterance_list_itself(utterances, message):
    payload = body()
    payload["utterances"] = utterances
    if utterances is None:
        del payload["utterances"]
    assert message in problems_of(payload)["utterances"]


@pytest.mark.parametrize(
    ("item", "path", "message"),
    [
        (42, "utterances[1]", "got a number"),
        ("   ", "utterances[1]", "is empty"),
        ("x" * 1001, "utterances[1]", "the limit is 1000"),
        ({"say": 5}, "utterances[1].say", "expected a string, got a number"),
        ({"say": ""}, "utterances[1].say", "is empty"),
        ({"dtmf": "12"}, "utterances[1].dtmf", "'12' is not one key of a phone keypad"),
        ({"dtmf": 1}, "utterances[1].dtmf", "a number is not one key"),
        ({"dtmf": "a"}, "utterances[1].dtmf", "'a' is not one key"),
        (
            {"say": "hi", "dtmf": "1"},
            "utterances[1]",
            "exactly one of \"say\" or \"dtmf\", got keys 'dtmf', 'say'",
        ),
        ({"text": "hi"}, "utterances[1]", "got keys 'text'"),
        (["hi"], "utterances[1]", "got an array"),
    ],
)
def test_each_bad_caller_turn_is_named_by_its_index(item, path, message):
    problems = problems_of(body(utterances=["Hello?", item]))
    assert message in problems[path]
    assert "utterances[0]" not in problems


@pytest.mark.parametrize(
    ("repeat", "message"),
    [
        (0, "must be from 1 to 5, got 0"),
        (6, "must be from 1 to 5, got 6"),
        (2.5, "expected a whole number from 1 to 5, got 2.5"),
        (True, "got a boolean"),
        ("2", "got a string"),
    ],
)
def test_repeat_is_a_whole_number_from_one_to_five(repeat, message):
    assert message in problems_of(body(repeat=repeat))["repeat"]


def test_repeat_written_as_a_whole_float_is_accepted():
    assert parse(body(repeat=2.0)).repeat == 2


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("xx-YY", "is not a language code the language table knows"),
        ("fr-FR", "is not one of this workflow's languages (en-US, zh-HK, zh-CN, es-US)"),
        (7, "expected a language code such as 'en-US', got a number"),
    ],
)
def test_the_language_must_be_known_and_declared(language, message):
    assert message in problems_of(body(language=language))["language"]


def test_a_bad_workflow_reports_its_problems_with_their_paths():
    payload = body(nodes=[{"id": "ask", "type": "conversation", "data": {"isStart": True}}], edges=[])
    problems = problems_of(payload)
    assert "nodes[0] (id 'ask').data.prompt" in problems


def test_every_problem_is_reported_at_once_and_the_message_names_the_first():
    payload = {
        "nodes": "not a list",
        "utterances": ["Hello?", {"dtmf": "12"}],
        "repeat": 9,
        "variables": {"name": ["a", "list"]},
    }
    with pytest.raises(ApiError) as caught:
        parse(payload)
    paths = [problem.path for problem in caught.value.problems]
    assert {"nodes", "utterances[1].dtmf", "repeat", "variables.name"} <= set(paths)
    assert caught.value.message.startswith(f"invalid request: {paths[0]}: ")
    assert f"(and {len(paths) - 1} more problems)" in caught.value.message
    assert caught.value.body()["problems"][0] == caught.value.problems[0].to_dict()


def test_a_misspelt_field_is_named_with_a_suggestion():
    payload = body()
    payload["utterance"] = payload.pop("utterances")
    problems = problems_of(payload)
    assert problems["utterance"] == "unknown field 'utterance'; did you mean 'utterances'?"
    assert "is required" in problems["utterances"]


def test_unrelated_extra_fields_are_ignored():
    assert parse(body(viewport={"zoom": 1}, to="+12125550123")).samples


@pytest.mark.parametrize(
    ("raw", "status", "code", "message"),
    [
        (b"", 400, "invalid_json", "the body is empty"),
        (b"{not json", 400, "invalid_json", "the body is not valid JSON"),
        (b'["Hello?"]', 400, "invalid_json", "must be a JSON object, got an array"),
        (b"{" + b" " * (256 * 1024) + b"}", 413, "body_too_large", "the limit is 262,144 bytes"),
    ],
)
def test_a_body_that_is_not_a_json_object(raw, status, code, message):
    with pytest.raises(ApiError) as caught:
        parse_comparison_request(raw)
    assert (caught.value.status, caught.value.code) == (status, code)
    assert message in caught.value.message
    assert caught.value.body()["problems"] == []


def test_workflow_warnings_come_back_with_the_request():
    payload = body()
    payload["config"] = {**payload["config"], "variables": {}}  # patientName and others now unset
    request = parse(payload)
    paths = {warning.path for warning in request.warnings}
    assert "variables.patientName" in paths
