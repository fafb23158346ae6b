"""One asyncio event loop in a daemon thread, shared by every openai-backed provider in the process.

The providers use the `openai` async client on this loop, called from ordinary threads. Why async:
the sync client closes a streamed response at `data: [DONE]` without reading the rest of the body, so
its HTTP/1.1 connection is never reused (a new TCP + TLS handshake every turn); the async client
drains it and keeps the connection. Cancelling a task also ends a request at once, wherever it waits
(connecting, waiting for headers, between tokens), which is how an abandoned attempt is cut off.
"""

from __future__ import annotations

import asyncio
import threading

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def shared_loop() -> asyncio.AbstractEventLoop:
    """The running background loop, started on first use."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            loop.call_soon(ready.set)
            threading.Thread(target=loop.run_forever, name="kimiyi-llm-loop", daemon=True).start()
            ready.wait()
            _loop = loop
        return _loop
