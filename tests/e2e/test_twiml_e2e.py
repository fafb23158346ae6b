"""The TwiML webhook and status callbacks over HTTP in the local stack, signed as Twilio signs them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
from twilio.request_validator import RequestValidator

from kimiyi.staging import stage
from kimiyi.workflow import parse_workflow
from tests.e2e.test_relay_e2e import LOCAL_TOKEN, calls_store

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
VARIABLES = {"patientName": "Anna", "clinicName": "Bright Smile", "appointmentTime": "3 pm", "balanceDue": 0}


def stage_call(stack, tracking_id: str, mode: str) -> None:
    workflow = parse_workflow(json.loads((ROOT / "examples" / "clinic-appointment.json").read_text()))
    session = stage(workflow, variables=VARIABLES, mode=mode, tracking_id=tracking_id)
    calls_store(stack).put_session(tracking_id, session.to_record())


def signed_post(url: str, params: dict[str, str], token: str = LOCAL_TOKEN) -> httpx.Response:
    signature = RequestValidator(token).compute_signature(url, params)
    return httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)


def voice_params(call_sid: str, **said: str) -> dict[str, str]:
    return {
        "AccountSid": "AC00000000000000000000000000000000",
        "CallSid": call_sid,
        "CallStatus": "in-progress",
        "Direction": "outbound-api",
        "From": "+12125550100",
        "To": "+12125550199",
        **said,
    }


def twiml(response: httpx.Response) -> ET.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    assert response.charset_encoding == "utf-8"  # declared: HTTP's default for text/* is ISO-8859-1
    return ET.fromstring(response.text)


def test_a_staged_stream_call_gets_conversation_relay_twiml(app_stack):
    stage_call(app_stack, "trk-e2e-twiml-1", "stream")
    url = f"{app_stack.base_url}/api/twiml-optimized?trackingId=trk-e2e-twiml-1"
    root = twiml(signed_post(url, voice_params("CA" + "1" * 32)))
    relay = root.find("Connect/ConversationRelay")
    websocket = app_stack.base_url.replace("http://", "ws://")
    assert relay.get("url") == f"{websocket}/dev?trackingId=trk-e2e-twiml-1"
    assert root.find("Connect").get("action") == (
        f"{app_stack.base_url}/api/call-status?trackingId=trk-e2e-twiml-1&event=connect-action"
    )
    assert relay.get("welcomeGreeting").startswith("Hi Anna")
    # Unsigned, the same request learns nothing.
    unsigned = httpx.post(url, data=voice_params("CA" + "1" * 32), timeout=10)
    assert (unsigned.status_code, unsigned.text) == (403, "")


def test_a_classic_call_through_several_gather_turns(app_stack):
    stage_call(app_stack, "trk-e2e-twiml-2", "classic")
    call_sid = "CA" + "2" * 32
    root = twiml(
        signed_post(
            f"{app_stack.base_url}/api/twiml-optimized?trackingId=trk-e2e-twiml-2", voice_params(call_sid)
        )
    )
    said = []
    for words in ({"SpeechResult": "No, I can't."}, {"Digits": "2"}, {"SpeechResult": "Yes."}):
        action = root.find("Gather").get("action")
        response = signed_post(action, voice_params(call_sid, **words))
        if "Digits" in words:  # Twilio retries: the same turn answered again, identically
            assert signed_post(action, voice_params(call_sid, **words)).text == response.text
        root = twiml(response)
        said.append(" ".join(say.text for say in root.iter("Say")))
    assert said[0].startswith("No problem. Press 1 to reschedule")
    assert said[1].startswith("Just to be sure")
    assert said[2].endswith("Thank you for your time. Goodbye!")
    assert root.find("Hangup") is not None
    state, version = calls_store(app_stack).load_state("trk-e2e-twiml-2")
    assert version == 3 and state["ended"] is True

    status = signed_post(
        f"{app_stack.base_url}/api/call-status?trackingId=trk-e2e-twiml-2",
        {**voice_params(call_sid), "CallStatus": "completed", "CallDuration": "42"},
    )
    assert twiml(status).tag == "Response" and len(twiml(status)) == 0
