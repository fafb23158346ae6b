"""The local LLM server itself, over raw HTTP: wire format, modes, control endpoint, lifecycle."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kimiyi.conversation.prompts import continuation_messages
from kimiyi.llm.tokens import split_into_tokens
from kimiyi_local.llm_server import LocalLLMServer, reply_for, reply_to

ROOT = Path(__file__).resolve().parents[2]
USER = [{"role": "user", "content": "Hello there"}]


@pytest.fixture(scope="module")
def server():
    with LocalLLMServer(first_token_ms=5, token_ms=0, max_hang_s=30) as llm:
        yield llm


@pytest.fixture(autouse=True)
def fresh(server):
    server.configure(mode="ok", reply=None, api_key=None, fail_after_tokens=3)
    server.reset_stats()


def post(server, path, body, headers=None, timeout=10):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    payload = json.dumps(body).encode()
    connection.request("POST", path, payload, {"Content-Type": "application/json", **(headers or {})})
    response = connection.getresponse()
    return response, response.read()


def events(raw: bytes) -> list[str]:
    """The SSE data payloads, in order."""
    blocks = raw.decode().split("\n\n")
    assert blocks[-1] == ""
    assert all(block.startswith("data: ") for block in blocks[:-1]), blocks
    return [block[len("data: ") :] for block in blocks[:-1]]


def content(chunks: list[dict]) -> str:
    return "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks if chunk["choices"])


def test_openai_stream_has_the_real_chunk_shape(server):
    response, raw = post(
        server, "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": USER, "stream": True}
    )
    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/event-stream")
    assert response.getheader("Transfer-Encoding") == "chunked"
    payloads = events(raw)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(payload) for payload in payloads[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert [c["choices"][0]["delta"]["content"] for c in chunks[1:-1]] == split_into_tokens(reply_for(USER))
    assert chunks[1]["model"] == "gpt-4o-mini"


def test_azure_path_opens_with_a_chunk_without_choices(server):
    path = "/openai/deployments/my-dep/chat/completions?api-version=2024-10-21"
    _response, raw = post(server, path, {"messages": USER, "stream": True})
    chunks = [json.loads(payload) for payload in events(raw)[:-1]]
    assert chunks[0]["choices"] == [] and "prompt_filter_results" in chunks[0]
    assert chunks[1]["model"] == "my-dep"
    assert content(chunks) == reply_for(USER)


def test_azure_path_requires_api_version(server):
    response, raw = post(server, "/openai/deployments/my-dep/chat/completions", {"messages": USER})
    assert response.status == 400
    assert "api-version" in json.loads(raw)["error"]["message"]


def test_non_streaming_completion(server):
    _response, raw = post(server, "/v1/chat/completions", {"model": "m", "messages": USER})
    body = json.loads(raw)
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": reply_for(USER), "refusal": None}
    assert body["usage"]["completion_tokens"] == len(split_into_tokens(reply_for(USER)))


def test_usage_chunk_and_max_tokens(server):
    body = {"messages": USER, "stream": True, "max_tokens": 2, "stream_options": {"include_usage": True}}
    _response, raw = post(server, "/v1/chat/completions", body)
    chunks = [json.loads(payload) for payload in events(raw)[:-1]]
    assert content(chunks) == "".join(split_into_tokens(reply_for(USER))[:2])
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 2


def test_replies_are_deterministic_and_follow_the_script():
    assert reply_for(USER) == "You said: Hello there. How else can I help?"
    assert reply_for([{"role": "user", "content": "幾點開門？"}]).startswith("收到：幾點開門。")
    assert reply_for([]) == "Hello! How can I help you today?"


def test_a_fixed_reply(server):
    server.configure(reply="Fixed text.")
    _response, raw = post(server, "/v1/chat/completions", {"messages": USER})
    assert json.loads(raw)["choices"][0]["message"]["content"] == "Fixed text."


def test_rate_limit_and_error_modes(server):
    server.configure(mode="rate_limit", retry_after_s=7)
    response, raw = post(server, "/v1/chat/completions", {"messages": USER, "stream": True})
    assert response.status == 429 and response.getheader("Retry-After") == "7"
    assert json.loads(raw)["error"]["code"] == "rate_limit_exceeded"
    server.configure(mode="error", status=503)
    response, _ = post(server, "/v1/chat/completions", {"messages": USER, "stream": True})
    assert response.status == 503


def test_the_mode_header_overrides_per_request(server):
    response, _ = post(server, "/v1/chat/completions", {"messages": USER}, {"x-fake-mode": "rate_limit"})
    assert response.status == 429
    response, _ = post(server, "/v1/chat/completions", {"messages": USER})
    assert response.status == 200
    response, raw = post(server, "/v1/chat/completions", {"messages": USER}, {"x-fake-mode": "sideways"})
    assert response.status == 400 and "x-fake-mode" in json.loads(raw)["error"]["message"]


def test_drop_closes_the_connection_mid_body(server):
    server.configure(mode="drop", fail_after_tokens=2)
    with pytest.raises(http.client.IncompleteRead) as raised:
        post(server, "/v1/chat/completions", {"messages": USER, "stream": True})
    partial = [json.loads(payload) for payload in events(raised.value.partial)]
    assert content(partial) == "".join(split_into_tokens(reply_for(USER))[:2])


def test_malformed_sends_a_chunk_that_is_not_json(server):
    server.configure(mode="malformed", fail_after_tokens=1)
    _response, raw = post(server, "/v1/chat/completions", {"messages": USER, "stream": True})
    payloads = events(raw)
    assert payloads[-1] == "[DONE]"
    with pytest.raises(json.JSONDecodeError):
        json.loads(payloads[-2])


def test_content_filter_stops_a_normal_stream_as_azure_does(server):
    server.configure(mode="content_filter", fail_after_tokens=3)
    response, raw = post(server, "/v1/chat/completions", {"messages": USER, "stream": True})
    assert response.status == 200
    payloads = events(raw)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(payload) for payload in payloads[:-1]]
    safe = {"filtered": False, "severity": "safe"}
    categories = {name: safe for name in ("hate", "self_harm", "sexual", "violence")}
    assert chunks[0]["choices"] == []
    assert chunks[0]["prompt_filter_results"] == [{"prompt_index": 0, "content_filter_results": categories}]
    assert chunks[1]["choices"][0]["content_filter_results"] == {}  # the role chunk
    tokens = split_into_tokens(reply_for(USER))[:3]
    assert [c["choices"][0]["delta"]["content"] for c in chunks[2:-1]] == tokens
    assert all(c["choices"][0]["content_filter_results"] == categories for c in chunks[2:-1])
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1] if c["choices"])
    last = chunks[-1]["choices"][0]
    assert (last["delta"], last["finish_reason"]) == ({}, "content_filter")
    assert last["content_filter_results"] == {
        **categories,
        "violence": {"filtered": True, "severity": "medium"},
    }
    assert server.stats["completed"] == 1


def test_length_stops_a_normal_stream_after_fail_after_tokens(server):
    server.configure(mode="length", fail_after_tokens=2)
    _response, raw = post(server, "/v1/chat/completions", {"messages": USER, "stream": True})
    payloads = events(raw)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(payload) for payload in payloads[:-1]]
    assert all(chunk["choices"] for chunk in chunks)  # no Azure opening chunk on the OpenAI path
    assert "content_filter_results" not in chunks[-1]["choices"][0]
    assert content(chunks) == "".join(split_into_tokens(reply_for(USER))[:2])
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "length"}
    _response, raw = post(server, "/v1/chat/completions", {"messages": USER})  # not streamed
    choice = json.loads(raw)["choices"][0]
    assert (choice["message"]["content"], choice["finish_reason"]) == ("You said", "length")


def test_hangs_end_by_themselves_after_max_hang_s():
    with LocalLLMServer(mode="hang_before_headers", max_hang_s=0.1) as llm:
        connection = http.client.HTTPConnection("127.0.0.1", llm.port, timeout=10)
        connection.request("POST", "/v1/chat/completions", json.dumps({"messages": USER}))
        with pytest.raises(http.client.RemoteDisconnected):
            connection.getresponse()


def test_stop_ends_a_hanging_request(server):
    llm = LocalLLMServer(mode="hang_after_headers", max_hang_s=300)
    llm.start()
    connection = http.client.HTTPConnection("127.0.0.1", llm.port, timeout=30)
    connection.request("POST", "/v1/chat/completions", json.dumps({"messages": USER, "stream": True}))
    response = connection.getresponse()
    assert response.status == 200
    stopper = threading.Thread(target=llm.stop)
    stopper.start()
    stopper.join(10)
    assert not stopper.is_alive(), "stop() waited for the hang"
    with pytest.raises((http.client.IncompleteRead, ConnectionError)):
        response.read()


def test_control_endpoint_reads_and_changes_behaviour(server):
    response, raw = post(server, "/_control", {"mode": "rate_limit", "first_token_ms": 1})
    state = json.loads(raw)
    assert response.status == 200 and state["behaviour"]["mode"] == "rate_limit"
    response, _ = post(server, "/v1/chat/completions", {"messages": USER})
    assert response.status == 429
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", "/_control")
    assert json.loads(connection.getresponse().read())["stats"]["mode:rate_limit"] == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"mode": "sideways"}, "mode must be one of"),
        ({"speed": 3}, "unknown setting"),
        ({"first_token_ms": -1}, "first_token_ms must be a number"),
        ({"status": 200}, "status must be an HTTP error code"),
    ],
)
def test_control_endpoint_rejects_bad_settings(server, body, message):
    response, raw = post(server, "/_control", body)
    assert response.status == 400
    assert message in json.loads(raw)["error"]["message"]


def test_bad_requests(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("POST", "/v1/chat/completions", b"{not json", {"Content-Type": "application/json"})
    assert connection.getresponse().status == 400
    response, _ = post(server, "/v1/chat/completions", {"messages": "hi"})
    assert response.status == 400
    response, _ = post(server, "/v1/embeddings", {"input": "hi"})
    assert response.status == 404


def test_a_required_key_is_checked(server):
    server.configure(api_key="secret")
    response, _raw = post(
        server, "/v1/chat/completions", {"messages": USER}, {"Authorization": "Bearer nope"}
    )
    assert response.status == 401
    response, _ = post(server, "/v1/chat/completions", {"messages": USER}, {"api-key": "secret"})
    assert response.status == 200


def test_counts_requests_and_connections(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    for _ in range(3):
        connection.request("POST", "/v1/chat/completions", json.dumps({"messages": USER, "stream": True}))
        connection.getresponse().read()
    assert server.request_count == 3
    assert server.stats["connections"] == 1  # keep-alive across streamed responses
    assert server.stats["completed"] == 3


def test_constructor_rejects_bad_behaviour():
    with pytest.raises(ValueError, match="mode must be one of"):
        LocalLLMServer(mode="fast")
    with pytest.raises(RuntimeError, match="not running"):
        _ = LocalLLMServer().port


def test_runs_standalone():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "local"), str(ROOT / "layers/core")])}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kimiyi_local.llm_server",
            "--port",
            "0",
            "--first-token-ms",
            "1",
            "--token-ms",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        banner = process.stdout.readline()
        assert banner.startswith("local LLM server on http://127.0.0.1:")
        port = int(banner.split()[4].rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            pass
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("POST", "/v1/chat/completions", json.dumps({"messages": USER}))
        assert json.loads(connection.getresponse().read())["choices"][0]["message"]["content"] == reply_for(
            USER
        )
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        process.stdout.close()


class ServerClock:
    """The server's clock for one test: it stands still except while the server waits, and then moves by
    exactly what the server waited."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def pause(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False  # not stopping


def test_each_stream_is_timed_as_the_server_saw_it():
    clock = ServerClock(1000.0)
    behaviour = {"reply": "One, two three.", "first_token_ms": 5, "token_ms": 2}
    with LocalLLMServer(clock=clock, pause=clock.pause, **behaviour) as server:
        messages = [{"role": "system", "content": "You are a shop."}, *USER]
        response, _ = post(
            server, "/v1/chat/completions", {"model": "m", "messages": messages, "stream": True}
        )
        assert response.status == 200
        post(server, "/v1/chat/completions", {"model": "m", "messages": USER})  # not streamed: not timed
        (timing,) = server.stream_timings()
        assert (timing.system, timing.messages) == ("You are a shop.", 2)
        assert len(split_into_tokens("One, two three.")) == 5
        assert timing.arrived == 1000.0  # stamped as the request came in, before the server waited
        # Its 5 ms first-token time, then 2 ms before each later token, on the server's own clock.
        assert timing.tokens == pytest.approx([1000.005, 1000.007, 1000.009, 1000.011, 1000.013], abs=1e-9)
        assert clock.waits[:5] == pytest.approx([0.005, 0.002, 0.002, 0.002, 0.002], abs=1e-9)
        server.reset_stats()
        assert server.stream_timings() == []


def test_the_servers_clock_is_perf_counter_unless_given(server):
    started = time.perf_counter()  # a benchmark in this process subtracts the server's times from its own
    response, _ = post(server, "/v1/chat/completions", {"messages": USER, "stream": True})
    assert response.status == 200
    (timing,) = server.stream_timings()
    assert started <= timing.arrived <= timing.tokens[0] <= time.perf_counter()


def test_a_request_to_continue_a_reply_cut_short_gets_the_rest_of_it():
    asked = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "When do you open"}]
    full = reply_for(asked)
    assert full == "You said: When do you open. How else can I help?"
    assert reply_to(continuation_messages(asked, "You said: When do you open.")) == " How else can I help?"
    configured = "Of course, we are open. Come by."
    assert reply_to(continuation_messages(asked, "Of course,"), configured) == " we are open. Come by."
    assert reply_to(continuation_messages(asked, "Something else."), configured) == configured
    assert reply_to(asked, configured) == configured
