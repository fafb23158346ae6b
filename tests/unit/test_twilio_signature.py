"""X-Twilio-Signature: webhooks and the WebSocket handshake, signed as Twilio signs them."""

import pytest
from twilio.request_validator import RequestValidator

from kimiyi.twilio_signature import handshake_is_valid, header, webhook_is_valid

TOKEN = "test-auth-token"
SIGNER = RequestValidator(TOKEN)
URL = "https://voice.example.com/api/twiml-optimized?trackingId=t-1"
FORM = {"CallSid": "CA1", "From": "+15551230000", "SpeechResult": "yes"}
WSS = "wss://abc.execute-api.us-east-1.amazonaws.com/dev"


def test_valid_webhook():
    assert webhook_is_valid(TOKEN, URL, FORM, SIGNER.compute_signature(URL, FORM))


@pytest.mark.parametrize(
    ("token", "url", "form", "signed_url", "signed_form"),
    [
        ("wrong-token", URL, FORM, URL, FORM),
        (TOKEN, URL, {**FORM, "SpeechResult": "no"}, URL, FORM),  # a tampered parameter
        (TOKEN, URL.replace("t-1", "t-2"), FORM, URL, FORM),  # replayed to another URL
        ("", URL, FORM, URL, FORM),  # no token configured: nothing is valid
    ],
)
def test_invalid_webhooks(token, url, form, signed_url, signed_form):
    assert not webhook_is_valid(token, url, form, SIGNER.compute_signature(signed_url, signed_form))


def test_missing_signature():
    assert not webhook_is_valid(TOKEN, URL, FORM, None)
    assert not handshake_is_valid(TOKEN, WSS, {}, None)


@pytest.mark.parametrize(
    ("signed_url", "signed_params"),
    [
        (f"{WSS}?trackingId=t-1", {}),  # query inside the URL
        (WSS, {"trackingId": "t-1"}),  # query as the params dict (Twilio's Python library)
        (f"{WSS}/?trackingId=t-1", {}),  # trailing slash
        (f"{WSS}/", {"trackingId": "t-1"}),
    ],
)
def test_handshake_accepts_the_documented_forms(signed_url, signed_params):
    signature = SIGNER.compute_signature(signed_url, signed_params)
    assert handshake_is_valid(TOKEN, WSS, {"trackingId": "t-1"}, signature)


@pytest.mark.parametrize(
    ("signed_url", "signed_params"),
    [
        ("wss://other.example.com/dev?trackingId=t-1", {}),
        (f"{WSS}?trackingId=t-2", {}),
        (f"{WSS}//?trackingId=t-1", {}),
        (WSS, {}),  # the query left out of the signature altogether
    ],
)
def test_handshake_refuses_anything_else(signed_url, signed_params):
    signature = SIGNER.compute_signature(signed_url, signed_params)
    assert not handshake_is_valid(TOKEN, WSS, {"trackingId": "t-1"}, signature)


def test_header_lookup_ignores_case():
    assert header({"X-Twilio-Signature": "s"}, "x-twilio-signature") == "s"
    assert header({"x-twilio-signature": "s"}, "X-Twilio-Signature") == "s"
    assert header(None, "x") is None


@pytest.mark.parametrize(
    ("query", "signed_url", "signed_params"),
    [
        # The parameter form joins names and values with no separator: each of these signatures is
        # genuine for the query it was made for, and the same characters split another way.
        ({"trackingId": "t-1", "x": ""}, WSS, {"trackingId": "t-1x"}),
        ({"trackingI": "dt-1"}, WSS, {"trackingId": "t-1"}),
        ({"trackingId": "t-1", "mode": "classic"}, WSS, {"trackingId": "t-1", "mode": "classic"}),
        ({"trackingId": "t-1", "mode": "classic"}, f"{WSS}?trackingId=t-1&mode=classic", {}),
        ([("trackingId", "t-2"), ("trackingId", "t-1")], f"{WSS}?trackingId=t-2&trackingId=t-1", {}),
    ],
)
def test_handshake_query_must_be_the_one_parameter_we_issue(query, signed_url, signed_params):
    signature = SIGNER.compute_signature(signed_url, signed_params)
    assert not handshake_is_valid(TOKEN, WSS, query, signature)


def test_handshake_query_may_be_given_as_pairs():
    signature = SIGNER.compute_signature(f"{WSS}?trackingId=t-1", {})
    assert handshake_is_valid(TOKEN, WSS, [("trackingId", "t-1")], signature)
