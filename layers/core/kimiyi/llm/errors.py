"""Errors of the LLM package."""


class LLMConfigError(ValueError):
    """A provider setting is missing or malformed; the message names the environment variable."""


class MalformedChunkError(ValueError):
    """A streamed chunk did not have the chat.completion.chunk shape."""


class ReplyCutShort(RuntimeError):
    """The provider ended the reply before it was finished: a content filter, or the token limit."""

    def __init__(self, finish_reason: str) -> None:
        super().__init__(f"the reply ended with finish_reason {finish_reason!r}")
        self.finish_reason = finish_reason
