"""Reading Twilio's form posts out of HTTP API v2 events (kimiyi.webhooks): the public URL, the body."""

from __future__ import annotations

import base64

import pytest
from twilio.request_validator import RequestValidator

from kimiyi.webhooks import (
    BadRequest,
    bad_request,
    forbidden,
    handoff_data,
    is_signed,
    read_request,
    xml,
)

DOMAIN = "abcd1234ef.execute-api.us-east-1.amazonaws.com"


def event(body: str = "CallSid=CA1&To=%2B12125550100&Empty=", *, encoded: bool = True, **overrides) -> dict:
    base = {
        "version": "2.0",
        "routeKey": "POST /api/twiml-optimized",
        "rawPath": "/api/twiml-optimized",
        "rawQueryString": "trackingId=trk_1&turn=2",
        "headers": {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": "sig"},
        "requestContext": {"domainName": DOMAIN, "stage": "$default"},
        "isBase64Encoded": encoded,
        "body": base64.b64encode(body.encode()).decode() if encoded else body,
    }
    return {**base, **overrides}


def test_the_public_url_is_the_configured_base_plus_path_and_query():
    request = read_request(event(), "https://voice.example.com/")
    assert request.url == "https://voice.example.com/api/twiml-optimized?trackingId=trk_1&turn=2"
    assert request.base_url == "https://voice.example.com"
    assert request.query == {"trackingId": "trk_1", "turn": "2"}
    assert request.signature == "sig"


def test_without_a_base_url_the_events_domain_is_used_over_https():
    request = read_request(event(rawQueryString=""), "")
    assert request.url == f"https://{DOMAIN}/api/twiml-optimized"
    assert request.query == {}


def test_a_named_stage_in_raw_path_is_kept_in_the_urls_we_hand_out():
    request = read_request(event(rawPath="/prod/api/twiml-optimized"), f"https://{DOMAIN}")
    assert request.url.startswith(f"https://{DOMAIN}/prod/api/twiml-optimized?")
    assert request.url_for("/api/call-status", trackingId="t", event="connect-action") == (
        f"https://{DOMAIN}/prod/api/call-status?trackingId=t&event=connect-action"
    )


def test_the_form_is_decoded_with_blank_values_kept():
    request = read_request(event(), "https://voice.example.com")
    assert request.form == {"CallSid": "CA1", "To": "+12125550100", "Empty": ""}
    assert request.required("CallSid") == "CA1"
    with pytest.raises(BadRequest, match="Empty is missing from the form body"):
        request.required("Empty")


def test_a_plain_text_body_is_read_as_is():
    assert read_request(event("A=1", encoded=False), "https://x").form == {"A": "1"}


def test_a_missing_body_is_an_empty_form():
    assert read_request(event(body=None, encoded=False), "https://x").form == {}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (event("!!!", encoded=False, isBase64Encoded=True), "not valid base64"),
        (event("hello world"), "the body is not form-encoded"),
        (event("a=%ff"), "the body is not form-encoded"),
        (event(rawQueryString="turn"), "the query string is not form-encoded"),
        (event("&".join(f"k{i}=v" for i in range(500))), "the body is not form-encoded"),
        (event(headers={"content-type": "application/json"}), "must be application/x-www-form-urlencoded"),
        (event(body=["a=1"], encoded=False), "the body must be a string"),
    ],
)
def test_malformed_requests_name_the_problem(bad, message):
    with pytest.raises(BadRequest, match=message):
        read_request(bad, "https://x")


def test_no_base_url_and_no_domain_is_a_clear_error():
    with pytest.raises(BadRequest, match="PUBLIC_BASE_URL is not set"):
        read_request(event(requestContext={}), "")


def test_is_signed_checks_the_rebuilt_url_and_the_form():
    url = "https://voice.example.com/api/twiml-optimized?trackingId=trk_1&turn=2"
    form = {"CallSid": "CA1", "To": "+12125550100", "Empty": ""}
    signature = RequestValidator("token").compute_signature(url, form)
    headers = {"content-type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    request = read_request(event(headers=headers), "https://voice.example.com")
    assert is_signed(request, "token")
    assert not is_signed(request, "other-token")
    assert not is_signed(request, "")


def test_responses():
    assert xml("<Response/>") == {
        "statusCode": 200,
        "headers": {"content-type": "text/xml; charset=utf-8"},
        "body": "<Response/>",
    }
    assert forbidden() == {"statusCode": 403, "body": ""}
    assert bad_request("CallSid is missing")["body"] == '{"message": "CallSid is missing"}'


@pytest.mark.parametrize(
    ("raw", "data"),
    [
        (
            '{"reason": "transfer", "transferTo": "+12125550147"}',
            {"reason": "transfer", "transferTo": "+12125550147"},
        ),
        ("", {}),
        ("{broken", {}),
        ('["transfer"]', {}),
    ],
)
def test_handoff_data(raw, data):
    assert handoff_data(raw) == data
