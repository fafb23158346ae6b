"""Providers speaking the OpenAI chat-completions API through the official `openai` client.

One client per provider, created once and reused, so calls share its connection pool (no TCP + TLS
handshake per turn). The clients are the async ones, run on a shared background loop (see
event_loop.py for why); callers see a plain blocking iterator. The client's own retries are off: the
failover chain decides what happens after a failure, and a retry with back-off on the hot path would
cost more than moving to the next provider.

Importing this module imports `openai` (about half a second); the package imports it only when a
provider is configured, so the scripted-only offline default stays light.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from typing import Any
from urllib.parse import urlsplit

import openai
from openai.types.chat import ChatCompletionChunk

from .azure_endpoint import AzureTarget
from .base import DEFAULT_OPENAI_MODEL, OPENAI_BASE_URL, Message, ProviderTimeouts, ScriptContext
from .errors import MalformedChunkError, ReplyCutShort
from .event_loop import shared_loop

# The client refuses to start without a key; many self-hosted OpenAI-compatible servers need none.
NO_KEY_PLACEHOLDER = "not-needed"

_END = ("end", None)
# Finish reasons that mean the reply stopped before it was done: Azure's content filter (it sends the text
# up to the filtered part, then this), and the token limit. Either is a failure mid-reply, not an ending.
CUT_SHORT = frozenset({"content_filter", "length"})


def _host_of(url: str) -> str:
    """host[:port] only: a base URL may carry user:password@, which must not reach describe()."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def _timeout(timeouts: ProviderTimeouts | None) -> openai.Timeout:
    limits = timeouts or ProviderTimeouts()
    return openai.Timeout(limits.read_s, connect=limits.connect_s, read=limits.read_s, write=limits.read_s)


class ChatDeltaStream:
    """Text deltas of one streamed chat completion, as a blocking iterator.

    The request starts on the first next(). close() may be called from any thread: it cancels the
    request wherever it is and wakes a thread blocked in next().
    """

    def __init__(self, open_stream: Callable[[], Awaitable[openai.AsyncStream[Any]]]) -> None:
        self._open_stream = open_stream
        self._events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._task: Future[None] | None = None
        self._closed = False
        self._done = False

    def __iter__(self) -> ChatDeltaStream:
        return self

    def __next__(self) -> str:
        if self._task is None and not self._closed:
            self._task = asyncio.run_coroutine_threadsafe(self._pump(), shared_loop())
            if self._closed:  # close() ran in another thread while the task was being created
                self._task.cancel()
        if self._done:
            raise StopIteration
        kind, value = self._events.get()
        if kind == "delta":
            return value
        self._done = True
        if kind == "error":
            raise value
        raise StopIteration

    def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
        self._events.put(_END)

    async def _pump(self) -> None:
        try:
            stream = await self._open_stream()
            try:
                async for chunk in stream:
                    content = _content_of(chunk)
                    if content:
                        self._events.put(("delta", content))
                    finish_reason = _finish_reason_of(chunk)
                    if finish_reason in CUT_SHORT:
                        raise ReplyCutShort(finish_reason)
            finally:
                await stream.close()  # a no-op after [DONE]; frees the connection after an error or cancel
        except Exception as error:
            self._events.put(("error", error))
        finally:
            self._events.put(_END)


def _content_of(chunk: Any) -> str | None:
    choices = getattr(chunk, "choices", None)
    if not isinstance(choices, list):
        raise MalformedChunkError(f"a chunk without a choices list: {str(chunk)[:120]}")
    if not choices:  # Azure's first chunk (content-filter results) and the usage chunk
        return None
    delta = getattr(choices[0], "delta", None)
    content = getattr(delta, "content", None)  # None in role-only and finish chunks
    if content is not None and not isinstance(content, str):
        raise MalformedChunkError(f"a chunk whose delta content is not text: {str(chunk)[:120]}")
    return content


def _finish_reason_of(chunk: Any) -> str | None:
    choices = getattr(chunk, "choices", None)
    reason = getattr(choices[0], "finish_reason", None) if choices else None
    return reason if isinstance(reason, str) else None


class OpenAIChatProvider:
    """Any chat-completions endpoint reached with an `openai` async client (OpenAI, Azure, compatible)."""

    def __init__(self, name: str, client: openai.AsyncOpenAI, model: str, host: str) -> None:
        self.name = name
        self.model = model
        self.host = host
        self._client = client

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        context: ScriptContext | None = None,
    ) -> ChatDeltaStream:
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
        }

        async def open_stream() -> openai.AsyncStream[Any]:
            # The client's documented way to send a body as it is. chat.completions.create() first runs
            # a type-driven transform over every message: about 0.14 ms a message on the hot path (4 ms
            # for a 30-message call), for messages that are already plain JSON.
            return await self._client.post(
                "/chat/completions",
                body=body,
                cast_to=ChatCompletionChunk,
                stream=True,
                stream_cls=openai.AsyncStream[ChatCompletionChunk],
            )

        return ChatDeltaStream(open_stream)

    def describe(self) -> dict[str, str]:
        return {"name": self.name, "model": self.model, "host": self.host}

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}(name={self.name!r}, model={self.model!r}, host={self.host!r})"


class AzureOpenAIProvider(OpenAIChatProvider):
    def __init__(
        self,
        target: AzureTarget,
        api_key: str,
        *,
        timeouts: ProviderTimeouts | None = None,
        name: str = "azure",
    ) -> None:
        client = openai.AsyncAzureOpenAI(
            azure_endpoint=target.endpoint,
            azure_deployment=target.deployment,
            api_version=target.api_version,
            api_key=api_key,
            max_retries=0,
            timeout=_timeout(timeouts),
        )
        # Azure routes by the deployment in the URL; `model` is sent too and ignored there.
        super().__init__(name, client, target.deployment, target.host)


class OpenAIProvider(OpenAIChatProvider):
    def __init__(
        self,
        api_key: str,
        *,
        model: str = DEFAULT_OPENAI_MODEL,
        base_url: str = OPENAI_BASE_URL,
        timeouts: ProviderTimeouts | None = None,
        name: str = "openai",
    ) -> None:
        client = openai.AsyncOpenAI(
            api_key=api_key or NO_KEY_PLACEHOLDER,
            base_url=base_url,  # always explicit: the client would otherwise read OPENAI_BASE_URL itself
            max_retries=0,
            timeout=_timeout(timeouts),
        )
        super().__init__(name, client, model, _host_of(base_url))


class CompatibleProvider(OpenAIProvider):
    """Any OpenAI-compatible server (vLLM, Ollama, LiteLLM, Groq, …) at a base URL ending in /v1."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "",
        *,
        timeouts: ProviderTimeouts | None = None,
        name: str = "compatible",
    ) -> None:
        super().__init__(api_key, model=model, base_url=base_url, timeouts=timeouts, name=name)
