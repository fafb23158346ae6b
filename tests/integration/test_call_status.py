"""Status and <Connect action> callbacks under moto: signatures, ordering, idempotency, handoff TwiML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from aws_lambda_powertools import Logger

from kimiyi.adapters.calls_store import CallsStore
from kimiyi.webhooks import CallStatusWebhook, inbound_tracking_id
from tests.events import load
from tests.integration.test_twiml_webhook import (
    CALL_SID,
    PUBLIC,
    TOKEN,
    TRACKING,
    clinic,
    make_callbacks,
    stage_session,
    twilio_event,
    voice_params,
)

ROOT = Path(__file__).resolve().parents[2]
CONNECT = {"trackingId": TRACKING, "event": "connect-action"}


@pytest.fixture
def callbacks(store, records):
    stage_session(store, clinic())
    return make_callbacks(store, records)


def status_event(status: str, **extra: str) -> dict:
    return twilio_event(
        "/api/call-status", {"trackingId": TRACKING}, voice_params(CallStatus=status, **extra)
    )


def session_end(**fields: str) -> dict:
    params = {
        "AccountSid": "AC00000000000000000000000000000000",
        "CallSid": CALL_SID,
        "CallStatus": "in-progress",
        "SessionId": "VX00000000000000000000000000000001",
        **fields,
    }
    return twilio_event("/api/call-status", CONNECT, params)


def twiml(response: dict) -> ET.Element:
    assert response["statusCode"] == 200, response
    assert response["headers"]["content-type"] == "text/xml; charset=utf-8"
    return ET.fromstring(response["body"])


# Forged callbacks (unsigned, wrong token, another URL, tampered, added or removed parameters, a forged
# <Connect action> ordering a <Dial>, …): tests/integration/test_forged_requests.py.


# ------------------------------------------------------------------------------------------ status callbacks
def test_status_moves_forward_and_answers_an_empty_response(callbacks, records):
    for status in ("initiated", "ringing", "in-progress"):
        root = twiml(callbacks.handle(status_event(status)))
        assert root.tag == "Response" and len(root) == 0
    assert records.status(TRACKING)["status"] == "in-progress"
    twiml(callbacks.handle(status_event("completed", CallDuration="74", SipResponseCode="200")))
    record = records.status(TRACKING)
    assert record["status"] == "completed"
    assert record["duration"] == 74 and record["sipResponseCode"] == 200
    assert record["callSid"] == CALL_SID
    assert {"initiatedAt", "ringingAt", "inProgressAt", "completedAt"} <= set(record)


def test_a_late_ringing_after_completed_is_ignored(callbacks, records):
    twiml(callbacks.handle(status_event("completed", CallDuration="74")))
    before = records.status(TRACKING)
    twiml(callbacks.handle(status_event("ringing")))
    assert records.status(TRACKING) == before


def test_a_retried_callback_changes_nothing(callbacks, records):
    twiml(callbacks.handle(status_event("in-progress")))
    before = records.status(TRACKING)
    twiml(callbacks.handle(status_event("in-progress")))
    assert records.status(TRACKING) == before


def test_a_failed_call_keeps_its_error(callbacks, records):
    twiml(callbacks.handle(status_event("failed", ErrorCode="32009", ErrorMessage="Carrier rejected")))
    record = records.status(TRACKING)
    assert (record["status"], record["errorCode"], record["errorMessage"]) == (
        "failed",
        "32009",
        "Carrier rejected",
    )


def test_answered_by_is_kept_even_when_it_arrives_late(callbacks, records):
    twiml(callbacks.handle(status_event("completed")))
    twiml(callbacks.handle(status_event("in-progress", AnsweredBy="machine_end_beep")))
    record = records.status(TRACKING)
    assert record["status"] == "completed" and record["answeredBy"] == "machine_end_beep"


def test_an_inbound_call_is_found_by_its_call_sid(store, records):
    stage_session(store, clinic(), tracking_id=inbound_tracking_id(CALL_SID))
    callbacks = make_callbacks(store, records)
    event = twilio_event("/api/call-status", {}, voice_params(CallStatus="completed"))
    twiml(callbacks.handle(event))
    assert records.status(inbound_tracking_id(CALL_SID))["status"] == "completed"


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("event", "message"),
    [
        pytest.param(
            twilio_event("/api/call-status", {"trackingId": TRACKING}, {"CallStatus": "completed"}),
            "CallSid is missing from the form body",
            id="no CallSid",
        ),
        pytest.param(
            twilio_event(
                "/api/call-status", {"trackingId": "trk_nobody"}, voice_params(CallStatus="completed")
            ),
            "no call is staged under trackingId 'trk_nobody' (unknown or expired)",
            id="unknown trackingId",
        ),
        pytest.param(
            twilio_event("/api/call-status", {"trackingId": TRACKING}, voice_params(CallStatus="")),
            "CallStatus is missing from the form body",
            id="no CallStatus",
        ),
    ],
)
def test_signed_bad_input_is_400_with_a_message(callbacks, event, message):
    response = callbacks.handle(event)
    assert response["statusCode"] == 400
    assert json.loads(response["body"]) == {"message": message}


def test_an_unknown_status_is_400_naming_the_known_ones(callbacks):
    response = callbacks.handle(status_event("exploded"))
    assert response["statusCode"] == 400
    assert "unknown CallStatus 'exploded'" in response["body"] and "no-answer" in response["body"]


def test_a_body_that_is_not_a_form_is_400(callbacks):
    event = status_event("completed")
    event["body"] = "not base64 at all!"
    response = callbacks.handle(event)
    assert response["statusCode"] == 400 and "base64" in response["body"]


# ------------------------------------------------------------------------------------------ <Connect action>
def test_transfer_handoff_dials_the_number(callbacks, records):
    handoff = json.dumps({"reason": "transfer", "trackingId": TRACKING, "transferTo": "+12125550147"})
    root = twiml(
        callbacks.handle(session_end(SessionStatus="ended", SessionDuration="41", HandoffData=handoff))
    )
    assert [(child.tag, child.text) for child in root] == [("Dial", "+12125550147")]
    record = records.status(TRACKING)
    assert record["sessionStatus"] == "ended" and record["sessionDuration"] == 41
    assert json.loads(record["handoffData"])["transferTo"] == "+12125550147"


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"SessionStatus": "ended", "HandoffData": json.dumps({"reason": "end"})}, id="end"),
        pytest.param({"SessionStatus": "completed"}, id="caller hung up"),
        pytest.param({"SessionStatus": "ended", "HandoffData": "{not json"}, id="malformed handoff"),
        pytest.param(
            {
                "SessionStatus": "ended",
                "HandoffData": json.dumps({"reason": "transfer", "transferTo": "call me"}),
            },
            id="transfer target not E.164",
        ),
    ],
)
def test_other_session_ends_hang_up(callbacks, fields):
    root = twiml(callbacks.handle(session_end(**fields)))
    assert [child.tag for child in root] == ["Hangup"]


def test_a_failed_session_goes_on_in_classic_mode(callbacks, records):
    root = twiml(
        callbacks.handle(session_end(SessionStatus="failed", ErrorCode="64105", ErrorMessage="closed"))
    )
    redirect = root.find("Redirect")
    assert redirect.text == f"{PUBLIC}/api/twiml-optimized?trackingId={TRACKING}&mode=classic"
    assert redirect.get("method") == "POST"
    assert records.status(TRACKING)["errorCode"] == "64105"


def test_a_connect_action_does_not_touch_the_call_status(callbacks, records):
    twiml(callbacks.handle(status_event("completed")))
    twiml(callbacks.handle(session_end(SessionStatus="completed")))
    record = records.status(TRACKING)
    assert record["status"] == "completed" and record["sessionStatus"] == "completed"


# ------------------------------------------------------------------------------------------ the handler
def test_handler_wiring_from_the_template_answers_the_sample_events(
    aws, function_env, monkeypatch, lambda_context
):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "local-auth-token")
    handler = function_env("CallStatusFunction")
    import call_status_handler

    monkeypatch.setattr(call_status_handler.webhook, "public_base_url", "")  # samples: execute-api URL
    monkeypatch.setattr(call_status_handler.webhook, "auth_token", lambda: "local-auth-token")
    stage_session(call_status_handler.webhook.store, clinic())
    events = ROOT / "events" / "http"
    assert len(twiml(handler(load(events / "post-api-call-status.json"), lambda_context))) == 0
    assert len(twiml(handler(load(events / "post-api-call-status--ringing.json"), lambda_context))) == 0
    assert call_status_handler.webhook.records.status(TRACKING)["status"] == "completed"
    dial = twiml(handler(load(events / "post-api-call-status--connect-action-transfer.json"), lambda_context))
    assert dial.find("Dial").text == "+12125550147"
    hangup = twiml(handler(load(events / "post-api-call-status--connect-action-hangup.json"), lambda_context))
    assert [child.tag for child in hangup] == ["Hangup"]


# ------------------------------------------------------------------------------------------ failures
class BrokenStore(CallsStore):
    def get_session(self, tracking_id):
        raise RuntimeError("DynamoDB is unreachable")


def broken_callbacks(table, records) -> CallStatusWebhook:
    return CallStatusWebhook(
        store=BrokenStore(table),
        records=records,
        auth_token=lambda: TOKEN,
        public_base_url=PUBLIC,
        logger=Logger(service="t"),
    )


def test_a_transfer_still_dials_when_the_table_is_unreachable(table, records):
    handoff = json.dumps({"reason": "transfer", "transferTo": "+12125550147"})
    root = twiml(
        broken_callbacks(table, records).handle(session_end(SessionStatus="ended", HandoffData=handoff))
    )
    assert root.find("Dial").text == "+12125550147"


def test_a_status_that_cannot_be_stored_is_an_error_not_a_silent_success(table, records):
    with pytest.raises(RuntimeError, match="unreachable"):
        broken_callbacks(table, records).handle(status_event("completed"))


def test_an_unreadable_auth_token_serves_nothing(store, records):
    def no_token():
        raise RuntimeError("SSM is unreachable")

    callbacks = make_callbacks(store, records, auth_token=no_token)
    assert callbacks.handle(status_event("completed")) == {"statusCode": 503, "body": ""}
