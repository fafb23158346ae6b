"""Providers speaking the OpenAI chat-completions wire format (OpenAI, Azure OpenAI, compatible servers)
through the lean client in http_stream.py.

One endpoint (and its keep-alive pool) per provider, created once and reused, so turns share a warm
connection (no TCP + TLS handshake per turn). No retries of the client's own: the failover chain decides
what happens after a failure, and a retry with back-off on the hot path would cost more than moving to
the next provider.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import quote, urlsplit

from .azure_endpoint import AzureTarget
from .base import DEFAULT_OPENAI_MODEL, OPENAI_BASE_URL, Message, ProviderTimeouts, ScriptContext
from .http_stream import ChatStream, Endpoint


def _host_of(url: str) -> str:
    """host[:port] only: a base URL may carry user:password@, which must not reach describe()."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


class OpenAIChatProvider:
    """Any chat-completions endpoint: the URL of its /chat/completions and the headers that authorise it."""

    def __init__(
        self,
        name: str,
        url: str,
        headers: Mapping[str, str],
        model: str,
        host: str,
        timeouts: ProviderTimeouts | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self.host = host
        self.endpoint = Endpoint(url, headers, timeouts)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        context: ScriptContext | None = None,
    ) -> ChatStream:
        return self.endpoint.stream(
            {
                "model": self.model,
                "messages": list(messages),
                "max_tokens": max_tokens,
                "temperature": temperature,
                "stream": True,
            }
        )

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
        url = (
            f"{target.endpoint}/openai/deployments/{quote(target.deployment)}/chat/completions"
            f"?api-version={quote(target.api_version)}"
        )
        # Azure routes by the deployment in the URL; `model` is sent too and ignored there.
        super().__init__(name, url, {"api-key": api_key}, target.deployment, target.host, timeouts)


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
        # Many self-hosted OpenAI-compatible servers need no key: then no Authorization header at all.
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        url = f"{base_url.rstrip('/')}/chat/completions"
        super().__init__(name, url, headers, model, _host_of(base_url), timeouts)


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
