"""POST /api/test-optimization against the local LLM server through the real openai client, and through
the handler with the sample events under moto."""

from __future__ import annotations

import base64
import itertools
import json
from pathlib import Path

import pytest

from kimiyi.llm import CompatibleProvider, FailoverChain, ProviderTimeouts
from kimiyi.test_optimization import compare_pipelines, parse_comparison_request
from kimiyi_local.llm_server import LocalLLMServer
from tests.conftest import FakeLambdaContext
from tests.events import events_for, load

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "clinic-appointment.json"
TIMEOUTS = ProviderTimeouts(connect_s=2, read_s=5)
LONG_REPLY = (
    "Sure, I can help with that. There is free parking right behind the building, "
    "and the entrance is on Harbour Road. Can you still make it tomorrow at ten thirty?"
)
LLM_VARIABLES = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "LLM_API_KEY")


@pytest.fixture(scope="module")
def llm():
    with LocalLLMServer(first_token_ms=50, token_ms=5) as server:
        yield server


def event_counter():
    """A clock that moves one second per reading: it orders events and measures nothing."""
    count = itertools.count()
    return lambda: float(next(count))


def clinic(utterances, **changes):
    payload = json.loads(EXAMPLE.read_text())
    payload.update(utterances=utterances, **changes)
    return parse_comparison_request(json.dumps(payload).encode())


def chain_to(server):
    provider = CompatibleProvider(server.openai_base_url, "local-fake", "k", timeouts=TIMEOUTS, name="local")
    return FailoverChain([provider], first_token_timeout_s=2)


# --- the service against the local server ------------------------------------------------------------------


def test_optimized_speaks_first_on_streamed_turns_and_the_repeat_hits_the_cache(llm):
    llm.configure(reply=LONG_REPLY)  # every prompt gets it; as a routing answer it names no edge
    try:
        body = compare_pipelines(
            clinic(["Hello?", "Is there parking near the clinic?"], repeat=2),
            chain_to(llm),
            clock=event_counter(),
            deadline_s=1e6,
        )
    finally:
        llm.configure(reply=None)
    assert body["truncated"] is False and body["providers"] == ["local", "scripted"]
    first, second = body["turns"][:2], body["turns"][2:]
    for row in first:
        assert row["reply"] == LONG_REPLY and row["optimized"]["provider"] == "local"
        # On a clock that counts events: the optimized run spoke before its reply ended, the
        # traditional one only at the end (how much sooner is the unit tests' lock-step clock's to say).
        assert row["optimized"]["msToFirstSpeech"] < row["optimized"]["msTotal"]
        assert row["traditional"]["msToFirstSpeech"] == row["traditional"]["msTotal"]
        assert row["diverged"] is False
    # "Hello?" is a context-free phrase: stored, then served; the question about parking never is.
    assert [row["optimized"]["cacheHit"] for row in second] == [True, False]
    assert [row["optimized"]["llmCalls"] for row in second] == [0, 2]
    assert [row["traditional"]["llmCalls"] for row in second] == [2, 2]
    assert second[0]["optimized"]["llmCalls"] == 0 and second[0]["optimized"]["provider"] == "cache"
    assert body["summary"]["passes"][1]["cacheHitRate"] == 0.5


def test_the_local_router_drives_the_clinic_path_and_both_runs_follow_it(llm):
    utterances = [
        "Hello?",
        "Can you repeat that?",
        "Actually, I need to move it to another day.",
        "Thursday afternoon, any time after two, please.",
    ]
    body = compare_pipelines(clinic(utterances), chain_to(llm))
    assert [row["node"] for row in body["turns"]] == ["ask_confirm", "ask_confirm", "reschedule", "goodbye"]
    assert all(row["diverged"] is False for row in body["turns"])
    repeat, move, given = body["turns"][1:]
    # Deterministic edges: no routing call in the optimized pipeline; the traditional loop asks anyway.
    assert repeat["optimized"]["llmCalls"] == 1 and repeat["traditional"]["llmCalls"] == 2
    assert move["optimized"]["llmCalls"] == 1 and move["traditional"]["llmCalls"] == 2
    assert move["reply"] == "You said: Actually, I need to move it to another day. How else can I help?"
    # A plain-language edge: both judge, then speak verbatim lines.
    assert given["path"] == ["reschedule_noted", "goodbye"] and given["action"] == "end"
    assert given["optimized"]["llmCalls"] == given["traditional"]["llmCalls"] == 1


# --- the handler with the sample events ---------------------------------------------------------------------


class InvocationContext(FakeLambdaContext):
    """A fresh invocation of the 29 s function."""

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


@pytest.fixture
def handler(aws, function_env, monkeypatch):
    for name in LLM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return function_env("TestOptimizationFunction")


@pytest.fixture
def fast_llm(monkeypatch):
    with LocalLLMServer(first_token_ms=10, token_ms=1) as server:
        monkeypatch.setenv("LLM_BASE_URL", server.openai_base_url)
        monkeypatch.setenv("LLM_MODEL", "local-fake")
        yield server


def event(variant: str = "") -> dict:
    stem = "post-api-test-optimization" + (f"--{variant}" if variant else "")
    return load(next(path for path in events_for(stem, "http") if path.stem == stem))


def invoke(handler, evt, context=None):
    response = handler(evt, context or InvocationContext())
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def test_the_sample_event_compares_both_pipelines_against_the_configured_llm(handler, fast_llm):
    status, body = invoke(handler, event())
    assert status == 200 and body["success"] is True
    assert body["providers"] == ["compatible", "scripted"] and body["scriptedOnly"] is False
    assert body["workflowId"] == "wf_clinic_reminder"
    assert [(row["pass"], row["utterance"]) for row in body["turns"]][:4] == [
        (1, "Hello?"),
        (1, "Who is this?"),
        (1, "Is there parking nearby?"),
        (1, "Yes, I'll be there."),
    ]
    assert len(body["turns"]) == 8 and body["truncated"] is False
    assert [row["optimized"]["cacheHit"] for row in body["turns"][4:6]] == [True, True]
    assert body["turns"][3]["action"] == "end"


def test_the_clinic_event_runs_every_turn_within_the_deadline(handler, fast_llm):
    status, body = invoke(handler, event("clinic"))
    assert status == 200 and body["truncated"] is False
    assert len(body["turns"]) == 12
    assert body["summary"]["passes"][1]["cacheHitRate"] == 0.5  # hello, who, repeat; not the free text


def test_the_invalid_event_names_every_problem(handler):
    status, body = invoke(handler, event("invalid"))
    assert status == 422 and body["success"] is False and body["error"] == "invalid_request"
    paths = {problem["path"] for problem in body["problems"]}
    assert {
        "utterances[1]",
        "utterances[2].dtmf",
        "utterances[3]",
        "repeat",
        "nodes[0] (id 'ask').data.prompt",
    } <= paths
    assert body["message"].startswith("invalid request: ")


def test_with_no_llm_configured_it_still_answers_and_says_so(handler):
    status, body = invoke(handler, event())
    assert status == 200
    assert body["scriptedOnly"] is True and body["providers"] == ["scripted"]
    assert any("no LLM is configured" in note for note in body["notes"])


def test_a_broken_llm_configuration_is_a_503_naming_the_variable(handler, monkeypatch):
    monkeypatch.setenv("LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("LLM_MODEL", "")
    status, body = invoke(handler, event())
    assert status == 503 and body["error"] == "llm_not_configured"
    assert "LLM_MODEL is required" in body["message"]


def test_an_invocation_without_time_to_spare_runs_nothing_and_says_truncated(handler, fast_llm):
    status, body = invoke(handler, event(), FakeLambdaContext())  # 5 s left: less than the safety margin
    assert status == 200
    assert body["truncated"] is True and body["turns"] == [] and body["deadlineMs"] == 0


def test_a_base64_body_is_decoded(handler):
    evt = event()
    evt["body"] = base64.b64encode(evt["body"].encode()).decode()
    evt["isBase64Encoded"] = True
    status, body = invoke(handler, evt)
    assert status == 200 and body["turns"]


def test_a_body_that_is_not_json_is_a_400(handler):
    evt = event()
    evt["body"] = "utterances=Hello"
    status, body = invoke(handler, evt)
    assert status == 400 and body["error"] == "invalid_json" and body["problems"] == []


def test_another_method_is_a_404_in_the_api_error_shape(handler):
    evt = event()
    evt["requestContext"]["http"]["method"] = "GET"
    evt["routeKey"] = "GET /api/test-optimization"
    status, body = invoke(handler, evt)
    assert status == 404 and body["error"] == "not_found"
    assert "GET /api/test-optimization" in body["message"]
