"""A local OpenAI-compatible LLM server with set latency and failure modes, for tests and benchmarks.

Routes:
  POST /v1/chat/completions (and /chat/completions)                     OpenAI and compatible clients
  POST /openai/deployments/{deployment}/chat/completions?api-version=…  Azure OpenAI clients
  GET/POST /_control                                                     read or change behaviour at run time

The reply is the configured `reply`, else one built from the last user message (`reply_for`); a request
that asks to continue a reply cut short (the relay's recovery: the words heard so far as the assistant's
message, then a system instruction) gets the rest of that reply.

Streaming replies are SSE `data: {chat.completion.chunk}` events ending `data: [DONE]`, over chunked
transfer encoding on a keep-alive connection, as the real services send them. Modes:

  ok                   the reply, after first_token_ms, then one token every token_ms
  error                HTTP `status` (500) with an OpenAI-shaped error body
  rate_limit           HTTP 429 with Retry-After
  hang_before_headers  reads the request and sends nothing
  hang_after_headers   sends 200 and the SSE headers, then nothing
  drop                 sends fail_after_tokens tokens, then closes the connection mid-body
  stall                sends fail_after_tokens tokens, then nothing
  malformed            sends fail_after_tokens tokens, then a chunk that is not JSON
  content_filter       sends fail_after_tokens tokens, then finish_reason "content_filter", shaped as Azure
                       sends it: a first chunk of prompt_filter_results, content_filter_results on every
                       choice, and a category filtered at "medium" on the last one
  length               sends fail_after_tokens tokens, then finish_reason "length" (max_tokens reached)

Every hang ends by itself after max_hang_s (or at stop()), so no test can leak a connection.
A request may override the mode with the `x-fake-mode` header and the first-token time with
`x-fake-first-token-ms`.

In a test:   with LocalLLMServer(first_token_ms=20) as llm: OpenAI(base_url=llm.openai_base_url, ...)
Standalone:  python -m kimiyi_local.llm_server --port 8100 --first-token-ms 200 --token-ms 10
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import re
import socket
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kimiyi.llm.tokens import split_into_tokens

MODES = (
    "ok",
    "error",
    "rate_limit",
    "hang_before_headers",
    "hang_after_headers",
    "drop",
    "stall",
    "malformed",
    "content_filter",
    "length",
)
_FINISHED_EARLY = ("content_filter", "length")  # a normal 200 stream that stops after fail_after_tokens
_SAFE = {"filtered": False, "severity": "safe"}
_FILTER_CATEGORIES = ("hate", "self_harm", "sexual", "violence")
_AZURE_PATH = re.compile(r"^/openai/deployments/(?P<deployment>[^/]+)/chat/completions/?$")
_OPENAI_PATHS = ("/v1/chat/completions", "/chat/completions")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3040-\u30ff]")


@dataclass
class Behaviour:
    mode: str = "ok"
    first_token_ms: float = 50.0
    token_ms: float = 10.0
    reply: str | None = None  # None: a deterministic reply built from the last user message
    fail_after_tokens: int = 3  # for drop, stall, malformed, content_filter and length
    status: int = 500  # for error
    retry_after_s: int = 1  # for rate_limit
    max_hang_s: float = 5.0
    api_key: str | None = None  # when set, requests must carry it (Authorization: Bearer or api-key)
    model: str = "local-fake"

    def validate(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        for name in ("first_token_ms", "token_ms", "max_hang_s", "fail_after_tokens", "retry_after_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a number >= 0, not {value!r}")
        if not isinstance(self.status, int) or not 400 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP error code (400-599), not {self.status!r}")
        if self.reply is not None and not isinstance(self.reply, str):
            raise ValueError("reply must be a string or null")


def _route(prompt: str) -> str:
    """Answers the turn pipeline's edge-judging prompt: the statement sharing most words with the caller."""
    caller = re.search(r"^Caller: (.*)$", prompt, re.MULTILINE)
    words = {w for w in re.findall(r"\w{4,}", caller.group(1).lower())} if caller else set()
    best, best_overlap = "0", 0
    for number, statement in re.findall(r"^(\d+)\. (.*)$", prompt, re.MULTILINE):
        overlap = len(words & set(re.findall(r"\w{4,}", statement.lower())))
        if overlap > best_overlap:
            best, best_overlap = number, overlap
    return best


def reply_for(messages: list[dict[str, Any]]) -> str:
    """A deterministic reply to the last user message, in its script (CJK or not)."""
    system = next(
        (str(m.get("content", "")) for m in messages if isinstance(m, dict) and m.get("role") == "system"), ""
    )
    if "Answer with the number" in system:
        return _route(str(messages[-1].get("content", "")))
    said = ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # content parts
                content = " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
            said = str(content or "").strip()
            break
    if not said:
        return "Hello! How can I help you today?"
    if _CJK.search(said):
        return f"收到：{said.rstrip('。！？.!?')}。請問還有什麼可以幫到你？"
    return f"You said: {said.rstrip('.!? ')}. How else can I help?"


def reply_to(messages: list[dict[str, Any]], configured: str | None = None) -> str:
    """The reply: `configured`, else `reply_for` the messages. A request that asks to continue a reply
    cut short (its last two messages: the assistant's words so far, then a system instruction) gets
    the rest of that same reply, as a model would continue it."""
    cut_short = (
        len(messages) >= 2
        and isinstance(messages[-1], dict)
        and messages[-1].get("role") == "system"
        and isinstance(messages[-2], dict)
        and messages[-2].get("role") == "assistant"
    )
    asked = messages[:-2] if cut_short else messages
    full = configured if configured is not None else reply_for(asked)
    said = str(messages[-2].get("content") or "").strip() if cut_short else ""
    if said and full.startswith(said):
        return full[len(said) :]
    return full


STREAM_TIMINGS_KEPT = 20_000


@dataclass
class StreamTiming:
    """One streamed request as this server saw it, on its clock (time.perf_counter unless given): when
    the request had arrived (its headers read) and when each content token was written. A benchmark in the same process can
    then subtract exactly the time the LLM took. `system` and `messages` (the first message's text and
    the message count) tell which turn sent it."""

    system: str
    messages: int
    arrived: float
    tokens: list[float] = field(default_factory=list)


class LocalLLMServer:
    """The server on 127.0.0.1 (port 0: a free port) in a background thread."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        verbose: bool = False,
        clock: Callable[[], float] = time.perf_counter,
        pause: Callable[[float], bool] | None = None,
        **behaviour: Any,
    ) -> None:
        self.verbose = verbose  # log every request to stderr
        # What stamps arrivals and tokens, and what waits out first_token_ms and token_ms (True: the server
        # is stopping); a test may give a clock that only its pause moves.
        self.clock = clock
        self.pause = pause or self._wait_unless_stopping
        self.behaviour = Behaviour(**behaviour)
        self.behaviour.validate()
        self._address = (host, port)
        self._lock = threading.Lock()
        self._stats: Counter[str] = Counter()
        self._counted = threading.Condition(self._lock)
        self.last_request: dict[str, Any] = {}
        self._streams: deque[StreamTiming] = deque(maxlen=STREAM_TIMINGS_KEPT)
        self.stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> str:
        self.stopping.clear()
        self._httpd = _HTTPServer(self._address, _Handler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="local-llm", daemon=True
        )
        self._thread.start()
        return self.base_url

    def _wait_unless_stopping(self, seconds: float) -> bool:
        return self.stopping.wait(seconds)

    def stop(self) -> None:
        if self._httpd is None:
            return
        self.stopping.set()  # wakes every hang and sleep
        self._httpd.shutdown()
        self._httpd.close_connections()  # wakes handlers waiting for a keep-alive request
        self._httpd.server_close()  # joins the handler threads
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> LocalLLMServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # addresses
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the server is not running: call start()")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        host = self._address[0]
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"

    def azure_chat_url(self, deployment: str = "gpt-4o-mini", api_version: str = "2024-08-01-preview") -> str:
        """The full URL form of AZURE_OPENAI_ENDPOINT, pointing here."""
        return f"{self.base_url}/openai/deployments/{deployment}/chat/completions?api-version={api_version}"

    # behaviour and counters
    def configure(self, **changes: Any) -> Behaviour:
        with self._lock:
            unknown = set(changes) - {field.name for field in dataclasses.fields(Behaviour)}
            if unknown:
                raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
            updated = dataclasses.replace(self.behaviour, **changes)
            updated.validate()
            self.behaviour = updated
            return dataclasses.replace(updated)

    def snapshot(self) -> Behaviour:
        with self._lock:
            return dataclasses.replace(self.behaviour)

    def count(self, key: str) -> None:
        with self._lock:
            self._stats[key] += 1
            self._counted.notify_all()

    def wait_for_requests(self, count: int, timeout_s: float = 10.0) -> bool:
        """Blocks until `count` chat requests have arrived since the last reset_stats (False at the timeout)."""
        with self._lock:
            return self._counted.wait_for(lambda: self._stats["requests"] >= count, timeout_s)

    def drop_idle_connections(self) -> None:
        """Closes every open connection, as a server's keep-alive timeout closes the idle ones."""
        if self._httpd is not None:
            self._httpd.close_connections()

    @property
    def stats(self) -> dict[str, int]:
        """requests, connections, completed (streams/bodies sent whole), and mode:<name> per request."""
        with self._lock:
            return dict(self._stats)

    @property
    def request_count(self) -> int:
        return self.stats.get("requests", 0)

    def reset_stats(self) -> None:
        with self._lock:
            self._stats.clear()
            self._streams.clear()
            self.last_request = {}

    def note_stream(self, timing: StreamTiming) -> None:
        with self._lock:
            self._streams.append(timing)

    def stream_timings(self) -> list[StreamTiming]:
        """The latest streamed requests' timings (see StreamTiming), oldest first."""
        with self._lock:
            return list(self._streams)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the handler threads: nothing outlives stop()
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler], app: LocalLLMServer) -> None:
        self.app = app
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, handler)

    def close_connections(self) -> None:
        with self.sockets_lock:
            for sock in list(self.open_sockets):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class _Dropped(Exception):
    """The connection must be closed now, without finishing the response."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, chunked streaming: connection reuse as with the real APIs
    disable_nagle_algorithm = True  # every token leaves at once
    server: _HTTPServer
    # When the first line of the current request came in: the server's clock for a request starts there,
    # before http.server spends its time parsing the headers.
    _first_line_at: float | None = None

    def setup(self) -> None:
        super().setup()
        self.app = self.server.app
        self.app.count("connections")
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)

    def finish(self) -> None:
        with self.server.sockets_lock:
            self.server.open_sockets.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.app.verbose:
            super().log_message(format, *args)

    # routing
    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/_control":
            self._send_json(200, self._control_state())
        else:
            self._send_error(404, "not found", "not_found")

    def handle_one_request(self) -> None:
        self._first_line_at = None
        try:
            super().handle_one_request()
        except ConnectionError:  # a client that abandoned a stream resets the connection: not an error here
            self.close_connection = True

    def parse_request(self) -> bool:
        # http.server calls this as soon as it has read the request's first line, before the headers.
        self._first_line_at = self.server.app.clock()
        return super().parse_request()

    def do_POST(self) -> None:
        self._arrived = self._first_line_at or self.app.clock()
        url = urlsplit(self.path)
        try:
            body = self._read_json()
        except ValueError as error:
            self._send_error(400, f"invalid JSON body: {error}", "invalid_request_error")
            return
        if url.path == "/_control":
            self._control(body)
            return
        azure = _AZURE_PATH.match(url.path)
        if not azure and url.path not in _OPENAI_PATHS:
            self._send_error(404, f"no route for {url.path}", "not_found")
            return
        query = parse_qs(url.query)
        if azure and not query.get("api-version"):
            self._send_error(400, "the api-version query parameter is required", "invalid_request_error")
            return
        try:
            self._chat(body, azure is not None, azure["deployment"] if azure else None, query)
        except (_Dropped, OSError):
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    # control
    def _control_state(self) -> dict[str, Any]:
        return {"behaviour": dataclasses.asdict(self.app.snapshot()), "stats": self.app.stats}

    def _control(self, body: Any) -> None:
        if not isinstance(body, dict):
            self._send_error(400, "send a JSON object of settings", "invalid_request_error")
            return
        if body.pop("reset_stats", False):
            self.app.reset_stats()
        try:
            self.app.configure(**body)
        except (TypeError, ValueError) as error:
            self._send_error(400, str(error), "invalid_request_error")
            return
        self._send_json(200, self._control_state())

    # chat
    def _chat(self, body: Any, azure: bool, deployment: str | None, query: dict[str, list[str]]) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._send_error(400, "'messages' must be a list", "invalid_request_error")
            return
        behaviour = self.app.snapshot()
        mode = self.headers.get("x-fake-mode") or behaviour.mode
        if self.headers.get("x-fake-first-token-ms"):
            try:
                behaviour.first_token_ms = max(float(self.headers["x-fake-first-token-ms"]), 0.0)
            except ValueError:
                self._send_error(400, "x-fake-first-token-ms must be a number", "invalid_request_error")
                return
        self.app.count("requests")
        self.app.count(f"mode:{mode}")
        self.app.last_request = {
            "path": urlsplit(self.path).path,
            "query": {key: values[0] for key, values in query.items()},
            "deployment": deployment,
            "model": body.get("model"),
            "stream": bool(body.get("stream")),
            "max_tokens": body.get("max_tokens", body.get("max_completion_tokens")),
            "auth": "api-key" if self.headers.get("api-key") else "bearer" if self._bearer() else None,
            "messages": len(body["messages"]),
        }
        if behaviour.api_key and behaviour.api_key not in (self.headers.get("api-key"), self._bearer()):
            self._send_error(401, "Incorrect API key provided.", "invalid_api_key")
            return
        if mode not in MODES:
            self._send_error(400, f"x-fake-mode must be one of {', '.join(MODES)}", "invalid_request_error")
            return
        if mode == "rate_limit":
            self._send_error(
                429,
                "Rate limit reached. Please retry after a while.",
                "rate_limit_exceeded",
                {
                    "Retry-After": str(behaviour.retry_after_s),
                    "retry-after-ms": str(behaviour.retry_after_s * 1000),
                },
            )
            return
        if mode == "error":
            self._send_error(
                behaviour.status, "The server had an error while processing your request.", "server_error"
            )
            return
        if mode == "hang_before_headers":
            self._hang(behaviour)
            raise _Dropped

        tokens = split_into_tokens(reply_to(body["messages"], behaviour.reply))
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        finish_reason = "stop"
        if isinstance(limit, int) and 0 < limit < len(tokens):
            tokens, finish_reason = tokens[:limit], "length"
        if mode in _FINISHED_EARLY:
            tokens, finish_reason = tokens[: behaviour.fail_after_tokens], mode
        model = deployment or body.get("model") or behaviour.model
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            first = body["messages"][0] if body["messages"] else {}
            timing = StreamTiming(
                str(first.get("content", "")) if isinstance(first, dict) else "",
                len(body["messages"]),
                self._arrived,
            )
            self.app.note_stream(timing)
            self._stream(behaviour, mode, tokens, finish_reason, model, azure, include_usage, timing)
        else:
            self._complete(behaviour, mode, tokens, finish_reason, model, len(body["messages"]))

    def _stream(
        self,
        behaviour: Behaviour,
        mode: str,
        tokens: list[str],
        finish_reason: str,
        model: str,
        azure: bool,
        include_usage: bool,
        timing: StreamTiming,
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", uuid.uuid4().hex)
        self.end_headers()
        self.wfile.flush()
        if mode == "hang_after_headers":
            self._hang(behaviour)
            raise _Dropped
        self._sleep_ms(behaviour.first_token_ms)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())

        filtering = mode == "content_filter"  # Azure's content-filter annotations on every chunk

        def chunk(
            delta: dict[str, Any], finish: str | None = None, filters: dict | None = None
        ) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            if filtering:
                choice["content_filter_results"] = _filter_results() if filters is None else filters
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_local",
                "choices": [choice],
            }

        if azure or filtering:  # Azure opens with a chunk that has no choices, only content-filter results
            prompt_filters = [{"prompt_index": 0, "content_filter_results": _filter_results()}]
            self._event(
                {
                    "id": "",
                    "object": "",
                    "created": 0,
                    "model": "",
                    "choices": [],
                    "prompt_filter_results": prompt_filters if filtering else [],
                }
            )
        self._event(chunk({"role": "assistant", "content": "", "refusal": None}, filters={}))
        failing = mode in ("drop", "stall", "malformed")
        for index, token in enumerate(tokens):
            if failing and index == behaviour.fail_after_tokens:
                break
            if index:
                self._sleep_ms(behaviour.token_ms)
            self._event(chunk({"content": token}))
            timing.tokens.append(self.app.clock())
        if failing:
            self._fail_mid_stream(behaviour, mode)
            return
        self._event(chunk({}, finish_reason, _filter_results(filtered="violence") if filtering else None))
        if include_usage:
            usage = chunk({})
            usage["choices"] = []
            usage["usage"] = _usage(timing.messages, len(tokens))
            self._event(usage)
        self.app.count("completed")  # before the last write: a client that has the whole body sees the count
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")  # the last chunk of the chunked body

    def _fail_mid_stream(self, behaviour: Behaviour, mode: str) -> None:
        """drop and stall end the connection mid-body; malformed sends a broken chunk and ends the body."""
        if mode == "malformed":
            self._sleep_ms(behaviour.token_ms)
            self._write_chunk(b'data: {"id": "chatcmpl-broken", "choices": [{"delta": {"content": "oo\n\n')
            self._write_chunk(b"data: [DONE]\n\n")
            self._write_chunk(b"")
            return
        if mode == "stall":
            self._hang(behaviour)
        raise _Dropped

    def _complete(
        self,
        behaviour: Behaviour,
        mode: str,
        tokens: list[str],
        finish_reason: str,
        model: str,
        message_count: int,
    ) -> None:
        if mode == "hang_after_headers":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.flush()
            self._hang(behaviour)
            raise _Dropped
        self._sleep_ms(behaviour.first_token_ms + behaviour.token_ms * max(len(tokens) - 1, 0))
        if mode in ("drop", "stall"):
            if mode == "stall":
                self._hang(behaviour)
            raise _Dropped
        if mode == "malformed":
            self._send_raw(200, b'{"id": "chatcmpl-broken", "choices": [', "application/json")
            return
        body = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_local",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(tokens), "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": _usage(message_count, len(tokens)),
        }
        self.app.count("completed")
        self._send_json(200, body)

    # low level
    def _bearer(self) -> str | None:
        authorization = self.headers.get("Authorization", "")
        return authorization[7:] if authorization.startswith("Bearer ") else None

    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else {}

    def _sleep_ms(self, milliseconds: float) -> None:
        if milliseconds > 0 and self.app.pause(milliseconds / 1000):
            raise _Dropped

    def _hang(self, behaviour: Behaviour) -> None:
        self.app.stopping.wait(behaviour.max_hang_s)

    def _event(self, payload: dict[str, Any]) -> None:
        self._write_chunk(b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n")

    def _write_chunk(self, data: bytes) -> None:
        # One write per chunk (size line, data, CRLF) so a token is one TCP segment.
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _send_raw(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(payload, ensure_ascii=False).encode(), "application/json", headers)

    def _send_error(
        self, status: int, message: str, code: str, headers: dict[str, str] | None = None
    ) -> None:
        error_type = (
            "requests" if status == 429 else "server_error" if status >= 500 else "invalid_request_error"
        )
        payload = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
        self._send_json(status, payload, headers)


def _filter_results(filtered: str | None = None) -> dict[str, dict[str, Any]]:
    """Azure's content_filter_results: every category safe, or `filtered` caught at medium severity."""
    return {
        name: {"filtered": True, "severity": "medium"} if name == filtered else dict(_SAFE)
        for name in _FILTER_CATEGORIES
    }


def _usage(message_count: int, completion_tokens: int) -> dict[str, int]:
    prompt_tokens = 10 * message_count  # a stand-in: the fake does not count prompt tokens
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kimiyi_local.llm_server", description="A local OpenAI-compatible LLM server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--first-token-ms", type=float, default=Behaviour.first_token_ms)
    parser.add_argument("--token-ms", type=float, default=Behaviour.token_ms)
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="ok",
        metavar="MODE",
        help=f"ok or a failure: {', '.join(MODES[1:])} (see the module's docstring); drop, stall, "
        "malformed, content_filter and length act after --fail-after-tokens tokens (default ok)",
    )
    parser.add_argument("--reply", help="a fixed reply (default: built from the last user message)")
    parser.add_argument(
        "--fail-after-tokens",
        type=int,
        default=Behaviour.fail_after_tokens,
        help="tokens sent before drop, stall, malformed, content_filter and length end the reply (default 3)",
    )
    parser.add_argument("--max-hang-s", type=float, default=Behaviour.max_hang_s)
    parser.add_argument("--api-key", help="require this key (default: accept any)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    server = LocalLLMServer(
        host=args.host,
        port=args.port,
        mode=args.mode,
        first_token_ms=args.first_token_ms,
        token_ms=args.token_ms,
        reply=args.reply,
        fail_after_tokens=args.fail_after_tokens,
        max_hang_s=args.max_hang_s,
        api_key=args.api_key,
        verbose=args.verbose,
    )
    url = server.start()
    print(f"local LLM server on {url}  (OpenAI base URL {url}/v1, Azure endpoint {url})", flush=True)
    print(f'change behaviour: curl -X POST {url}/_control -d \'{{"mode": "rate_limit"}}\'', flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
