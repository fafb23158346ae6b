"""A loopback HTTP server that answers every request with a recorded response, byte for byte, so the
real chat-completions client reads recorded streams over a real socket.

- `name.sse`: a streamed body: sent after 200 and SSE headers, one HTTP chunk per event.
- `name.http`: a whole HTTP/1.1 response (status line, headers, a blank line, the body) as the provider
  sends it; written with plain newlines, sent with CRLF in the head and an exact Content-Length.
Connections are kept alive, as the providers keep them.

Optionally the server speaks TLS (`tls`: a server-side SSLContext; base_url is then https://localhost),
and holds a streamed response open after its first `hold_after` events until the client leaves
(`client_left` is set then), as a provider does between tokens.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from pathlib import Path

STREAMS = Path(__file__).resolve().parent / "data" / "llm_streams"


def recorded_response(name: str) -> bytes:
    """The bytes the server writes for one request."""
    return b"".join(recorded_parts(name))


def recorded_parts(name: str) -> list[bytes]:
    """The bytes for one request in the pieces they go out in: the whole response for `.http`; the head,
    one HTTP chunk per event and the terminating chunk for `.sse`."""
    raw = (STREAMS / name).read_bytes()
    if name.endswith(".http"):
        head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
        lines = [line for line in head.split(b"\n") if not line.lower().startswith(b"content-length:")]
        lines.append(b"Content-Length: %d" % len(body))
        return [b"\r\n".join(lines) + b"\r\n\r\n" + body]
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n"
    events = [event + b"\n\n" for event in raw.replace(b"\r\n", b"\n").split(b"\n\n") if event.strip()]
    if b"\r\n" in raw:  # a recording with CRLF line ends keeps them
        events = [event.replace(b"\n", b"\r\n") for event in events]
    return [head, *(b"%x\r\n%s\r\n" % (len(event), event) for event in events), b"0\r\n\r\n"]


class ReplayServer:
    """`with ReplayServer("azure_ok.sse") as server:` then point a provider at server.base_url."""

    def __init__(
        self, recording: str, *, tls: ssl.SSLContext | None = None, hold_after: int | None = None
    ) -> None:
        self.recording = recording
        self.tls = tls
        self.hold_after = hold_after
        self.requests = 0
        self.connections = 0
        self.handshake_failed = threading.Event()  # a TLS client refused (or broke off) the handshake
        self.client_left = threading.Event()  # the client closed a connection whose response was held
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []

    @property
    def base_url(self) -> str:
        port = self._listener.getsockname()[1]
        return f"https://localhost:{port}" if self.tls else f"http://127.0.0.1:{port}"

    def __enter__(self) -> ReplayServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (closing alone does not)
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)  # not SSLSocket's: no TLS close under a reader
        for thread in self._threads:
            thread.join(5)

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self._sockets.append(connection)
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, connection: socket.socket) -> None:
        if self.tls is not None:
            try:
                connection = self.tls.wrap_socket(connection, server_side=True)
            except OSError:
                self.handshake_failed.set()
                connection.close()
                return
            self._sockets.append(connection)
        reader = connection.makefile("rb")
        with connection, reader:
            while True:
                try:
                    length = _read_request_head(reader)
                except OSError:
                    return
                if length is None:
                    return
                reader.read(length)
                self.requests += 1
                parts = recorded_parts(self.recording)
                try:
                    if self.hold_after is None:
                        connection.sendall(b"".join(parts))
                        continue
                    connection.sendall(b"".join(parts[: 1 + self.hold_after]))
                    while reader.read1(4096):  # until the client closes the connection
                        pass
                except OSError:
                    pass
                self.client_left.set()
                return


def _read_request_head(reader) -> int | None:  # type: ignore[no-untyped-def]
    """The request's Content-Length, after its head; None at the end of the connection."""
    length = 0
    line = reader.readline()
    if not line:
        return None
    while True:
        line = reader.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            return length
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
