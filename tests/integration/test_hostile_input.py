"""Random and hostile input at every edge gets a clear 4xx naming what is wrong, never a 5xx.

Grouped by the class of input, each through the real handlers (under moto, with the template's
environment), so a new endpoint joins the class by being added to the lists here:
- JSON (every HTTP route that reads a body, and Twilio's HandoffData): nesting, numbers, encodings,
  lone surrogates.

Forged Twilio requests have their own suite: tests/integration/test_forged_requests.py.
"""

from __future__ import annotations

import base64
import copy
import json
import xml.etree.ElementTree as ET

import pytest
from aws_lambda_powertools import Logger

from kimiyi.llm import FailoverChain
from kimiyi.relay.service import Relay
from tests.conftest import EVENTS
from tests.events import load
from tests.integration.test_relay import connected, frame
from tests.integration.test_twiml_webhook import (
    TRACKING,
    clinic,
    make_callbacks,
    stage_session,
    twilio_event,
    voice_params,
)

JSON_ROUTES = ["post-api-make-call-optimized", "post-api-test-optimization"]
FUNCTIONS = {
    "post-api-make-call-optimized": "MakeCallFunction",
    "post-api-test-optimization": "TestOptimizationFunction",
}


@pytest.fixture
def post_json(aws, function_env, monkeypatch, lambda_context):
    """POSTs a raw body (bytes, sent base64-encoded as API Gateway does for binary) or a text body to a
    JSON route through its handler; returns (status, parsed body)."""
    monkeypatch.setenv("TWILIO_FROM_NUMBER", "+12125550100")

    def post(route: str, body: bytes | str) -> tuple[int, dict]:
        handler = function_env(FUNCTIONS[route])
        event = copy.deepcopy(load(EVENTS / "http" / f"{route}.json"))
        event["headers"].pop("idempotency-key", None)
        if isinstance(body, bytes):
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
        else:
            event["body"], event["isBase64Encoded"] = body, False
        response = handler(event, lambda_context)
        raw = response["body"]
        raw = base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode("utf-8")
        return response["statusCode"], json.loads(raw.decode("utf-8"))  # strict: the body must be UTF-8

    return post


def sample(route: str) -> dict:
    return json.loads(load(EVENTS / "http" / f"{route}.json")["body"])


def problems(body: dict) -> dict[str, str]:
    return {problem["path"]: problem["message"] for problem in body["problems"]}


# ------------------------------------------------------------------------------------------ JSON bodies
@pytest.mark.parametrize("route", JSON_ROUTES)
@pytest.mark.parametrize("depth", [33, 1_500, 100_000])
def test_deeply_nested_json_is_a_400_saying_how_deep(post_json, route, depth):
    body = '{"to": ' + "[" * depth + "]" * depth + "}"
    status, answer = post_json(route, body.encode())
    assert status == 400 and answer["error"] == "invalid_json"
    assert "nested more than 32 levels deep" in answer["message"]


@pytest.mark.parametrize("route", JSON_ROUTES)
def test_json_nested_to_the_limit_is_read(post_json, route):
    # 32 levels of arrays inside the body's object: read, then refused for its content (422), not its shape.
    body = '{"variables": ' + "[" * 31 + "]" * 31 + "}"
    status, answer = post_json(route, body.encode())
    assert status == 422 and answer["error"] == "invalid_request"


@pytest.mark.parametrize("route", JSON_ROUTES)
@pytest.mark.parametrize(
    ("body", "says"),
    [
        pytest.param(b'{"to": ' + b"1" * 5_000 + b"}", "too many digits", id="a 5,000-digit number"),
        pytest.param(b'{"to": NaN}', "NaN is not JSON", id="NaN"),
        pytest.param(b'{"to": -Infinity}', "-Infinity is not JSON", id="-Infinity"),
        pytest.param(b'{"to": "\xff\xfe"}', "not UTF-8", id="not UTF-8"),
    ],
)
def test_json_that_python_would_misread_is_a_400(post_json, route, body, says):
    status, answer = post_json(route, body)
    assert status == 400 and answer["error"] == "invalid_json"
    assert says in answer["message"]


def _with(body: dict, path: tuple, value: object) -> dict:
    body = copy.deepcopy(body)
    target = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return body


@pytest.mark.parametrize("route", JSON_ROUTES)
@pytest.mark.parametrize(
    ("where", "path"),
    [
        pytest.param(("globalPrompt",), "globalPrompt", id="a value"),
        pytest.param(("nodes", 0, "data", "prompt"), "nodes[0].data.prompt", id="a nested value"),
        pytest.param(("config", "variables", "\udc80name"), 'config.variables["\\udc80name"]', id="a key"),
    ],
)
@pytest.mark.parametrize("surrogate", ["\ud800", "\udfff", "\udc00\ud800"], ids=["high", "low", "reversed"])
def test_lone_surrogates_are_a_422_naming_the_field(post_json, route, where, path, surrogate):
    body = _with(sample(route), where, f"hello {surrogate} there")
    if where[-1].startswith("\udc80"):  # the key itself is the bad text
        body = _with(sample(route), where, "x")
    raw = json.dumps(body)  # ASCII JSON with \\ud800-style escapes, as a client would send them
    status, answer = post_json(route, raw.encode())
    assert status == 422 and answer["error"] == "invalid_request"
    assert "unpaired surrogate" in problems(answer)[path]


@pytest.mark.parametrize("route", JSON_ROUTES)
def test_a_surrogate_pair_is_one_character_and_welcome(post_json, route):
    body = _with(sample(route), ("globalPrompt",), "Smile! \ud83d\ude00")  # 😀 as an escape pair
    body["dryRun"] = True  # make-call: staged, not dialled
    status, _ = post_json(route, json.dumps(body).encode())
    assert status in (200, 201)


@pytest.mark.parametrize(
    "handoff",
    [
        pytest.param('{"reason": ' + "[" * 2_000 + "]" * 2_000 + "}", id="nested 2,000 levels"),
        pytest.param('{"reason": "transfer", "transferTo": "+1212555\\ud8000147"}', id="lone surrogate"),
        pytest.param('{"reason": "transfer", "transferTo": NaN}', id="NaN"),
    ],
)
def test_a_signed_handoff_that_is_not_good_json_hangs_up(store, records, handoff):
    """HandoffData is our own `end` message as Twilio hands it back; what cannot be read is no handoff."""
    stage_session(store, clinic())
    callbacks = make_callbacks(store, records)
    params = voice_params(SessionId="VX" + "0" * 32, SessionStatus="ended", HandoffData=handoff)
    event = twilio_event("/api/call-status", {"trackingId": TRACKING, "event": "connect-action"}, params)
    response = callbacks.handle(event)
    assert response["statusCode"] == 200
    assert [child.tag for child in ET.fromstring(response["body"])] == ["Hangup"]


@pytest.mark.parametrize("route", JSON_ROUTES)
@pytest.mark.parametrize("field", ["language", "languages"])
def test_a_language_the_table_does_not_know_is_a_422_on_every_route(post_json, route, field):
    body = sample(route)
    body["dryRun"] = True
    body["config"][field] = "xx-YY" if field == "language" else ["zh-HK", "xx-YY"]
    status, answer = post_json(route, json.dumps(body).encode())
    assert status == 422 and answer["error"] == "invalid_request"
    path = "config.language" if field == "language" else "config.languages[1]"
    assert "is not a language of the language table" in problems(answer)[path]


# ------------------------------------------------------------------------------------------ paths
# The functions built on Powertools' resolver; a path it cannot route must be a 404, whatever handler of
# last resort (Exception -> 500) the function registers: the resolver hands not-found to that too.
RESOLVER_ROUTES = {
    "MetricsFunction": "get-api-performance-metrics-trackingId",
    "HealthFunction": "get-api-health-optimized",
    "TestOptimizationFunction": "post-api-test-optimization",
}
ODD_PATHS = [
    "/api/performance-metrics/\x00",
    "/api/performance-metrics/a\x00b",
    "/api/performance-metrics/😀",
    "/api/performance-metrics/%ff",
    "/api/performance-metrics/\udcff",  # %ff as a server that decodes with surrogateescape hands it on
    "/api/performance-metrics/a/b",
    "/api/performance-metrics/",
    "/api/nowhere",
]


@pytest.mark.parametrize("function", RESOLVER_ROUTES)
@pytest.mark.parametrize("path", ODD_PATHS, ids=lambda path: path.encode("unicode_escape").decode())
def test_an_odd_path_is_a_404_not_a_500(aws, function_env, lambda_context, function, path):
    handler = function_env(function)
    event = copy.deepcopy(load(EVENTS / "http" / f"{RESOLVER_ROUTES[function]}.json"))
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event.pop("pathParameters", None)
    response = handler(event, lambda_context)
    # "%ff" fits the route's {trackingId}: it is routed, and refused as no trackingId (400).
    expected = 400 if function == "MetricsFunction" and path.endswith("%ff") else 404
    assert response["statusCode"] == expected, response
    body = json.loads(response["body"])
    json.dumps(body, ensure_ascii=False).encode("utf-8")  # whatever the path held, the answer can be sent
    if function != "HealthFunction":  # the control-plane routes answer in the API's one error shape
        assert body["error"] == ("not_found" if expected == 404 else "invalid_tracking_id")
        assert body["success"] is False


# ------------------------------------------------------------------------------------------ numbers
# Whole numbers in Twilio's form fields, our own query strings and headers: ASCII digits within a bound.
# "²".isdigit() and "١٢".isdigit() are true; int() refuses the first and reads the second as 12; a number of
# 39 digits is past DynamoDB's 38 digits of precision (boto3 refuses to serialise it).
ODD_NUMBERS = ["²", "١٢", "1" * 39, "-5", "1e3", "0x10", "1_000", "", " "]


@pytest.fixture
def callbacks(store, records):
    stage_session(store, clinic())
    return make_callbacks(store, records)


@pytest.mark.parametrize("field", ["CallDuration", "SipResponseCode"])
@pytest.mark.parametrize("value", ODD_NUMBERS, ids=repr)
def test_a_status_with_an_odd_number_is_recorded_without_it(callbacks, records, field, value):
    params = voice_params(CallStatus="completed", **{field: value})
    response = callbacks.handle(twilio_event("/api/call-status", {"trackingId": TRACKING}, params))
    assert response["statusCode"] == 200, response
    record = records.status(TRACKING)
    assert record["status"] == "completed"
    assert "duration" not in record and "sipResponseCode" not in record


def test_numbers_in_bounds_are_stored_as_numbers(callbacks, records):
    params = voice_params(CallStatus="completed", CallDuration=" 74 ", SipResponseCode="200")
    callbacks.handle(twilio_event("/api/call-status", {"trackingId": TRACKING}, params))
    record = records.status(TRACKING)
    assert record["duration"] == 74 and record["sipResponseCode"] == 200


@pytest.mark.parametrize("value", ODD_NUMBERS[:4], ids=repr)
def test_a_session_end_with_an_odd_duration_still_answers_its_twiml(callbacks, records, value):
    params = voice_params(SessionId="VX" + "0" * 32, SessionStatus="completed", SessionDuration=value)
    event = twilio_event("/api/call-status", {"trackingId": TRACKING, "event": "connect-action"}, params)
    response = callbacks.handle(event)
    assert response["statusCode"] == 200
    assert [child.tag for child in ET.fromstring(response["body"])] == ["Hangup"]
    assert "sessionDuration" not in records.status(TRACKING)


@pytest.mark.parametrize("value", ["²", "١٢", "1" * 39, "-1"], ids=repr)
def test_a_classic_turn_number_that_is_not_ascii_digits_is_a_400(store, records, value):
    from tests.integration.test_twiml_webhook import make_webhook

    stage_session(store, clinic(), mode="classic")
    params = voice_params(SpeechResult="yes")
    response = make_webhook(store, records).handle(
        twilio_event("/api/twiml-optimized", {"trackingId": TRACKING, "turn": value}, params)
    )
    assert response["statusCode"] == 400 and "turn must be a whole number" in response["body"]


# ------------------------------------------------------------------------------------------ WebSocket frames
# $default must never raise (API Gateway would send Twilio a non-protocol "Internal server error" frame,
# error 64107): a frame it cannot act on is logged and dropped, and the call goes on.
@pytest.fixture
def relay(store):
    from tests.integration.test_relay import TOKEN as RELAY_TOKEN
    from tests.integration.test_relay import WSS, RecordingConnections

    connections = RecordingConnections()
    relay = Relay(
        store=store,
        connections=connections,
        chain=FailoverChain([]),
        auth_token=lambda: RELAY_TOKEN,
        websocket_url=WSS,
        logger=Logger(service="relay-test"),
    )
    connected(relay, store)
    return relay, connections


@pytest.mark.parametrize(
    "duration",
    ["1e400", '"1e400"', '"inf"', '"-inf"', '"nan"', "-1", '"²"', '"1' + "0" * 400 + '"', "1" + "0" * 400],
)
def test_an_interrupt_with_an_odd_duration_is_still_an_interrupt(relay, duration):
    relay, connections = relay
    body = (
        '{"type": "interrupt", "utteranceUntilInterrupt": "Hi", "durationUntilInterruptMs": ' + duration + "}"
    )
    assert relay.on_message(frame(body)) is None
    assert connections.frames == []


DEEP = "[" * 2_000 + "]" * 2_000


@pytest.mark.parametrize(
    "body",
    [
        pytest.param('{"type": "prompt", "voicePrompt": "yes", "x": ' + DEEP + "}", id="nested 2,000 levels"),
        pytest.param(
            '{"type": "prompt", "voicePrompt": "yes", "x": ' + "[" * 40 + "]" * 40 + "}", id="40 levels"
        ),
        pytest.param(DEEP, id="an array 2,000 levels deep"),
        pytest.param('{"type": "prompt", "voicePrompt": "yes \\ud800", "last": true}', id="lone surrogate"),
        pytest.param('{"type": "prompt", "voicePrompt": "\\udc00\\ud800", "last": true}', id="reversed pair"),
        pytest.param(
            '{"type": "setup", "callSid": "CA1", "customParameters": {"\\ud800": "x"}}', id="bad key"
        ),
        pytest.param('{"type": "prompt", "voicePrompt": "yes", "last": NaN}', id="NaN"),
        pytest.param('{"type": "prompt", "voicePrompt": "yes", "n": ' + "1" * 5_000 + "}", id="5,000 digits"),
    ],
)
def test_a_frame_that_is_not_good_json_is_dropped_and_the_call_goes_on(relay, body, caplog):
    relay, connections = relay
    assert relay.on_message(frame(body)) is None
    assert connections.frames == []
    relay.on_message(frame({"type": "prompt", "voicePrompt": "Yes, that works.", "last": True}))
    assert connections.texts().startswith("Great")


def test_four_huge_prompts_are_each_answered_and_the_state_still_fits_in_an_item(relay, table):
    """Four 120 KB prompts pushed the call's state past DynamoDB's 400 KB item limit: that turn's save
    failed and its state was dropped. Each is now cut to the voicePrompt limit, and the history kept to
    its byte budget, so every turn is answered and saved."""
    relay, connections = relay
    for turn in range(1, 5):
        words = f"turn {turn} " + "blah " * 24_000  # about 120 KB
        before = len(connections.frames)
        relay.on_message(frame({"type": "prompt", "voicePrompt": words, "last": True}))
        spoken = connections.frames[before:]
        assert any(f["type"] == "text" for f in spoken)
        item = table.get_item(Key={"pk": f"CALL#{TRACKING}", "sk": "STATE"}, ConsistentRead=True)["Item"]
        assert int(item["version"]) == turn
        assert len(item["state"].encode()) < 100 * 1024
        callers = [m["content"] for m in json.loads(item["state"])["history"] if m["role"] == "user"]
        assert callers[-1].startswith(f"turn {turn} blah") and len(callers[-1]) <= 4_000


# ------------------------------------------------------------------------------------------ text
@pytest.mark.parametrize("where", ["body", "query"])
@pytest.mark.parametrize("path", ["/api/twiml-optimized", "/api/call-status"])
def test_a_webhook_whose_text_is_not_unicode_is_a_400(store, records, where, path):
    """Only a hand-made event carries such text (API Gateway decodes bytes, and a surrogate is not
    UTF-8): the signature check encodes it, and that raised."""
    from tests.integration.test_twiml_webhook import make_webhook

    stage_session(store, clinic())
    event = twilio_event(path, {"trackingId": TRACKING}, voice_params())
    if where == "body":
        event["body"], event["isBase64Encoded"] = "CallSid=CA1&SpeechResult=\ud800", False
    else:
        event["rawQueryString"] = f"trackingId={TRACKING}\udcff"
    webhook = make_webhook(store, records)
    if path == "/api/call-status":
        webhook = make_callbacks(store, records)
    response = webhook.handle(event)
    assert response["statusCode"] == 400
    assert "not Unicode text" in json.loads(response["body"])["message"]


# ------------------------------------------------------------------------------------------ TwiML
# An HTTP client decodes a text/* body with the charset the Content-Type names, and without one HTTP/1.1's
# default, ISO-8859-1 (requests does exactly that): the Cantonese greeting and hints would be mojibake.
def as_a_client_reads_it(response: dict) -> ET.Element:
    from requests.utils import get_encoding_from_headers

    assert response["statusCode"] == 200, response
    headers = response["headers"]
    assert headers["content-type"].split(";")[0] == "text/xml"
    assert get_encoding_from_headers(headers).lower() == "utf-8"  # declared, whatever the text holds
    return ET.fromstring(response["body"].encode("utf-8").decode(get_encoding_from_headers(headers)))


def cantonese_call(store) -> None:
    from tests.integration.test_twiml_webhook import workflow_payload

    stage_session(store, workflow_payload("zh-HK", ["en-US"], hints=["改期", "取消"]))


def test_stream_twiml_reads_right_with_the_declared_charset(store, records):
    from tests.integration.test_twiml_webhook import make_webhook

    cantonese_call(store)
    response = make_webhook(store, records).handle(
        twilio_event("/api/twiml-optimized", {"trackingId": TRACKING}, voice_params())
    )
    relay = as_a_client_reads_it(response).find("Connect/ConversationRelay")
    assert relay.get("welcomeGreeting").startswith("你好，呢度係診所。") and relay.get("hints") == "改期,取消"


def test_classic_twiml_reads_right_with_the_declared_charset(store, records):
    from tests.integration.test_twiml_webhook import make_webhook, workflow_payload

    stage_session(store, workflow_payload("zh-HK"), mode="classic")
    response = make_webhook(store, records).handle(
        twilio_event("/api/twiml-optimized", {"trackingId": TRACKING}, voice_params())
    )
    assert "你好，呢度係診所。" in "".join(as_a_client_reads_it(response).itertext())


def test_the_failure_twiml_and_the_status_answers_declare_their_charset(store, records, callbacks):
    from tests.integration.test_twiml_webhook import make_webhook

    unknown = make_webhook(store, records).handle(
        twilio_event("/api/twiml-optimized", {"trackingId": "trk_nobody"}, voice_params())
    )
    assert as_a_client_reads_it(unknown).find("Say") is not None
    status = callbacks.handle(twilio_event("/api/call-status", {"trackingId": TRACKING}, voice_params()))
    assert len(as_a_client_reads_it(status)) == 0


def test_the_connect_action_dial_declares_its_charset(callbacks):
    handoff = json.dumps({"reason": "transfer", "transferTo": "+12125550147", "note": "轉接"})
    params = voice_params(SessionId="VX" + "0" * 32, SessionStatus="ended", HandoffData=handoff)
    event = twilio_event("/api/call-status", {"trackingId": TRACKING, "event": "connect-action"}, params)
    assert as_a_client_reads_it(callbacks.handle(event)).find("Dial").text == "+12125550147"
