"""Placing calls through the real twilio client over the fake Twilio HTTP layer, and its failures."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kimiyi.adapters.twilio_calls import (
    DialRequest,
    TwilioCalls,
    TwilioRateLimited,
    TwilioRejected,
    TwilioUnavailable,
)
from tests.fakes.twilio_http import FakeTwilioHttp

DIAL = DialRequest(
    to="+14155550123",
    from_="+14155550100",
    url="https://voice.example.com/api/twiml-optimized?trackingId=trk_1",
    status_callback="https://voice.example.com/api/call-status?trackingId=trk_1",
    ring_timeout_seconds=25,
    time_limit_seconds=600,
)


@pytest.fixture
def http() -> FakeTwilioHttp:
    return FakeTwilioHttp()


@pytest.fixture
def calls(http) -> TwilioCalls:
    return TwilioCalls(http.account_sid, http.auth_token, http_client=http)


def test_the_request_twilio_receives(calls, http):
    placed = calls.place(DIAL)
    assert placed.sid.startswith("CA") and placed.status == "queued"
    [sent] = http.calls_created
    assert sent.url == f"https://api.twilio.com/2010-04-01/Accounts/{http.account_sid}/Calls.json"
    assert sent.auth == (http.account_sid, http.auth_token)
    assert sent.data == {
        "To": "+14155550123",
        "From": "+14155550100",
        "Url": DIAL.url,
        "Method": "POST",
        "StatusCallback": DIAL.status_callback,
        "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
        "StatusCallbackMethod": "POST",
        "Timeout": 25,
        "TimeLimit": 600,
    }


def test_machine_detection_and_recording_are_sent_only_when_asked(calls, http):
    calls.place(replace(DIAL, machine_detection="DetectMessageEnd", record=True))
    sent = http.calls_created[0].data
    assert sent["MachineDetection"] == "DetectMessageEnd"
    assert sent["Record"] == "true"


@pytest.mark.parametrize("code", [21211, 21214, 21217])
def test_invalid_numbers_keep_twilios_code_and_message(calls, http, code):
    http.answer_invalid_number(code)
    with pytest.raises(TwilioRejected) as caught:
        calls.place(DIAL)
    error = caught.value
    assert error.status == 400 and error.code == code and error.invalid_number
    assert "+14155550123" in error.message  # Twilio's own message, not the client's wrapper text
    assert error.more_info == f"https://www.twilio.com/docs/errors/{code}"


def test_other_rejections_are_not_invalid_numbers(calls, http):
    http.answer_error(400, 21215, "Account not authorized to call +33142685300.")
    with pytest.raises(TwilioRejected) as caught:
        calls.place(DIAL)
    assert caught.value.code == 21215 and not caught.value.invalid_number
    assert caught.value.message == "Account not authorized to call +33142685300."


def test_rate_limits_carry_retry_after(calls, http):
    http.answer_rate_limited(retry_after="7")
    with pytest.raises(TwilioRateLimited) as caught:
        calls.place(DIAL)
    assert caught.value.retry_after_seconds == 7 and caught.value.code == 20429


@pytest.mark.parametrize(
    "header", [None, "Wed, 21 Oct 2026 07:28:00 GMT", "0", "inf", "1e400", "nan", "-3", "²", "9" * 400]
)
def test_rate_limits_without_a_usable_retry_after_wait_one_second(calls, http, header):
    http.answer_rate_limited(retry_after=header)
    with pytest.raises(TwilioRateLimited) as caught:
        calls.place(DIAL)
    assert caught.value.retry_after_seconds == 1


def test_an_unreachable_twilio_is_unavailable(calls, http):
    http.fail_connection()
    with pytest.raises(TwilioUnavailable, match="could not be reached"):
        calls.place(DIAL)


def test_twilio_server_errors_are_unavailable(calls, http):
    http.answer_server_error(503)
    with pytest.raises(TwilioUnavailable, match="503"):
        calls.place(DIAL)


def test_wrong_credentials_are_unavailable_not_the_callers_fault(http):
    calls = TwilioCalls(http.account_sid, "not-the-token", http_client=http)
    with pytest.raises(TwilioUnavailable, match="401"):
        calls.place(DIAL)


def test_the_next_request_after_a_failure_succeeds(calls, http):
    http.answer_invalid_number()
    with pytest.raises(TwilioRejected):
        calls.place(DIAL)
    assert calls.place(DIAL).sid
    assert len(http.calls_created) == 2


@pytest.mark.parametrize(
    "body",
    [
        '{"code": ' + "[" * 3_000 + "]" * 3_000 + "}",  # raised RecursionError out of make-call: a 500
        '{"code": 21211, "message": "bad \\ud800 number"}',
        '{"code": NaN}',
        "not JSON at all",
    ],
)
def test_an_error_body_twilio_should_never_send_is_still_a_rejection(calls, http, body):
    from twilio.http.response import Response

    http._scripted.append(lambda _: Response(400, body, {"Content-Type": "application/json"}))
    with pytest.raises(TwilioRejected) as caught:
        calls.place(DIAL)
    assert caught.value.status == 400
