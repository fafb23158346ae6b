"""Forged requests to the Twilio-facing routes: every one is refused, none is served.

Twilio signs a request as base64(HMAC-SHA1(auth token, URL + each POST parameter's name and value,
sorted by name)) and sends it in X-Twilio-Signature. A forger does not have the token, but may have a
signature Twilio made for another request (a replay) and may change everything else. Each case below
starts from a request Twilio could really send, changes one thing, and checks the route refuses it:
403 with an empty body when the signature does not cover what arrived, 400 when it does but the request
is not one we would serve. The genuine request is accepted, so the suite shows what each refusal is for.

- the voice webhook (POST /api/twiml-optimized) and the status and <Connect action> callbacks (POST
  /api/call-status), form posts signed over the public https:// URL and their form parameters;
- the ConversationRelay WebSocket handshake ($connect), signed over the wss:// URL, with the query
  either inside the URL or as the parameters (both forms are accepted: docs/call-path.md).

The unit tests of the signature functions themselves are in tests/unit/test_twilio_signature.py.
"""

from __future__ import annotations

import base64
import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlencode

import pytest
from aws_lambda_powertools import Logger
from twilio.request_validator import RequestValidator

from kimiyi.llm import FailoverChain
from kimiyi.relay.service import Relay
from tests.events import load
from tests.integration.test_twiml_webhook import (
    PUBLIC,
    clinic,
    make_callbacks,
    make_webhook,
    stage_session,
    voice_params,
)

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-auth-token"
WSS = "wss://abcd1234ef.execute-api.us-east-1.amazonaws.com/dev"
TRACKING = "trk_example_0001"
CONNECTION = "Dc1Y1dH8oAMCJmg="  # the sample event's
HANDOFF = json.dumps({"reason": "transfer", "transferTo": "+12125550147"})


# ------------------------------------------------------------------------------------------ the webhooks
@pytest.fixture
def routes(store, records):
    """path -> the webhook serving it, with a staged call to serve."""
    stage_session(store, clinic())
    callbacks = make_callbacks(store, records)
    return {"/api/twiml-optimized": make_webhook(store, records), "/api/call-status": callbacks}


# Requests Twilio sends: (path, query string, form parameters in the order Twilio posts them).
GENUINE = {
    "voice webhook": ("/api/twiml-optimized", f"trackingId={TRACKING}", list(voice_params().items())),
    "status callback": (
        "/api/call-status",
        f"trackingId={TRACKING}",
        list(voice_params(CallStatus="completed", CallDuration="74").items()),
    ),
    "connect action": (
        "/api/call-status",
        f"trackingId={TRACKING}&event=connect-action",
        list(voice_params(SessionId="VX" + "0" * 32, SessionStatus="ended", HandoffData=HANDOFF).items()),
    ),
}


def webhook_event(
    path: str,
    query: str,
    form: list[tuple[str, str]],
    *,
    signed_url: str | None = None,
    signed_form: dict[str, str] | None = None,
    token: str = TOKEN,
    signature: str | None = None,
) -> dict:
    """An HTTP API v2 event for a form post (the body base64-encoded, as API Gateway delivers it), signed
    by default over the public URL it is sent to and the parameters it carries."""
    sample = "post-api-call-status.json" if path == "/api/call-status" else "post-api-twiml-optimized.json"
    event = copy.deepcopy(load(ROOT / "events" / "http" / sample))
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["rawQueryString"] = query
    event["queryStringParameters"] = dict(pair.split("=", 1) for pair in query.split("&")) if query else None
    event["body"] = base64.b64encode(urlencode(form).encode()).decode()
    event["isBase64Encoded"] = True
    url = signed_url or f"{PUBLIC}{path}" + (f"?{query}" if query else "")
    computed = RequestValidator(token).compute_signature(
        url, signed_form if signed_form is not None else dict(form)
    )
    if signature == "":
        event["headers"].pop("x-twilio-signature", None)
    else:
        event["headers"]["x-twilio-signature"] = signature or computed
    return event


def served(routes, records, name: str, event: dict) -> dict:
    path = GENUINE[name][0]
    return routes[path].handle(event)


@pytest.mark.parametrize("name", GENUINE)
def test_a_genuine_twilio_request_is_served(routes, records, name):
    path, query, form = GENUINE[name]
    response = served(routes, records, name, webhook_event(path, query, form))
    assert response["statusCode"] == 200, response
    root = ET.fromstring(response["body"])
    if name == "connect action":
        assert root.find("Dial").text == "+12125550147"
    if name == "status callback":
        assert records.status(TRACKING)["status"] == "completed"


def _forgeries(path: str, query: str, form: list[tuple[str, str]]) -> dict[str, dict]:
    url = f"{PUBLIC}{path}?{query}"
    other_path = "/api/twiml-optimized" if path == "/api/call-status" else "/api/call-status"
    changed = [(k, "CA" + "9" * 32 if k == "CallSid" else v) for k, v in form]
    return {
        "unsigned": webhook_event(path, query, form, signature=""),
        "garbage signature": webhook_event(path, query, form, signature="Zm9yZ2Vk"),
        "wrong token": webhook_event(path, query, form, token="not-the-auth-token"),
        "signed for another trackingId": webhook_event(
            path, query, form, signed_url=url.replace(TRACKING, "trk_someone_else")
        ),
        "signed for another route": webhook_event(
            path, query, form, signed_url=f"{PUBLIC}{other_path}?{query}"
        ),
        "signed for another host": webhook_event(
            path, query, form, signed_url=url.replace(PUBLIC, "https://attacker.example")
        ),
        "http instead of https": webhook_event(
            path, query, form, signed_url=url.replace("https://", "http://")
        ),
        # (":443" is the same URL: Twilio's validator accepts the port or its absence, by design.)
        "another port": webhook_event(path, query, form, signed_url=url.replace(".com/", ".com:8443/")),
        "tampered parameter": webhook_event(path, query, changed, signed_form=dict(form)),
        "parameter added": webhook_event(path, query, [*form, ("Digits", "1")], signed_form=dict(form)),
        "parameter removed": webhook_event(path, query, form[1:], signed_form=dict(form)),
        "query parameter added": webhook_event(path, f"{query}&mode=classic", form, signed_url=url),
        "query parameter removed": webhook_event(path, query.split("&")[0] + "x", form, signed_url=url),
    }


FORGED_WEBHOOKS = [
    pytest.param(name, forgery, id=f"{name}: {forgery}")
    for name in GENUINE
    for forgery in _forgeries(*GENUINE[name])
]


@pytest.mark.parametrize(("name", "forgery"), FORGED_WEBHOOKS)
def test_a_forged_twilio_request_is_403_and_changes_nothing(routes, records, name, forgery):
    event = _forgeries(*GENUINE[name])[forgery]
    assert served(routes, records, name, event) == {"statusCode": 403, "body": ""}
    assert records.status(TRACKING) is None  # no status recorded, no session end, no handoff


def test_an_unsigned_request_learns_nothing_about_an_unknown_call(routes):
    path, _, form = GENUINE["voice webhook"]
    event = webhook_event(path, "trackingId=trk_nobody", form, token="guess")
    assert routes[path].handle(event) == {"statusCode": 403, "body": ""}  # as for a known call: nothing


def _smuggled(path: str, query: str, form: list[tuple[str, str]]) -> dict[str, dict]:
    """Changes the signature still covers: Twilio's scheme concatenates the sorted names and values."""
    last = form[-1]
    return {
        # An empty name with an empty value adds nothing to what is signed.
        "empty-named parameter added": webhook_event(path, query, [*form, ("", "")], signed_form=dict(form)),
        # dict() keeps the last of a repeated name: the signed value, with another one before it.
        "parameter repeated": webhook_event(
            path, query, [(last[0], "forged"), *form], signed_form=dict(form)
        ),
    }


SMUGGLED = [
    pytest.param(name, case, id=f"{name}: {case}") for name in GENUINE for case in _smuggled(*GENUINE[name])
]


@pytest.mark.parametrize(("name", "case"), SMUGGLED)
def test_a_form_twilio_never_sends_is_a_400_and_changes_nothing(routes, records, name, case):
    response = served(routes, records, name, _smuggled(*GENUINE[name])[case])
    assert response["statusCode"] == 400
    assert "form" in json.loads(response["body"])["message"]
    assert records.status(TRACKING) is None


# ------------------------------------------------------------------------------------------ the handshake
@pytest.fixture
def relay(store):
    return Relay(
        store=store,
        connections=None,
        chain=FailoverChain([]),
        auth_token=lambda: TOKEN,
        websocket_url=WSS,
        logger=Logger(service="forged-test"),
    )


def handshake(
    query: list[tuple[str, str]] | None = None,
    *,
    signed_url: str | None = None,
    signed_params: dict[str, str] | None = None,
    token: str = TOKEN,
    signature: str | None = None,
) -> dict:
    """A $connect event whose query string is `query` (pairs, repeats allowed), signed by default as
    Twilio signs it: over the wss:// URL with the query inside."""
    pairs = [("trackingId", TRACKING)] if query is None else query
    event = copy.deepcopy(load(ROOT / "events" / "websocket" / "connect.json"))
    event["queryStringParameters"] = dict(pairs) or None
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        multi.setdefault(name, []).append(value)
    event["multiValueQueryStringParameters"] = multi or None
    url = signed_url if signed_url is not None else (f"{WSS}?{urlencode(pairs)}" if pairs else WSS)
    computed = RequestValidator(token).compute_signature(url, signed_params or {})
    if signature == "":
        del event["headers"]["X-Twilio-Signature"]
    else:
        event["headers"]["X-Twilio-Signature"] = signature or computed
    return event


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(handshake(), id="query in the URL"),
        pytest.param(handshake(signed_url=WSS, signed_params={"trackingId": TRACKING}), id="query as params"),
        pytest.param(handshake(signed_url=f"{WSS}/?trackingId={TRACKING}"), id="trailing slash"),
    ],
)
def test_a_genuine_handshake_is_accepted(relay, store, event):
    assert relay.on_connect(event) == {"statusCode": 200}
    assert store.connection(CONNECTION).tracking_id == TRACKING


FORGED_HANDSHAKES = {
    "unsigned": handshake(signature=""),
    "garbage signature": handshake(signature="Zm9yZ2Vk"),
    "wrong token": handshake(token="not-the-auth-token"),
    "signed for another trackingId": handshake(signed_url=f"{WSS}?trackingId=trk_someone_else"),
    "signed as params for another trackingId": handshake(
        signed_url=WSS, signed_params={"trackingId": "trk_someone_else"}
    ),
    "another host": handshake(signed_url=f"wss://attacker.example/dev?trackingId={TRACKING}"),
    "another stage": handshake(
        signed_url=f"wss://abcd1234ef.execute-api.us-east-1.amazonaws.com/prod?trackingId={TRACKING}"
    ),
    "ws instead of wss": handshake(signed_url=f"{WSS.replace('wss', 'ws', 1)}?trackingId={TRACKING}"),
    "https instead of wss": handshake(signed_url=f"{WSS.replace('wss', 'https', 1)}?trackingId={TRACKING}"),
    "trackingId removed": handshake([], signed_url=f"{WSS}?trackingId={TRACKING}"),
    "query parameter added": handshake(
        [("trackingId", TRACKING), ("mode", "classic")], signed_url=f"{WSS}?trackingId={TRACKING}"
    ),
    # Twilio's parameter form joins names and values with nothing between them: a signature for
    # trackingId=T + "x" is also one for trackingId=T&x= ("trackingIdTx" either way).
    "parameter split off the trackingId": handshake(
        [("trackingId", TRACKING), ("x", "")], signed_url=WSS, signed_params={"trackingId": TRACKING + "x"}
    ),
    "name and value shifted": handshake(
        [("trackingI", "d" + TRACKING)], signed_url=WSS, signed_params={"trackingId": TRACKING}
    ),
    "trackingId repeated": handshake(
        [("trackingId", "trk_someone_else"), ("trackingId", TRACKING)],
        signed_url=f"{WSS}?trackingId={TRACKING}",
    ),
}


@pytest.mark.parametrize("event", FORGED_HANDSHAKES.values(), ids=FORGED_HANDSHAKES.keys())
def test_a_forged_handshake_is_refused_and_maps_nothing(relay, store, event):
    assert relay.on_connect(event) == {"statusCode": 403}
    assert store.connection(CONNECTION) is None


@pytest.mark.parametrize(
    "query",
    [
        pytest.param([], id="no trackingId"),
        pytest.param([("trackingId", "")], id="an empty trackingId"),
        pytest.param([("trackingId", "../../etc")], id="not a trackingId we mint"),
        pytest.param([("trackingId", "t" * 129)], id="too long"),
    ],
)
def test_a_signed_handshake_for_no_call_we_issued_is_a_400(relay, store, query):
    assert relay.on_connect(handshake(query)) == {"statusCode": 400}
    assert store.connection(CONNECTION) is None
