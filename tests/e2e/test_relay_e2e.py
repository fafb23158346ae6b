"""ConversationRelay over a real WebSocket in the local stack, signed as Twilio signs the handshake."""

from __future__ import annotations

import json

import pytest
from twilio.request_validator import RequestValidator
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from kimiyi.adapters.calls_store import CallsStore
from tests.integration.test_relay import stage_call

pytestmark = pytest.mark.e2e
LOCAL_TOKEN = "local-auth-token"  # the local stack's documented default


def calls_store(stack) -> CallsStore:
    return CallsStore(stack.dynamodb().Table("CallsTable"))


def relay_url(stack, tracking_id: str) -> str:
    return stack.base_url.replace("http", "ws") + f"/dev?trackingId={tracking_id}"


def receive_until_end(ws) -> list[dict]:
    frames = []
    while True:
        frames.append(json.loads(ws.recv(timeout=10)))
        if frames[-1]["type"] == "end":
            return frames


def test_unsigned_handshake_is_refused(app_stack):
    with pytest.raises(InvalidStatus) as refused:
        connect(relay_url(app_stack, "trk-e2e-0"), open_timeout=10)
    assert refused.value.response.status_code == 403


def test_a_call_over_the_socket_streams_replies_and_ends(app_stack):
    stage_call(calls_store(app_stack), "trk-e2e-1")
    url = relay_url(app_stack, "trk-e2e-1")
    signature = RequestValidator(LOCAL_TOKEN).compute_signature(url, {})
    with connect(url, additional_headers={"X-Twilio-Signature": signature}, open_timeout=10) as ws:
        setup = {"type": "setup", "callSid": "CA1", "from": "+12125550100", "to": "+12125550199"}
        ws.send(json.dumps({**setup, "customParameters": {"trackingId": "trk-e2e-1"}}))
        ws.send("{not json")  # a malformed frame is logged and dropped; the call goes on
        ws.send(
            json.dumps({"type": "prompt", "voicePrompt": "係呀，我聽日得閒㗎", "lang": "zh-HK", "last": True})
        )
        frames = receive_until_end(ws)
    assert frames[0] == {"type": "language", "ttsLanguage": "zh-HK", "transcriptionLanguage": "zh-HK"}
    texts = [f for f in frames if f["type"] == "text"]
    assert "".join(f["token"] for f in texts).startswith("好，幫你確認咗聽日3 pm嘅預約喇。")
    assert texts[-1]["last"] is True
    assert json.loads(frames[-1]["handoffData"])["reason"] == "end"
