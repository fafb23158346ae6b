"""The TwiML voice webhook under moto: signatures, stream-mode TwiML, inbound calls, bad input, failures.

Requests are signed exactly as Twilio signs them (RequestValidator.compute_signature over the public URL
and the form parameters) and delivered as HTTP API v2 events with base64 form bodies.
"""

from __future__ import annotations

import base64
import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from aws_lambda_powertools import Logger
from twilio.request_validator import RequestValidator

from kimiyi.adapters.calls_store import CallsStore
from kimiyi.classic import ClassicCall
from kimiyi.llm import FailoverChain
from kimiyi.staging import stage
from kimiyi.twiml import NOT_IN_SERVICE_LINE, UNKNOWN_CALL_LINE, TwimlWebhook
from kimiyi.webhooks import CallStatusWebhook, inbound_tracking_id
from kimiyi.workflow import parse_workflow
from tests.events import load

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = "https://voice.example.com"
WSS = "wss://abcd1234ef.execute-api.us-east-1.amazonaws.com/dev"
TOKEN = "test-auth-token"
TRACKING = "trk_example_0001"
CALL_SID = "CA00000000000000000000000000000001"
OUR_NUMBER = "+12125550100"
CALLER = "+12125550199"
VARIABLES = {"patientName": "Anna", "clinicName": "Bright Smile", "appointmentTime": "3 pm", "balanceDue": 0}


# ------------------------------------------------------------------------------------------ helpers
def voice_params(**extra: str) -> dict[str, str]:
    """The parameters Twilio posts to a voice webhook for an answered outbound call."""
    return {
        "AccountSid": "AC00000000000000000000000000000000",
        "ApiVersion": "2010-04-01",
        "CallSid": CALL_SID,
        "CallStatus": "in-progress",
        "Direction": "outbound-api",
        "From": OUR_NUMBER,
        "To": CALLER,
        "Caller": OUR_NUMBER,
        "Called": CALLER,
        **extra,
    }


def twilio_event(
    path: str,
    query: dict[str, str] | str,
    params: dict[str, str],
    *,
    token: str = TOKEN,
    base: str = PUBLIC,
    signed_url: str | None = None,
    signed_params: dict[str, str] | None = None,
) -> dict:
    """An HTTP API v2 event for a Twilio form post to `path`, signed over `signed_url` (default: the
    public URL it is sent to) and `signed_params` (default: the posted ones)."""
    sample = "post-api-call-status.json" if path == "/api/call-status" else "post-api-twiml-optimized.json"
    event = copy.deepcopy(load(ROOT / "events" / "http" / sample))
    raw_query = query if isinstance(query, str) else urlencode(query)
    url = f"{base}{path}" + (f"?{raw_query}" if raw_query else "")
    event["rawQueryString"] = raw_query
    if raw_query:
        event["queryStringParameters"] = dict(parse_qsl(raw_query))
    else:
        event.pop("queryStringParameters", None)
    event["body"] = base64.b64encode(urlencode(params).encode()).decode()
    event["isBase64Encoded"] = True
    event["headers"]["x-twilio-signature"] = RequestValidator(token).compute_signature(
        signed_url or url, signed_params if signed_params is not None else params
    )
    return event


def post_to(url: str, params: dict[str, str], **kwargs) -> dict:
    """A signed post to a full URL we handed to Twilio (a Gather action, a Redirect)."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC
    return twilio_event(parts.path, parts.query, params, **kwargs)


def parse(response: dict) -> ET.Element:
    assert response["statusCode"] == 200, response
    assert response["headers"]["content-type"] == "text/xml; charset=utf-8"
    return ET.fromstring(response["body"])


def spoken(root: ET.Element) -> str:
    return " ".join(say.text or "" for say in root.iter("Say"))


def workflow_payload(language: str = "en-US", languages: list[str] | None = None, **config) -> dict:
    greeting = {"en-US": "Hello from the clinic.", "zh-HK": "你好，呢度係診所。"}
    return {
        "globalPrompt": "You are a helpful receptionist.",
        "nodes": [
            {"id": "hello", "type": "static", "data": {"isStart": True, "text": greeting}},
            {
                "id": "ask",
                "type": "conversation",
                "data": {
                    "prompt": "Ask how you can help.",
                    "scriptedLine": {"en-US": "How can I help?", "zh-HK": "有咩可以幫到你？"},
                },
            },
            {"id": "bye", "type": "end", "data": {"text": {"en-US": "Goodbye!", "zh-HK": "拜拜！"}}},
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
        "config": {"language": language, "languages": languages or [], **config},
    }


def clinic() -> dict:
    return json.loads((ROOT / "examples" / "clinic-appointment.json").read_text())


def stage_session(
    store: CallsStore, payload: dict, *, mode: str = "stream", tracking_id: str = TRACKING
) -> None:
    session = stage(parse_workflow(payload), variables=VARIABLES, mode=mode, tracking_id=tracking_id)
    store.put_session(tracking_id, session.to_record())


# ------------------------------------------------------------------------------------------ fixtures
def make_webhook(store, records, *, chain=None, websocket_url=WSS, public=PUBLIC) -> TwimlWebhook:
    logger = Logger(service="twiml-test")
    classic = ClassicCall(
        store=store,
        records=records,
        chain=chain or (lambda: FailoverChain([])),
        logger=logger,
        sleep=lambda s: None,
    )
    return TwimlWebhook(
        store=store,
        records=records,
        classic=classic,
        auth_token=lambda: TOKEN,
        public_base_url=public,
        websocket_url=websocket_url,
        logger=logger,
    )


def make_callbacks(store, records, *, auth_token=lambda: TOKEN) -> CallStatusWebhook:
    """The call-status webhook (status and <Connect action> callbacks) over the same tables."""
    return CallStatusWebhook(
        store=store,
        records=records,
        auth_token=auth_token,
        public_base_url=PUBLIC,
        logger=Logger(service="t"),
    )


@pytest.fixture
def webhook(store, records):
    return make_webhook(store, records)


# ------------------------------------------------------------------------------------------ signatures
def test_a_signed_request_is_answered(webhook, store):
    stage_session(store, clinic())
    root = parse(
        webhook.handle(twilio_event("/api/twiml-optimized", {"trackingId": TRACKING}, voice_params()))
    )
    assert root.find("Connect/ConversationRelay") is not None


# Forged requests (unsigned, wrong token, another URL, tampered, added or removed parameters, …):
# tests/integration/test_forged_requests.py.


def test_the_url_falls_back_to_the_events_domain_without_a_public_base_url(store, records):
    stage_session(store, clinic())
    webhook = make_webhook(store, records, public="")
    event = twilio_event(
        "/api/twiml-optimized",
        {"trackingId": TRACKING},
        voice_params(),
        base="https://abcd1234ef.execute-api.us-east-1.amazonaws.com",
    )
    root = parse(webhook.handle(event))
    assert (
        root.find("Connect")
        .get("action")
        .startswith("https://abcd1234ef.execute-api.us-east-1.amazonaws.com/")
    )
    # The same request signed over the configured public URL is refused by a webhook without one.
    assert (
        webhook.handle(twilio_event("/api/twiml-optimized", {"trackingId": TRACKING}, voice_params()))[
            "statusCode"
        ]
        == 403
    )


# ------------------------------------------------------------------------------------------ stream mode
def test_stream_mode_answers_conversation_relay_twiml(webhook, store):
    stage_session(store, clinic())
    root = parse(
        webhook.handle(twilio_event("/api/twiml-optimized", {"trackingId": TRACKING}, voice_params()))
    )
    assert root.tag == "Response" and [child.tag for child in root] == ["Connect"]
    connect = root.find("Connect")
    assert connect.get("action") == f"{PUBLIC}/api/call-status?trackingId={TRACKING}&event=connect-action"
    assert connect.get("method") == "POST"
    relay = connect.find("ConversationRelay")
    assert relay.get("url") == f"{WSS}?trackingId={TRACKING}"
    assert relay.get("welcomeGreeting").startswith("Hi Anna, this is Mia from Bright Smile")
    assert relay.get("welcomeGreeting").endswith("tell me if you'd like to reschedule or cancel.")
    assert relay.get("language") == "en-US"
    assert relay.get("ttsProvider") == "Google" and relay.get("voice") == "en-US-Chirp3-HD-Aoede"
    assert relay.get("transcriptionProvider") == "Deepgram" and relay.get("speechModel") == "nova-3-general"
    assert relay.get("interruptible") == "any"
    assert relay.get("welcomeGreetingInterruptible") == "none"
    assert relay.get("dtmfDetection") == "true"
    assert relay.get("hints") == "reschedule,cancel,front desk,改期,取消"
    languages = {lang.get("code"): lang.attrib for lang in relay.findall("Language")}
    assert list(languages) == ["en-US", "zh-HK", "zh-CN", "es-US"]
    assert languages["zh-CN"]["voice"].startswith("cmn-CN-")
    assert [(p.get("name"), p.get("value")) for p in relay.findall("Parameter")] == [("trackingId", TRACKING)]


def test_cantonese_workflow_speaks_cantonese(webhook, store):
    stage_session(store, workflow_payload("zh-HK"))
    relay = parse(
        webhook.handle(twilio_event("/api/twiml-optimized", {"trackingId": TRACKING}, voice_params()))
    ).find("Connect/ConversationRelay")
    assert relay.get("language") == "zh-HK"
    assert relay.get("ttsProvider") == "Google" and relay.get("voice").startswith("yue-HK-")
    assert relay.get("transcriptionProvider") == "Deepgram"
    assert relay.get("welcomeGreeting") == "你好，呢度係診所。 有咩可以幫到你？"
    (language,) = relay.findall("Language")
    assert language.attrib == {
        "code": "zh-HK",
        "ttsProvider": "Google",
        "voice": relay.get("voice"),
        "transcriptionProvider": "Deepgram",
        "speechModel": relay.get("speechModel"),
    }


def test_every_switchable_language_is_declared(webhook, store):
    stage_session(store, workflow_payload("en-US", ["zh-HK"]))
    relay = parse(
        webhook.handle(twilio_event("/api/twiml-optimized", {"trackingId": TRACKING}, voice_params()))
    ).find("Connect/ConversationRelay")
    children = {lang.get("code"): lang for lang in relay.findall("Language")}
    assert list(children) == ["en-US", "zh-HK"]
    assert children["zh-HK"].get("voice").startswith("yue-HK-")
    assert children["en-US"].get("voice").startswith("en-US-")


def test_the_workflows_voice_overrides_the_main_language_only(webhook, store):
    stage_session(store, workflow_payload("en-US", ["zh-HK"], voice="en-US-Chirp3-HD-Charon"))
    relay = parse(
        webhook.handle(twilio_event("/api/twiml-optimized", {"trackingId": TRACKING}, voice_params()))
    ).find("Connect/ConversationRelay")
    assert relay.get("voice") == "en-US-Chirp3-HD-Charon"
    children = {lang.get("code"): lang.get("voice") for lang in relay.findall("Language")}
    assert children["en-US"] == "en-US-Chirp3-HD-Charon"
    assert children["zh-HK"].startswith("yue-HK-")


# ------------------------------------------------------------------------------------------ unknown calls
def test_unknown_tracking_id_is_told_politely(webhook):
    root = parse(
        webhook.handle(twilio_event("/api/twiml-optimized", {"trackingId": "trk_gone"}, voice_params()))
    )
    assert spoken(root) == UNKNOWN_CALL_LINE
    assert [child.tag for child in root] == ["Say", "Hangup"]


def test_an_expired_session_is_unknown(webhook, table, store):
    stage_session(store, clinic())
    table.update_item(
        Key={"pk": f"CALL#{TRACKING}", "sk": "SESSION"},
        UpdateExpression="SET expiresAt = :past",
        ExpressionAttributeValues={":past": 1},
    )
    root = parse(
        webhook.handle(twilio_event("/api/twiml-optimized", {"trackingId": TRACKING}, voice_params()))
    )
    assert spoken(root) == UNKNOWN_CALL_LINE


# ------------------------------------------------------------------------------------------ inbound
def inbound_params() -> dict[str, str]:
    return voice_params(Direction="inbound", From=CALLER, To=OUR_NUMBER, Caller=CALLER, Called=OUR_NUMBER)


def test_inbound_call_to_a_configured_number_gets_its_workflow(webhook, store, records):
    records.put_inbound_template(
        OUR_NUMBER, workflow_payload("zh-HK"), mode="stream", workflow_id="front-desk"
    )
    event = twilio_event("/api/twiml-optimized", {}, inbound_params())
    relay = parse(webhook.handle(event)).find("Connect/ConversationRelay")
    tracking_id = inbound_tracking_id(CALL_SID)
    assert relay.get("url") == f"{WSS}?trackingId={tracking_id}"
    assert relay.get("language") == "zh-HK"
    session = store.get_session(tracking_id)
    assert session["to"] == OUR_NUMBER and session["from"] == CALLER and session["workflowId"] == "front-desk"
    # Twilio retries the webhook: the same session is used, nothing is staged twice.
    assert parse(webhook.handle(event)).find("Connect/ConversationRelay").get("url") == relay.get("url")


def test_an_inbound_call_belongs_to_the_tenant_its_number_names(webhook, store, records):
    records.put_inbound_template(OUR_NUMBER, workflow_payload("en-US"), tenant_id="acme")
    webhook.handle(twilio_event("/api/twiml-optimized", {}, inbound_params()))
    assert store.get_session(inbound_tracking_id(CALL_SID))["tenantId"] == "acme"


def test_an_inbound_template_that_names_no_tenant_stages_the_default_tenants_call(webhook, store, records):
    records.put_inbound_template(OUR_NUMBER, workflow_payload("en-US"))
    webhook.handle(twilio_event("/api/twiml-optimized", {}, inbound_params()))
    assert store.get_session(inbound_tracking_id(CALL_SID))["tenantId"] == "default"


def test_inbound_classic_template_opens_a_gather(webhook, records):
    records.put_inbound_template(OUR_NUMBER, workflow_payload("en-US"), mode="classic")
    root = parse(webhook.handle(twilio_event("/api/twiml-optimized", {}, inbound_params())))
    assert root.find("Gather").get("action") == (
        f"{PUBLIC}/api/twiml-optimized?trackingId={inbound_tracking_id(CALL_SID)}&turn=1"
    )


def test_inbound_call_to_an_unconfigured_number_is_told_politely(webhook):
    root = parse(webhook.handle(twilio_event("/api/twiml-optimized", {}, inbound_params())))
    assert spoken(root) == NOT_IN_SERVICE_LINE
    assert [child.tag for child in root] == ["Say", "Hangup"]


def test_inbound_number_with_a_broken_workflow_is_told_politely(webhook, records):
    records.put_inbound_template(OUR_NUMBER, {"nodes": [], "edges": []})
    root = parse(webhook.handle(twilio_event("/api/twiml-optimized", {}, inbound_params())))
    assert spoken(root) == NOT_IN_SERVICE_LINE


# ------------------------------------------------------------------------------------------ bad input
def raw_event(body: str, *, base64_encoded: bool, content_type: str | None = None) -> dict:
    event = twilio_event("/api/twiml-optimized", {"trackingId": TRACKING}, voice_params())
    event["body"], event["isBase64Encoded"] = body, base64_encoded
    if content_type:
        event["headers"]["content-type"] = content_type
    return event


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        pytest.param(raw_event("%%% not base64 %%%", base64_encoded=True), "base64", id="not base64"),
        pytest.param(
            raw_event(base64.b64encode(b"\xff\xfe").decode(), base64_encoded=True), "UTF-8", id="not UTF-8"
        ),
        pytest.param(
            raw_event(base64.b64encode(b"just some text").decode(), base64_encoded=True),
            "not form-encoded",
            id="not a form",
        ),
        pytest.param(
            raw_event('{"CallSid": "CA1"}', base64_encoded=False, content_type="application/json"),
            "application/x-www-form-urlencoded",
            id="JSON",
        ),
    ],
)
def test_malformed_bodies_are_400_with_a_reason(webhook, event, problem):
    response = webhook.handle(event)
    assert response["statusCode"] == 400
    assert problem in json.loads(response["body"])["message"]


def test_signed_request_without_call_sid_is_400(webhook, store):
    stage_session(store, clinic())
    params = {k: v for k, v in voice_params().items() if k != "CallSid"}
    response = webhook.handle(twilio_event("/api/twiml-optimized", {"trackingId": TRACKING}, params))
    assert response["statusCode"] == 400
    assert json.loads(response["body"]) == {"message": "CallSid is missing from the form body"}


def test_signed_inbound_request_without_to_is_400(webhook):
    params = {k: v for k, v in inbound_params().items() if k != "To"}
    response = webhook.handle(twilio_event("/api/twiml-optimized", {}, params))
    assert response["statusCode"] == 400 and "To is missing" in response["body"]


def test_a_turn_that_is_not_a_number_is_400(webhook, store):
    stage_session(store, clinic(), mode="classic")
    event = twilio_event(
        "/api/twiml-optimized", {"trackingId": TRACKING, "turn": "two"}, voice_params(SpeechResult="yes")
    )
    response = webhook.handle(event)
    assert response["statusCode"] == 400 and "turn must be a whole number" in response["body"]


# ------------------------------------------------------------------------------------------ failures
class BrokenStore(CallsStore):
    def get_session(self, tracking_id):
        raise RuntimeError("DynamoDB is having a bad day")


def test_an_unexpected_failure_is_spoken_not_a_500(records, table):
    webhook = make_webhook(BrokenStore(table), records)
    root = parse(
        webhook.handle(twilio_event("/api/twiml-optimized", {"trackingId": TRACKING}, voice_params()))
    )
    assert spoken(root) == "One moment, please."
    assert [child.tag for child in root] == ["Say", "Hangup"]


def test_a_failure_inside_a_cantonese_call_is_spoken_in_cantonese(store, records):
    def no_chain():
        raise RuntimeError("the LLM configuration exploded")

    stage_session(store, workflow_payload("zh-HK"), mode="classic")
    webhook = make_webhook(store, records, chain=no_chain)
    event = twilio_event(
        "/api/twiml-optimized", {"trackingId": TRACKING, "turn": "1"}, voice_params(SpeechResult="我想問下")
    )
    root = parse(webhook.handle(event))
    assert spoken(root) == "唔該等一陣。"
    assert root.find("Say").get("voice") == "Polly.Hiujin-Neural"
    assert root.find("Hangup") is not None


# ------------------------------------------------------------------------------------------ the handler
def test_handler_wiring_from_the_template_answers_the_sample_events(
    aws, function_env, monkeypatch, lambda_context
):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "local-auth-token")  # the sample events are signed with it
    handler = function_env("TwimlFunction")
    import twiml_handler

    # The samples were signed for the execute-api URL: no public base URL, as on a stack without a domain.
    monkeypatch.setattr(twiml_handler.webhook, "public_base_url", "")
    monkeypatch.setattr(twiml_handler.webhook, "auth_token", lambda: "local-auth-token")
    monkeypatch.setattr(twiml_handler.webhook, "websocket_url", WSS)
    stage_session(twiml_handler.store, clinic())
    root = parse(handler(load(ROOT / "events" / "http" / "post-api-twiml-optimized.json"), lambda_context))
    assert root.find("Connect/ConversationRelay").get("url") == f"{WSS}?trackingId={TRACKING}"
    inbound = parse(
        handler(load(ROOT / "events" / "http" / "post-api-twiml-optimized--inbound.json"), lambda_context)
    )
    assert spoken(inbound) == NOT_IN_SERVICE_LINE


def test_an_unreadable_auth_token_serves_nothing(store, records):
    def no_token():
        raise RuntimeError("SSM is unreachable")

    webhook = make_webhook(store, records)
    webhook.auth_token = no_token
    event = twilio_event("/api/twiml-optimized", {"trackingId": TRACKING}, voice_params())
    assert webhook.handle(event) == {"statusCode": 503, "body": ""}
