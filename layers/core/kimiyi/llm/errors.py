"""Errors of the LLM package."""


class LLMConfigError(ValueError):
    """A provider setting is missing or malformed; the message names the environment variable."""


class MalformedChunkError(ValueError):
    """A streamed chunk did not have the chat.completion.chunk shape."""
