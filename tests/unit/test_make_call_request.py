"""The make-call body and numbers: every fault named by its field, the allow-list decided by prefix."""

from __future__ import annotations

import json

import pytest

from kimiyi.api_errors import ApiError
from kimiyi.make_call_request import (
    MAX_BODY_BYTES,
    check_idempotency_key,
    parse_call_request,
)
from kimiyi.phone_numbers import CountryAllowList, to_e164

NODES = [
    {"id": "hello", "type": "static", "data": {"isStart": True, "text": "Hi {{name}}!"}},
    {"id": "ask", "type": "conversation", "data": {"prompt": "Ask how they are."}},
    {"id": "bye", "type": "end", "data": {"text": "Bye!"}},
]
EDGES = [
    {"id": "e1", "source": "hello", "target": "ask"},
    {
        "id": "e2",
        "source": "ask",
        "target": "bye",
        "data": {"condition": {"type": "intent", "intent": "yes"}},
    },
]


def body(**changes) -> dict:
    base = {
        "to": "+14155550123",
        "from": "+14155550100",
        "workflowId": "wf_1",
        "nodes": NODES,
        "edges": EDGES,
        "globalPrompt": "Be brief.",
        "config": {"variables": {"name": "Ann", "city": "Oslo"}},
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def parse(payload, **kwargs):
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse_call_request(raw, **kwargs)


def problems(payload, **kwargs) -> dict[str, str]:
    with pytest.raises(ApiError) as caught:
        parse(payload, **kwargs)
    assert caught.value.status == 422 and caught.value.code == "invalid_request"
    return {p.path: p.message for p in caught.value.problems}


# ---------------------------------------------------------------- numbers
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("+14155550123", "+14155550123"),
        ("+1 (415) 555-0123", "+14155550123"),
        ("+852 2123.4567", "+85221234567"),
    ],
)
def test_e164_numbers_are_normalised(given, expected):
    assert to_e164(given) == expected


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ("4155550123", "must start with +"),
        ("+0155550123", "the first not 0"),
        ("+1415555012345678", "7 to 15 digits"),
        ("+1415", "7 to 15 digits"),
        ("+1415555abcd", "7 to 15 digits"),
        ("  ", "is empty"),
    ],
)
def test_non_e164_numbers_are_refused_saying_why(given, fragment):
    with pytest.raises(ValueError, match=fragment):
        to_e164(given)


# ---------------------------------------------------------------- allow-list
def test_allow_list_allows_listed_codes_only():
    allow = CountryAllowList.parse("1, 44,+852")
    assert allow.check("+14155550123").allowed
    assert allow.check("+85221234567").prefix == "852"
    refused = allow.check("+33142685300")
    assert not refused.allowed and "+1, +44, +852" in refused.reason


def test_longest_prefix_decides_so_a_block_can_carve_out_of_a_code():
    allow = CountryAllowList.parse("1,!1876,!1809")
    assert allow.check("+12125550123").allowed
    jamaica = allow.check("+18765550123")
    assert not jamaica.allowed and jamaica.prefix == "1876" and "blocked" in jamaica.reason


def test_an_empty_allow_list_refuses_everything():
    verdict = CountryAllowList.parse("").check("+14155550123")
    assert not verdict.allowed and "empty" in verdict.reason


@pytest.mark.parametrize("text", ["1,abc", "1,0044", "!", "1,!1"])
def test_malformed_allow_lists_are_errors(text):
    with pytest.raises(ValueError, match="ALLOWED_COUNTRY_CODES"):
        CountryAllowList.parse(text)


# ---------------------------------------------------------------- the body
def test_a_good_body_parses_with_variables_merged_over_config():
    request = parse(body(variables={"name": "Bo"}, mode="classic", dryRun=True))
    assert request.to == "+14155550123" and request.from_ == "+14155550100"
    assert request.variables == {"name": "Bo", "city": "Oslo"}
    assert request.mode == "classic" and request.dry_run is True
    assert request.workflow.start_node == "hello"
    assert request.body["workflowId"] == "wf_1"


def test_mode_defaults_from_config_and_stream_is_the_default():
    assert parse(body()).mode == "stream"
    assert parse(body(config={"mode": "classic"})).mode == "classic"
    assert parse(body(config={"mode": "classic"}, mode="streaming")).mode == "stream"


def test_from_defaults_to_the_configured_caller_id():
    assert parse(body(**{"from": ...}), default_from="+14155550999").from_ == "+14155550999"


def test_from_is_required_to_dial_without_a_default_but_not_for_a_dry_run():
    assert "TWILIO_FROM_NUMBER" in problems(body(**{"from": ...}))["from"]
    assert parse(body(**{"from": ...}, dryRun=True)).from_ == ""


def test_every_problem_is_reported_at_once_naming_its_field():
    found = problems(
        body(
            to="415-555-0123",
            dryRun="yes",
            mode="fast",
            variables=["a"],
            workflowId={"id": 1},
            nodes=[{"id": "x", "type": "conversation", "data": {}}],
        )
    )
    assert "must start with +" in found["to"]
    assert "true or false" in found["dryRun"]
    assert "unknown mode 'fast'" in found["mode"]
    assert "object" in found["variables"]
    assert "string" in found["workflowId"]
    assert any(path.startswith("nodes[0] (id 'x').data.prompt") for path in found)


def test_missing_to_and_nodes_are_named():
    found = problems(body(to=..., nodes=...))
    assert "is required" in found["to"]
    assert "nodes" in found


def test_wrong_types_are_named_with_the_type_received():
    found = problems(body(to=14155550123, edges="e1", globalPrompt=7, config=[]))
    assert found["to"] == "expected a string such as +14155550123, got a number"
    assert found["config"] == "expected an object, got an array"
    assert "edges" in found and "globalPrompt" in found


def test_workflow_problems_keep_their_paths():
    edges = [*EDGES, {"id": "e3", "source": "ask", "target": "nowhere"}]
    found = problems(body(edges=edges, config={"temprature": 1}))
    assert "did you mean 'temperature'" in found["config.temprature"]
    assert any(path.startswith("edges[2] (id 'e3')") for path in found)


def test_misspelt_request_fields_are_refused_rather_than_ignored():
    found = problems(body(dryrun=True, Variables={}))
    assert found["dryrun"] == "unknown field 'dryrun'; did you mean 'dryRun'?"
    assert "did you mean 'variables'" in found["Variables"]
    assert parse(body(viewport={"x": 0, "y": 0, "zoom": 1})).to  # builders' extra keys are fine


def test_variables_are_checked_by_name_and_value():
    found = problems(body(variables={"1st": "a", "ok": {"nested": True}}))
    assert "variables.1st" in found and "variables.ok" in found


def test_numeric_workflow_ids_are_accepted_as_text():
    assert parse(body(workflowId=42)).workflow_id == "42"


def test_unset_variables_are_warnings_not_errors():
    request = parse(body(config={}))
    assert [w.path for w in request.warnings] == ["variables.name"]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"", "empty"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object, got an array"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_unreadable_bodies_are_400(raw, fragment):
    with pytest.raises(ApiError) as caught:
        parse(raw)
    assert caught.value.status == 400 and caught.value.code == "invalid_json"
    assert fragment in caught.value.message


def test_oversize_bodies_are_413_before_parsing():
    raw = json.dumps(body(globalPrompt="x" * MAX_BODY_BYTES)).encode()
    with pytest.raises(ApiError) as caught:
        parse(raw)
    assert caught.value.status == 413 and "256 KB" in caught.value.message


@pytest.mark.parametrize("value", ["", "   ", "a" * 256, "has space", "naïve"])
def test_unusable_idempotency_keys_are_named(value):
    with pytest.raises(ApiError) as caught:
        check_idempotency_key(value)
    assert caught.value.status == 422
    assert caught.value.problems[0].path == "headers.Idempotency-Key"


def test_idempotency_keys_are_optional_and_trimmed():
    assert check_idempotency_key(None) is None
    assert check_idempotency_key(" 5f1d7a3c-0b8e ") == "5f1d7a3c-0b8e"
