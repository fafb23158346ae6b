"""A lean streaming chat-completions client: the standard library's http.client, a small keep-alive pool,
and a server-sent-events reader. It replaces the `openai` SDK on the hot path, whose import (with
pydantic, httpx and anyio) cost about half a second of every cold start.

What it keeps from the SDK-based providers, and why:
- Connection reuse across turns: a stream is read to its end (the last chunk after `data: [DONE]`, or
  at most DRAIN_S more) and its connection goes back to the endpoint's pool. An idle connection that the
  server has closed meanwhile is noticed before use (it reads as ready) and dropped; one that fails as
  the request goes out is retried once on a new connection (nothing reached the model).
- Cancellation wherever the request waits: `close()`, from any thread, shuts the socket down, which
  wakes a thread blocked in connect() (Linux), the TLS handshake, the wait for the headers or the wait
  between tokens; the reader then ends its iteration quietly. Only the DNS look-up cannot be cut short;
  the failover chain has moved on by then anyway.
- The errors the failover chain classifies: RateLimitError (429, with Retry-After), APIStatusError,
  APITimeoutError (connect or read timeout), APIConnectionError, ReplyCutShort (finish_reason
  content_filter or length), MalformedChunkError and json's JSONDecodeError for chunks that are not
  chat.completion.chunk JSON.
- No retries of its own and no proxy support (the SDK read HTTPS_PROXY; Lambda has none).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from .. import __version__
from .base import ProviderTimeouts
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    MalformedChunkError,
    RateLimitError,
    ReplyCutShort,
    StreamErrorEvent,
)

# Finish reasons that mean the reply stopped before it was done: Azure's content filter (it sends the text
# up to the filtered part, then this), and the token limit. Either is a failure mid-reply, not an ending.
CUT_SHORT = frozenset({"content_filter", "length"})
DRAIN_S = 0.2  # after the reply: how long the rest of the body (the chunked terminator) may take
IDLE_S = 50.0  # an idle connection older than this is not reused (a NAT or load balancer may have dropped it)
MAX_IDLE = 4  # idle connections kept per endpoint
ERROR_BODY_LIMIT = 64 * 1024
USER_AGENT = f"kimiyi-voice/{__version__}"
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)

_context_lock = threading.Lock()
_context: ssl.SSLContext | None = None


def tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process, made on first use (loading CAs takes ~10 ms)."""
    global _context
    with _context_lock:
        if _context is None:
            _context = verifying_context()
        return _context


def verifying_context(cafile: str | None = None) -> ssl.SSLContext:
    """A context that verifies the certificate chain and the hostname: against `cafile` when given, else
    certifi's bundle when present (as the SDK used), else the system's.

    `cafile` is a seam for tests only (tests/integration/test_llm_tls.py trusts a throwaway CA by putting
    `lambda: verifying_context(its_ca)` in place of tls_context); production always calls it without one.
    """
    if cafile is None:
        try:
            import certifi

            cafile = certifi.where()
        except ImportError:  # pragma: no cover - certifi ships in the layer (twilio's requests)
            pass
    return ssl.create_default_context(cafile=cafile)


def retry_after_s(headers: Mapping[str, str] | http.client.HTTPMessage) -> float | None:
    """retry-after-ms (Azure, OpenAI) or Retry-After in seconds; None when absent or an HTTP date."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw:
            try:
                value = float(raw) * scale
            except ValueError:
                continue
            if value >= 0 and value == value:
                return value
    return None


def _error_message(body: bytes) -> str:
    try:
        payload = json.loads(body)
    except ValueError:
        return ""
    error = payload.get("error") if isinstance(payload, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message[:300] if isinstance(message, str) else ""


def status_error(status: int, headers: http.client.HTTPMessage, body: bytes) -> APIStatusError:
    cls = RateLimitError if status == 429 else APIStatusError
    return cls(status, _error_message(body), retry_after_s(headers))


class Endpoint:
    """One chat-completions URL, its headers and its pool of keep-alive connections."""

    def __init__(
        self, url: str, headers: Mapping[str, str], timeouts: ProviderTimeouts | None = None
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.tls = parts.scheme == "https"
        self.hostname = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeouts = timeouts or ProviderTimeouts()
        self.headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
            "User-Agent": USER_AGENT,
            **headers,
        }
        self._idle: list[tuple[http.client.HTTPConnection, float]] = []
        self._lock = threading.Lock()
        self.connections_made = 0  # for tests and figures

    def stream(self, body: Mapping[str, Any]) -> ChatStream:
        return ChatStream(self, json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())

    # the pool
    def take(self) -> http.client.HTTPConnection | None:
        """The most recently used idle connection that still looks alive, or None."""
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._idle:
                    return None
                connection, since = self._idle.pop()
            if now - since < IDLE_S and _looks_alive(connection):
                return connection
            connection.close()

    def give_back(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < MAX_IDLE:
                self._idle.append((connection, time.monotonic()))
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection, _ in idle:
            connection.close()


def _looks_alive(connection: http.client.HTTPConnection) -> bool:
    """An idle keep-alive socket has nothing to read; readable means closed by the peer (or garbage)."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


class _Cancelled(Exception):
    """close() was called: the stream ends quietly."""


class ChatStream:
    """Text deltas of one streamed chat completion, as a blocking iterator.

    The request goes out on the first next(). close() may be called from any thread: it ends the
    request wherever it waits and makes the reading thread's next() stop.
    """

    def __init__(self, endpoint: Endpoint, body: bytes) -> None:
        self._endpoint = endpoint
        self._body = body
        self._lock = threading.Lock()
        self._closed = False
        self._sock: socket.socket | None = None  # the socket close() shuts down while it is ours
        self._connection: http.client.HTTPConnection | None = None
        self._events: Iterator[str] | None = None
        self._done = False

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> str:
        if self._done:
            raise StopIteration
        if self._is_closed():  # not another delta from what was already read and buffered
            self._done = True
            self._discard()
            raise StopIteration
        try:
            if self._events is None:
                self._events = self._deltas()
            return next(self._events)
        except StopIteration:
            self._done = True
            raise
        except _Cancelled:
            self._done = True
            self._discard()
            raise StopIteration from None
        except Exception as error:
            self._done = True
            self._discard()
            if self._is_closed():
                raise StopIteration from None
            raise _translated(error, self._endpoint.timeouts) from error

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sock, self._sock = self._sock, None
        if sock is not None:
            _shutdown(sock)

    # internals
    def _is_closed(self) -> bool:
        with self._lock:
            return self._closed

    def _attach(self, sock: socket.socket | None) -> None:
        with self._lock:
            if self._closed:
                raise _Cancelled
            self._sock = sock

    def _discard(self) -> None:
        connection, self._connection = self._connection, None
        with self._lock:
            self._sock = None
        if connection is not None:
            connection.close()

    def _release(self) -> None:
        """The response is whole: the connection goes back to the pool (unless close() got to it)."""
        connection, self._connection = self._connection, None
        with self._lock:
            ours = self._sock is not None and not self._closed
            self._sock = None
        if connection is None:
            return
        if ours and connection.sock is not None:
            connection.sock.settimeout(self._endpoint.timeouts.read_s)
            self._endpoint.give_back(connection)
        else:
            connection.close()

    def _connect(self) -> http.client.HTTPConnection:
        endpoint, timeouts = self._endpoint, self._endpoint.timeouts
        connection = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=timeouts.read_s)
        self._connection = connection
        error: OSError | None = None
        for family, kind, proto, _, address in socket.getaddrinfo(
            endpoint.hostname, endpoint.port, type=socket.SOCK_STREAM
        ):
            sock = socket.socket(family, kind, proto)
            try:
                self._attach(sock)
                sock.settimeout(timeouts.connect_s)
                sock.connect(address)
                break
            except _Cancelled:
                sock.close()
                raise
            except OSError as failed:
                error = failed
                sock.close()
                if self._is_closed():
                    raise _Cancelled from None
        else:
            raise error or OSError(f"no address for {endpoint.hostname}")
        # The connection owns the socket from here, so the _discard() that follows any failure below (a
        # refused certificate, a handshake cut short) closes it; otherwise the error's traceback held it
        # open for as long as anything kept the error, and then left it to the garbage collector.
        connection.sock = sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if endpoint.tls:
            sock = connection.sock = tls_context().wrap_socket(
                sock, server_hostname=endpoint.hostname, do_handshake_on_connect=False
            )
            self._attach(sock)
            sock.do_handshake()
        sock.settimeout(timeouts.read_s)
        self._endpoint.connections_made += 1
        return connection

    def _send(self) -> http.client.HTTPResponse:
        endpoint = self._endpoint
        reused = endpoint.take()
        if reused is not None:
            self._connection = reused
            self._attach(reused.sock)
            try:
                return self._request(reused)
            except _STALE:
                if self._is_closed():
                    raise _Cancelled from None
                reused.close()  # the server closed it while idle: nothing reached the model
        return self._request(self._connect())

    def _request(self, connection: http.client.HTTPConnection) -> http.client.HTTPResponse:
        connection.request("POST", self._endpoint.path, body=self._body, headers=self._endpoint.headers)
        return connection.getresponse()

    def _deltas(self) -> Iterator[str]:
        response = self._send()
        if response.status != 200:
            body = response.read(ERROR_BODY_LIMIT)
            error = status_error(response.status, response.headers, body)
            if response.isclosed() and not response.will_close:
                self._release()
            raise error
        finish_reason: str | None = None
        for data in sse_data(response):
            if data == "[DONE]":
                self._drain(response)
                break
            chunk = json.loads(data)
            content, reason = parse_chunk(chunk)
            if content:
                yield content
            if reason is not None:
                finish_reason = reason
            if reason in CUT_SHORT:
                self._drain(response, until_done=True)
                raise ReplyCutShort(reason)
        else:
            if finish_reason is None:
                raise APIConnectionError("the stream ended before the reply did (no [DONE])")
            self._discard()  # a body that ended by closing: the connection is done
            return

    def _drain(self, response: http.client.HTTPResponse, until_done: bool = False) -> None:
        """Reads what is left of the body within DRAIN_S (the events up to [DONE] when asked, then the
        chunked terminator) so the connection can be reused; otherwise drops it."""
        sock = self._connection.sock if self._connection is not None else None
        try:
            if sock is not None:
                sock.settimeout(DRAIN_S)
            if until_done:
                for data in sse_data(response):
                    if data == "[DONE]":
                        break
            if response.will_close:
                raise OSError("the server closes this connection")
            response.read()
        except (OSError, http.client.HTTPException, ValueError):
            self._discard()
            return
        self._release()


class LineReader(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


def sse_data(response: LineReader) -> Iterator[str]:
    """The data of each server-sent event (data lines joined with newlines); comments and other fields
    ignored. Ends at the end of the body."""
    lines: list[str] = []
    while True:
        raw = response.readline(1 << 20)
        if not raw:
            if lines:
                yield "\n".join(lines)
            return
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if lines:
                yield "\n".join(lines)
                lines = []
            continue
        if line.startswith("data:"):
            value = line[5:]
            lines.append(value[1:] if value.startswith(" ") else value)


def parse_chunk(chunk: Any) -> tuple[str | None, str | None]:
    """(delta content, finish_reason) of one chat.completion.chunk.

    An empty `choices` list is normal: Azure's first chunk (prompt_filter_results) and the usage chunk
    (stream_options.include_usage). A choice without a delta is Azure's asynchronous-filter annotation.
    """
    if not isinstance(chunk, dict):
        raise MalformedChunkError(f"a chunk that is not an object: {str(chunk)[:120]}")
    choices = chunk.get("choices")
    if choices is None and isinstance(chunk.get("error"), dict):
        message = chunk["error"].get("message")
        raise StreamErrorEvent(message[:300] if isinstance(message, str) else "an error event")
    if not isinstance(choices, list):
        raise MalformedChunkError(f"a chunk without a choices list: {str(chunk)[:120]}")
    if not choices:
        return None, None
    choice = choices[0]
    if not isinstance(choice, dict):
        raise MalformedChunkError(f"a choice that is not an object: {str(chunk)[:120]}")
    delta = choice.get("delta")
    content = delta.get("content") if isinstance(delta, dict) else None
    if content is not None and not isinstance(content, str):
        raise MalformedChunkError(f"a chunk whose delta content is not text: {str(chunk)[:120]}")
    reason = choice.get("finish_reason")
    return content, reason if isinstance(reason, str) else None


def _shutdown(sock: socket.socket) -> None:
    # socket.socket's own shutdown: SSLSocket.shutdown would drop its TLS state under the reader.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _translated(error: BaseException, timeouts: ProviderTimeouts) -> BaseException:
    """Transport errors as the chain classifies them; everything else as it is."""
    if isinstance(error, TimeoutError):  # socket.timeout, ssl handshake timeouts
        return APITimeoutError(
            f"no bytes within the timeout ({timeouts.connect_s:g} s / {timeouts.read_s:g} s)"
        )
    if isinstance(error, (OSError, http.client.HTTPException)) and not isinstance(error, APIConnectionError):
        return APIConnectionError(f"{type(error).__name__}: {error}"[:300])
    return error
