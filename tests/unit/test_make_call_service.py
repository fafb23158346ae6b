"""The make-call service with in-memory sessions and the fake Twilio HTTP layer: order and clean failures."""

from __future__ import annotations

import json
import logging

import pytest

from kimiyi.adapters.idempotency import KeyInProgress, KeyReused, StoreUnavailable
from kimiyi.adapters.twilio_calls import TwilioCalls
from kimiyi.api_errors import ApiError
from kimiyi.make_call import CallSettings, MakeCall, features, public_base_url
from kimiyi.make_call_request import parse_call_request
from tests.fakes.twilio_http import FakeTwilioHttp

SETTINGS = CallSettings(allowed_country_codes="1,852", public_base_url="https://voice.example.com")
BODY = {
    "to": "+14155550123",
    "from": "+14155550100",
    "workflowId": "wf_1",
    "nodes": [
        {"id": "hi", "type": "static", "data": {"isStart": True, "text": "Hello {{name|there}}!"}},
        {"id": "ask", "type": "conversation", "data": {"prompt": "Ask.", "scriptedLine": "How are you?"}},
        {"id": "bye", "type": "end", "data": {"text": "Bye."}},
    ],
    "edges": [
        {"id": "e1", "source": "hi", "target": "ask"},
        {"id": "e2", "source": "ask", "target": "bye", "data": {"condition": "the caller is done"}},
    ],
    "config": {"ringTimeoutSeconds": 20},
}


class MemorySessions:
    def __init__(self) -> None:
        self.items: dict[str, dict] = {}
        self.fail_record_dial = False
        self.events: list[str] = []

    def put(self, tracking_id, session):
        self.events.append("put")
        self.items[tracking_id] = {"session": session}

    def record_dial(self, tracking_id, call_sid, status):
        if self.fail_record_dial:
            raise RuntimeError("DynamoDB throttled")
        self.items[tracking_id] |= {"callSid": call_sid, "dialStatus": status}

    def discard(self, tracking_id):
        self.events.append("discard")
        del self.items[tracking_id]


class RaisingOnce:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def run(self, key, body, action):
        raise self.error


@pytest.fixture
def http():
    return FakeTwilioHttp()


@pytest.fixture
def sessions():
    return MemorySessions()


def service(sessions, http, once=None, configured=True) -> MakeCall:
    calls = TwilioCalls(http.account_sid, http.auth_token, http_client=http)

    def dialer():
        # The session must already be stored when Twilio is asked: its webhook may come at once.
        sessions.events.append("dialer")
        return calls if configured else None

    return MakeCall(sessions, dialer, once, logging.getLogger("test"))


def call(svc, body=BODY, settings=SETTINGS, key=None, tenant="acme"):
    return svc(json.dumps(body).encode(), settings, idempotency_key=key, tenant_id=tenant)


class RecordingOnce:
    def __init__(self):
        self.keys = []

    def run(self, key, body, action):
        self.keys.append(key)
        return action()


def test_the_session_belongs_to_the_tenant_that_staged_it(sessions, http):
    reply = call(service(sessions, http), tenant="globex")
    assert sessions.items[reply.body["trackingId"]]["session"]["tenantId"] == "globex"


def test_an_idempotency_key_is_the_tenants_own(sessions, http):
    once = RecordingOnce()
    svc = service(sessions, http, once=once)
    call(svc, key="order-1", tenant="acme")
    call(svc, key="order-1", tenant="globex")
    assert once.keys == [["acme", "order-1"], ["globex", "order-1"]]


def test_a_placed_call_stores_the_session_then_the_call_sid(sessions, http):
    reply = call(service(sessions, http))
    assert reply.status == 201 and reply.body["success"] is True
    tracking_id = reply.body["trackingId"]
    item = sessions.items[tracking_id]
    assert item["callSid"] == reply.body["callSid"] == "CA" + "0" * 31 + "1"
    assert item["session"]["greeting"] == "Hello there! How are you?"
    assert http.calls_created[0].data["Url"] == (
        f"https://voice.example.com/api/twiml-optimized?trackingId={tracking_id}"
    )
    assert http.calls_created[0].data["Timeout"] == 20


def test_the_answer_has_the_guides_shape(sessions, http):
    body = call(service(sessions, http)).body
    assert set(body) >= {"success", "callSid", "trackingId", "optimization"}
    assert body["optimization"]["expectedLatency"]["turnP90Ms"] == 250
    assert "conversation-relay-streaming" in body["optimization"]["features"]


def test_a_dry_run_stages_without_dialing_even_without_twilio(sessions, http):
    reply = call(service(sessions, http, configured=False), {**BODY, "dryRun": True})
    assert reply.status == 201 and reply.body["dryRun"] is True and "callSid" not in reply.body
    assert reply.body["twimlUrl"].endswith(f"trackingId={reply.body['trackingId']}")
    assert list(sessions.items) == [reply.body["trackingId"]]
    assert http.requests == []


def test_without_twilio_a_real_call_is_503_and_nothing_is_written(sessions, http):
    with pytest.raises(ApiError) as caught:
        call(service(sessions, http, configured=False))
    assert caught.value.status == 503 and caught.value.code == "twilio_not_configured"
    assert "dryRun" in caught.value.message
    assert sessions.items == {} and http.requests == []


def test_a_refused_destination_is_403_and_nothing_is_written(sessions, http):
    with pytest.raises(ApiError) as caught:
        call(service(sessions, http), {**BODY, "to": "+442071838750"})
    assert caught.value.status == 403 and caught.value.code == "destination_not_allowed"
    assert caught.value.problems[0].path == "to"
    assert "+4420" in caught.value.message and "2071838750" not in caught.value.message  # masked
    assert sessions.items == {} and http.requests == []


def test_a_misconfigured_allow_list_refuses_every_call(sessions, http):
    with pytest.raises(ApiError) as caught:
        call(service(sessions, http), settings=CallSettings("1,US", "https://voice.example.com"))
    assert caught.value.status == 503 and "'US'" in caught.value.message


def test_a_failed_dial_removes_the_session(sessions, http):
    http.answer_invalid_number()
    with pytest.raises(ApiError) as caught:
        call(service(sessions, http))
    assert caught.value.status == 400 and caught.value.extra["twilio"]["code"] == 21211
    assert sessions.events == ["dialer", "put", "discard"]
    assert sessions.items == {}


def test_once_the_call_is_placed_a_storage_hiccup_does_not_fail_the_request(sessions, http):
    sessions.fail_record_dial = True
    reply = call(service(sessions, http))
    assert reply.status == 201 and reply.body["callSid"]
    assert len(http.calls_created) == 1


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (KeyReused(), 422, "idempotency_key_reused"),
        (KeyInProgress(), 409, "idempotency_key_in_progress"),
        (StoreUnavailable("timeout"), 503, "idempotency_unavailable"),
    ],
)
def test_idempotency_outcomes_map_to_clear_answers(sessions, http, error, status, code):
    with pytest.raises(ApiError) as caught:
        call(service(sessions, http, once=RaisingOnce(error)), key="k-1")
    assert (caught.value.status, caught.value.code) == (status, code)
    assert http.requests == []


def test_public_base_url_prefers_the_configured_one():
    assert public_base_url("https://voice.example.com/", "abc.execute-api.aws") == "https://voice.example.com"
    assert public_base_url("", "abc.execute-api.aws") == "https://abc.execute-api.aws"
    assert public_base_url("", "") == ""


def test_features_follow_the_mode_and_config():
    config = {
        "machineDetection": "Enable",
        "recordCall": True,
        "languages": ["zh-HK"],
        "interruptible": False,
    }
    stream = parse_call_request(json.dumps({**BODY, "config": config}).encode())
    assert features(stream)[:2] == ["conversation-relay-streaming", "clause-streaming"]
    assert {"answering-machine-detection", "call-recording", "language-switching"} <= set(features(stream))
    assert "barge-in" not in features(stream)
    classic = parse_call_request(json.dumps({**BODY, "mode": "classic"}).encode())
    assert features(classic)[0] == "gather-turns" and "conversation-relay-streaming" not in features(classic)


def test_the_predictive_cache_is_a_feature_of_stream_calls_only():
    stream = parse_call_request(json.dumps(BODY).encode())
    classic = parse_call_request(json.dumps({**BODY, "mode": "classic"}).encode())
    assert "predictive-cache" in features(stream) and "predictive-cache" not in features(classic)
