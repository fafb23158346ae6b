"""A loopback HTTP server that answers every request with a recorded response, byte for byte, so the
real chat-completions client reads recorded streams over a real socket.

- `name.sse`: a streamed body: sent after 200 and SSE headers, one HTTP chunk per event.
- `name.http`: a whole HTTP/1.1 response (status line, headers, a blank line, the body) as the provider
  sends it; written with plain newlines, sent with CRLF in the head and an exact Content-Length.
Connections are kept alive, as the providers keep them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

STREAMS = Path(__file__).resolve().parent / "data" / "llm_streams"


def recorded_response(name: str) -> bytes:
    """The bytes the server writes for one request."""
    raw = (STREAMS / name).read_bytes()
    if name.endswith(".http"):
        head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
        lines = [line for line in head.split(b"\n") if not line.lower().startswith(b"content-length:")]
        lines.append(b"Content-Length: %d" % len(body))
        return b"\r\n".join(lines) + b"\r\n\r\n" + body
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n"
    events = [event + b"\n\n" for event in raw.replace(b"\r\n", b"\n").split(b"\n\n") if event.strip()]
    if b"\r\n" in raw:  # a recording with CRLF line ends keeps them
        events = [event.replace(b"\n", b"\r\n") for event in events]
    return head + b"".join(b"%x\r\n%s\r\n" % (len(event), event) for event in events) + b"0\r\n\r\n"


class ReplayServer:
    """`with ReplayServer("azure_ok.sse") as server:` then point a provider at server.base_url."""

    def __init__(self, recording: str) -> None:
        self.recording = recording
        self.requests = 0
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

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
                sock.shutdown(socket.SHUT_RDWR)
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
                try:
                    connection.sendall(recorded_response(self.recording))
                except OSError:
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
