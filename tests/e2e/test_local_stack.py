"""The local stack over real sockets: HTTP API events, the WebSocket API and the @connections API."""

from __future__ import annotations

import base64
import json
import os
import signal
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import boto3
import httpx
import pytest
from botocore.config import Config
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from kimiyi_local.stack import LocalStack
from tests.conftest import ROOT, RunningStack, start_stack, stop_stack

pytestmark = pytest.mark.e2e
ECHO_TEMPLATE = ROOT / "tests" / "e2e" / "echo_stack" / "template.yaml"


@pytest.fixture(scope="module")
def echo_stack():
    stack = start_stack("--template", str(ECHO_TEMPLATE), "--env-file", "/nonexistent")
    yield stack
    stop_stack(stack)


def _management(stack: RunningStack):
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"{stack.base_url}/test",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 1}),
    )


def test_http_event_has_path_parameters_query_and_request_context(echo_stack):
    response = httpx.get(
        f"{echo_stack.base_url}/items/42?colour=red&colour=blue&size=L", headers={"X-Trace": "t1"}
    )
    assert response.status_code == 200
    assert response.headers["x-echo"] == "1"
    event = response.json()["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{itemId}"
    assert event["rawPath"] == "/items/42"
    assert event["pathParameters"] == {"itemId": "42"}
    assert event["rawQueryString"] == "colour=red&colour=blue&size=L"
    assert event["queryStringParameters"] == {"colour": "red,blue", "size": "L"}
    assert event["headers"]["x-trace"] == "t1"
    context = event["requestContext"]
    assert context["http"]["method"] == "GET"
    assert context["stage"] == "$default"
    assert context["domainName"] == echo_stack.base_url.removeprefix("http://")
    assert 0 < response.json()["remainingMs"] <= 5000


def test_literal_route_wins_over_a_path_parameter(echo_stack):
    event = httpx.get(f"{echo_stack.base_url}/items/special").json()["event"]
    assert event["routeKey"] == "GET /items/special"
    assert "pathParameters" not in event


def test_form_post_arrives_base64_encoded_like_api_gateway(echo_stack):
    form = {"CallSid": "CA123", "SpeechResult": "yes, 3 pm works", "Digits": "1"}
    response = httpx.post(f"{echo_stack.base_url}/form", data=form)
    event = response.json()["event"]
    assert event["isBase64Encoded"] is True
    decoded = parse_qs(base64.b64decode(event["body"]).decode())
    assert decoded == {k: [v] for k, v in form.items()}
    assert event["headers"]["content-type"] == "application/x-www-form-urlencoded"


def test_json_post_arrives_as_text(echo_stack):
    response = httpx.request("POST", f"{echo_stack.base_url}/boom", json={"a": 1})
    assert response.status_code == 500  # /boom raises: API Gateway's answer, not the handler's
    assert response.json() == {"message": "Internal Server Error"}


def test_unknown_route_and_wrong_method_are_404(echo_stack):
    assert httpx.get(f"{echo_stack.base_url}/nowhere").status_code == 404
    response = httpx.delete(f"{echo_stack.base_url}/items/42")
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}


def test_websocket_connect_message_reply_and_disconnect(echo_stack):
    base = echo_stack.base_url.replace("http", "ws") + "/test"
    with connect(base, open_timeout=10) as watcher:  # told when the other connection's $disconnect ran
        watcher.send("hello")
        watcher_id = json.loads(watcher.recv(timeout=10))["connectionId"]
        url = f"{base}?{urlencode({'trackingId': 't-1', 'notify': watcher_id})}"
        with connect(url, additional_headers={"X-Twilio-Signature": "sig"}, open_timeout=10) as ws:
            ws.send(json.dumps({"type": "setup"}))
            reply = json.loads(ws.recv(timeout=10))
            assert reply["echo"] == json.dumps({"type": "setup"})
            assert reply["route"] == "$default"
            connection_id = reply["connectionId"]
            ws.send("describe")
            assert json.loads(json.loads(ws.recv(timeout=10))["echo"]) == {"sourceIp": "127.0.0.1"}
        # $disconnect is invoked after the socket has closed, with no answer to wait for but its own
        assert json.loads(watcher.recv(timeout=10)) == {"disconnected": connection_id}
    table = echo_stack.dynamodb().Table("EchoTable")
    assert table.get_item(Key={"pk": f"connect#{connection_id}"}).get("Item")
    assert table.get_item(Key={"pk": f"disconnect#{connection_id}"}).get("Item")


def test_connect_rejected_by_the_handler_fails_the_handshake(echo_stack):
    url = echo_stack.base_url.replace("http", "ws") + "/test?reject=1"
    with pytest.raises(InvalidStatus) as failure:
        connect(url, open_timeout=10)
    assert failure.value.response.status_code == 403


def test_handler_error_sends_api_gateways_error_frame_and_keeps_the_socket(echo_stack):
    url = echo_stack.base_url.replace("http", "ws") + "/test"
    with connect(url, open_timeout=10) as ws:
        ws.send("boom")
        frame = json.loads(ws.recv(timeout=10))
        assert frame["message"] == "Internal server error"
        assert frame["connectionId"] and frame["requestId"]
        ws.send("still here?")
        assert json.loads(ws.recv(timeout=10))["echo"] == "still here?"


def test_management_api_gone_after_close_and_for_unknown_connections(echo_stack):
    management = _management(echo_stack)
    url = echo_stack.base_url.replace("http", "ws") + "/test"
    with connect(url, open_timeout=10) as ws:
        ws.send("hello")
        connection_id = json.loads(ws.recv(timeout=10))["connectionId"]
        described = management.get_connection(ConnectionId=connection_id)
        assert described["Identity"]["SourceIp"] == "127.0.0.1"
        management.post_to_connection(ConnectionId=connection_id, Data=b'{"type":"text","token":"hi"}')
        assert json.loads(ws.recv(timeout=10)) == {"type": "text", "token": "hi"}
        ws.send("close")  # the handler deletes its own connection
        with pytest.raises(Exception) as closed:
            ws.recv(timeout=10)
        assert "1000" in str(closed.value) or "close" in str(closed.value).lower()
    with pytest.raises(management.exceptions.GoneException):
        management.post_to_connection(ConnectionId=connection_id, Data=b"late")
    with pytest.raises(management.exceptions.GoneException):
        management.get_connection(ConnectionId="bm90LWEtY29ubmVjdGlvbg==")
    with pytest.raises(management.exceptions.GoneException):  # base64 ids may hold '/' and '+'
        management.post_to_connection(ConnectionId="ab/c+d=", Data=b"x")


def test_message_over_the_api_gateway_limit_closes_with_1009(echo_stack):
    url = echo_stack.base_url.replace("http", "ws") + "/test"
    with connect(url, open_timeout=10, max_size=None) as ws:
        ws.send("x" * (128 * 1024 + 1))
        with pytest.raises(Exception) as closed:
            ws.recv(timeout=10)
        assert "1009" in str(closed.value)


def test_lambda_authorizer_401_403_and_cached_allow(echo_stack):
    url = f"{echo_stack.base_url}/secure"
    missing = httpx.get(url)
    assert (missing.status_code, missing.json()) == (401, {"message": "Unauthorized"})
    wrong = httpx.get(url, headers={"x-api-key": "bad"})
    assert (wrong.status_code, wrong.json()) == (403, {"message": "Forbidden"})
    first = httpx.get(url, headers={"x-api-key": "good"})
    second = httpx.get(url, headers={"x-api-key": "good"})
    assert first.status_code == second.status_code == 200
    assert second.json()["event"]["requestContext"]["authorizer"] == {"lambda": {"keyId": "k-good"}}
    table = echo_stack.dynamodb().Table("EchoTable")
    invocations = [i for i in table.scan()["Items"] if i["pk"].startswith("auth#")]
    assert len(invocations) == 2  # "bad" once, "good" once: the allow was cached for the second request
    assert invocations[0]["routeArn"].endswith("/$default/GET/secure")


def test_ctrl_c_stops_the_stack_cleanly():
    stack = start_stack("--template", str(ECHO_TEMPLATE), "--env-file", "/nonexistent")
    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(timeout=15) == 0
    stack.reader.join(timeout=10)  # the output's end, once the process has exited
    assert "local stack stopped" in "".join(stack.output)
    assert "Traceback" not in "".join(stack.output)


def test_ready_is_said_only_once_ctrl_c_is_the_servers_to_handle():
    # Said earlier, a Ctrl-C right after it met Python's default handler: KeyboardInterrupt raised inside
    # the construction of uvicorn's event loop, whose half-built loop then failed again when collected
    # (a traceback in the output of a clean stop).
    stack = LocalStack(port=0, template=ECHO_TEMPLATE, env_file=Path("/nonexistent"))
    seen = []

    def started():
        seen.append(signal.getsignal(signal.SIGINT))
        stack.stop_serving()

    saved = dict(os.environ)  # the stack sets its functions' environment in this process
    try:
        stack.serve_forever(on_started=started)
    finally:
        stack.dynamodb.stop()
        os.environ.clear()
        os.environ.update(saved)
    assert len(seen) == 1 and seen[0] not in (signal.default_int_handler, signal.SIG_DFL)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # and given back afterwards


@pytest.mark.parametrize("content_type", ["application/json", "text/plain; charset=utf-8", "application/xml"])
def test_a_text_body_that_is_not_utf8_arrives_base64_encoded(echo_stack, content_type):
    raw = b'{"a": "caf\xe9 \xff"}'  # Latin-1, not UTF-8
    response = httpx.post(f"{echo_stack.base_url}/form", content=raw, headers={"content-type": content_type})
    assert response.status_code == 200, response.text
    event = response.json()["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


def test_a_utf8_text_body_still_arrives_as_text(echo_stack):
    response = httpx.post(
        f"{echo_stack.base_url}/form",
        content='{"a": "café 你好"}'.encode(),
        headers={"content-type": "application/json"},
    )
    event = response.json()["event"]
    assert event["isBase64Encoded"] is False and event["body"] == '{"a": "café 你好"}'


def test_a_stale_address_in_the_environment_does_not_replace_the_stacks_own(monkeypatch):
    # A WEBSOCKET_URL left by an earlier stack on another port sent `make run`'s call to a closed port.
    monkeypatch.setenv("WEBSOCKET_URL", "ws://127.0.0.1:9/Prod")
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://127.0.0.1:9")
    stack = LocalStack(port=0, env_file=Path("/nonexistent"))
    saved = dict(os.environ)
    try:
        stack.prepare()
        assert os.environ["WEBSOCKET_URL"].startswith(f"ws://127.0.0.1:{stack.port}/")
        assert os.environ["PUBLIC_BASE_URL"] == stack.base_url
    finally:
        stack.dynamodb.stop()
        os.environ.clear()
        os.environ.update(saved)
