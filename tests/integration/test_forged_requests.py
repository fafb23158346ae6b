"""Forged requests to the Twilio-facing routes: every one is refused, none is served.

Twilio signs a request as base64(HMAC-SHA1(auth token, URL + each POST parameter's name and value,
sorted by name)) and sends it in X-Twilio-Signature. A forger does not have the token, but may have a
signature Twilio made for another request (a replay) and may change everything else. Each case below
starts from a request Twilio could really send, changes one thing, and checks the route refuses it:
403 with an empty body when the signature does not cover what arrived, 400 when it does but the request
is not one we would serve. The genuine request is accepted, so the suite shows what each refusal is for.

- the ConversationRelay WebSocket handshake ($connect), signed over the wss:// URL, with the query
  either inside the URL or as the parameters (both forms are accepted: docs/call-path.md);

The unit tests of the signature functions themselves are in tests/unit/test_twilio_signature.py.
"""

from __future__ import annotations

import copy
from pathlib import Path
from urllib.parse import urlencode

import pytest
from aws_lambda_powertools import Logger
from twilio.request_validator import RequestValidator

from kimiyi.llm import FailoverChain
from kimiyi.relay.service import Relay
from tests.events import load

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-auth-token"
WSS = "wss://abcd1234ef.execute-api.us-east-1.amazonaws.com/dev"
TRACKING = "trk_example_0001"
CONNECTION = "Dc1Y1dH8oAMCJmg="  # the sample event's


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
