"""The control plane fuzzed from its OpenAPI document (docs/openapi.json) against `make dev`'s stack.

schemathesis (4.x) generates each operation's requests from the document, valid ones (positive) and ones
that break it (negative: wrong types, missing fields, bodies that are not JSON, odd headers and paths);
hypothesis runs them, derandomized, a bounded number per operation, so a CI run is the same every time.

Invariants, for every generated request:
- never a 5xx;
- with the API key: the answer is one the document declares for that status, in the declared shape
  (an error is kimiyi.api_errors' body);
- without a key, or with a wrong one: API Gateway's own 401 / 403 before any function runs (health, the
  one public route, answers as usual).

make-call is sent with `dryRun: true` wherever the body leaves dryRun unset or false, so nothing is
dialed (the local stack has no Twilio account: a real call would be a documented 503).
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

pytestmark = pytest.mark.e2e
DOCUMENT_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
DOCUMENT = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
SCHEMA = schemathesis.openapi.from_path(DOCUMENT_PATH)
KEY = "local-dev-key"  # the local stack's documented default
EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 25}
# Negative cases need something to break: health has no parameter and no body.
RUNS = [
    (path, method.upper(), mode)
    for path, operations in DOCUMENT["paths"].items()
    for method, operation in operations.items()
    for mode in EXAMPLES
    if mode is GenerationMode.POSITIVE or operation.get("parameters") or operation.get("requestBody")
]
# Most requests carry the key, so the functions behind the authorizer see most of the generated input.
KEY_VARIANTS = ("valid", "valid", "valid", "valid", "wrong", "none")


def _fuzz_settings(examples: int):
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )


def _keyed(path: str, method: str) -> bool:
    return DOCUMENT["paths"][path][method.lower()].get("security", DOCUMENT["security"]) != []


def _declared_schema(path: str, method: str, status: int) -> dict | None:
    answer = DOCUMENT["paths"][path][method.lower()]["responses"].get(str(status))
    if answer is None:
        return None
    return {**DOCUMENT, **answer["content"]["application/json"]["schema"]}


def _with_dry_run(case) -> None:
    if isinstance(case.body, dict) and case.body.get("dryRun", False) is False:
        case.body = {**case.body, "dryRun": True}


def _describe(case, response) -> str:
    body = case.body if isinstance(case.body, (dict, list, str)) else repr(case.body)
    return (
        f"{case.method} {case.formatted_path} query={case.query} headers={case.headers}\n"
        f"body={json.dumps(body, ensure_ascii=True, default=repr)[:2000]}\n"
        f"-> {response.status_code} {response.text[:1000]}"
    )


@pytest.mark.parametrize(("path", "method", "mode"), RUNS, ids=[f"{m} {p} {g.value}" for p, m, g in RUNS])
def test_no_generated_request_gets_a_5xx(app_stack, path, method, mode):
    operation = SCHEMA[path][method]
    keyed = _keyed(path, method)
    session = requests.Session()

    @_fuzz_settings(EXAMPLES[mode])
    @given(case=operation.as_strategy(mode), key=st.sampled_from(KEY_VARIANTS))
    def fuzz(case, key):
        if path == "/api/make-call-optimized":
            _with_dry_run(case)
        headers = dict(case.headers or {})
        generated_key = headers.pop("x-api-key", "")
        if key == "valid":
            headers["x-api-key"] = KEY
        elif key == "wrong" and generated_key != KEY:
            headers["x-api-key"] = generated_key
        case.headers = headers
        response = case.call(base_url=app_stack.base_url, session=session, timeout=30)
        shown = _describe(case, response)
        assert response.status_code < 500, shown
        if keyed and key != "valid":
            expected = 403 if headers.get("x-api-key") else 401
            assert response.status_code == expected, shown
            assert response.json() == {"message": "Unauthorized" if expected == 401 else "Forbidden"}, shown
            return
        declared = _declared_schema(path, method, response.status_code)
        if declared is None:
            # Only API Gateway's own 404 (a path its routes do not match, such as an encoded slash) may
            # be undocumented for a route.
            assert response.status_code == 404 and response.json() == {"message": "Not Found"}, shown
            return
        problems = [
            error.message for error in jsonschema.Draft202012Validator(declared).iter_errors(response.json())
        ]
        assert not problems, f"{shown}\nnot the declared shape: {problems[:3]}"

    fuzz()


CLINIC = json.loads((DOCUMENT_PATH.parents[1] / "examples" / "clinic-appointment.json").read_text("utf-8"))
ODD_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(("", " ", "\x00", "²", "{{", "}}", "{{x|}}", "\u202e", "係呀", "🙂" * 20, "a" * 1001)),
)
ODD_SCALAR = st.one_of(ODD_TEXT, st.integers(), st.floats(allow_nan=False), st.booleans())


@st.composite
def clinic_calls_with_odd_values(draw):
    """The shipped example, valid in shape, with odd text and numbers where a builder puts its own."""
    body = json.loads(json.dumps(CLINIC))
    body |= {
        "to": draw(st.sampled_from(("+14155550123", "+1 (415) 555-0123", "+85223456789"))),
        "dryRun": True,
    }
    if draw(st.booleans()):
        body["variables"] = draw(
            st.dictionaries(st.sampled_from(("patientName", "balanceDue", "x")), ODD_SCALAR)
        )
    if draw(st.booleans()):
        body["workflowId"] = draw(st.one_of(ODD_TEXT, st.integers()))
    if draw(st.booleans()):
        body["globalPrompt"] = draw(ODD_TEXT)
    for node in draw(st.lists(st.sampled_from(body["nodes"]), max_size=3)):
        key = draw(st.sampled_from(("text", "prompt", "scriptedLine", "label")))
        node["data"][key] = draw(
            st.one_of(ODD_TEXT, st.dictionaries(st.sampled_from(("en-US", "zh-HK", "xx")), ODD_TEXT))
        )
    for name in draw(
        st.lists(st.sampled_from(("language", "maxTurns", "temperature", "mode", "hints")), max_size=2)
    ):
        body["config"][name] = draw(ODD_SCALAR)
    return body


@pytest.mark.parametrize("route", ["/api/make-call-optimized", "/api/test-optimization"])
def test_the_example_workflow_with_odd_values_never_gets_a_5xx(app_stack, route):
    session = requests.Session()

    @_fuzz_settings(20)
    @given(body=clinic_calls_with_odd_values())
    def fuzz(body):
        if route == "/api/test-optimization":
            body = {**body, "utterances": ["Hello?", {"dtmf": "2"}, "yes"]}
        response = session.post(
            f"{app_stack.base_url}{route}", json=body, headers={"x-api-key": KEY}, timeout=30
        )
        shown = f"POST {route} {json.dumps(body, ensure_ascii=True)[:3000]}\n-> {response.status_code} {response.text[:500]}"
        assert response.status_code < 500, shown
        schema = _declared_schema(route, "POST", response.status_code)
        assert schema is not None, shown
        problems = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(response.json())]
        assert not problems, f"{shown}\nnot the declared shape: {problems[:3]}"

    fuzz()
