"""Sends a turn's ConversationRelay frames off the LLM's thread.

`post_to_connection` is an HTTPS round trip. The turn hands speakable text to `speak()` and goes straight
back to reading the LLM; a sender thread posts it. While a post is in flight, further text accumulates and
leaves as one frame when the post returns: the first clause goes out at once, and there are as many posts
per turn as round trips fit in the reply, not one per token.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from ..adapters.websocket_sender import ConnectionGone, ConnectionsClient, post
from ..chunking import coalesce
from . import protocol


def send(client: ConnectionsClient, connection_id: str, message: dict[str, Any]) -> None:
    """Posts one frame; raises ConnectionGone when the connection no longer exists."""
    post(client, connection_id, protocol.dumps(message))


class StreamingSender:
    """Coalesces text for one turn and sends it on a background thread."""

    def __init__(
        self,
        client: ConnectionsClient,
        connection_id: str,
        *,
        language: str | None = None,
        on_sent: Callable[[float], None] | None = None,
    ) -> None:
        self._client = client
        self._connection_id = connection_id
        self._language = language
        self._on_sent = on_sent
        self._queue: queue.SimpleQueue[str | dict[str, Any] | None] = queue.SimpleQueue()
        self.frames_sent = 0
        self.first_sent_at: float | None = None
        self.last_sent_at: float | None = None
        self.gone = False
        self.aborted = False
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="relay-sender", daemon=True)
        self._thread.start()

    def speak(self, text: str) -> None:
        if text:
            self._queue.put(text)

    def finish(self, timeout: float = 25.0) -> None:
        """Sends what is left with `last: true` and waits for the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def abort(self, timeout: float = 25.0) -> None:
        """The caller barged in: what has not been posted yet is dropped (Twilio would speak it)."""
        self.aborted = True
        self._queue.put(None)
        self._thread.join(timeout)

    def send_frame(self, message: dict[str, Any]) -> None:
        """A non-text frame (sendDigits) that must leave after the text queued before it."""
        self._queue.put(message)

    def _run(self) -> None:
        finished = False
        while not finished:
            pending = [self._queue.get()]
            while True:  # everything that arrived while the previous post was in flight
                try:
                    pending.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            finished = pending[-1] is None
            if self.gone or self.error or self.aborted:
                continue
            texts: list[str] = []
            for item in pending:
                if isinstance(item, str):
                    texts.append(item)
                elif item is not None:
                    self._post_texts(texts, last=False)
                    texts = []
                    self._send(item)
            self._post_texts(texts, last=finished)

    def _post_texts(self, texts: list[str], *, last: bool) -> None:
        frames = coalesce(t for t in texts if t) or ([""] if last else [])
        for index, frame in enumerate(frames):
            self._send(protocol.text(frame, last=last and index == len(frames) - 1, language=self._language))

    def _send(self, message: dict[str, Any]) -> None:
        try:
            send(self._client, self._connection_id, message)
        except ConnectionGone:
            self.gone = True
            return
        except Exception as error:  # reported by the turn; the sender must never die silently
            self.error = error
            return
        now = time.perf_counter()
        self.frames_sent += 1
        self.last_sent_at = now
        if self.first_sent_at is None:
            self.first_sent_at = now
            if self._on_sent:
                self._on_sent(now)
