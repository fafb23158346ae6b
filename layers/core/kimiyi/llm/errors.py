"""Errors of the LLM package.

The HTTP errors keep the names the `openai` client gave them (APIStatusError, RateLimitError,
APITimeoutError, APIConnectionError), so failure details recorded before and after the lean client
read the same.
"""

from __future__ import annotations


class LLMConfigError(ValueError):
    """A provider setting is missing or malformed; the message names the environment variable."""


class MalformedChunkError(ValueError):
    """A streamed chunk did not have the chat.completion.chunk shape."""


class ReplyCutShort(RuntimeError):
    """The provider ended the reply before it was finished: a content filter, or the token limit."""

    def __init__(self, finish_reason: str) -> None:
        super().__init__(f"the reply ended with finish_reason {finish_reason!r}")
        self.finish_reason = finish_reason


class APIError(Exception):
    """A chat-completions request failed at the HTTP level."""


class APIConnectionError(APIError):
    """No answer: the connection could not be made, or it broke before the reply was whole."""


class APITimeoutError(APIConnectionError):
    """Connecting, or a wait for the next bytes, took longer than the provider's timeouts."""


class APIStatusError(APIError):
    """The server answered with an HTTP status other than 200. `message` is the error body's message
    (never the request); `retry_after_s` is the server's Retry-After (retry-after-ms first), if any."""

    def __init__(self, status_code: int, message: str = "", retry_after_s: float | None = None) -> None:
        super().__init__(f"HTTP {status_code}: {message}" if message else f"HTTP {status_code}")
        self.status_code = status_code
        self.message = message
        self.retry_after_s = retry_after_s


class RateLimitError(APIStatusError):
    """HTTP 429."""


class StreamErrorEvent(APIError):
    """The server sent an error object inside a 200 stream (`data: {"error": {...}}`)."""
