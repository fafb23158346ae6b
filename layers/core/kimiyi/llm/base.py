"""The one streaming interface every LLM provider implements, and the per-call context it receives."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

Message = Mapping[str, Any]  # an OpenAI chat message: {"role": "user", "content": "..."}

DEFAULT_LANGUAGE = "en-US"
DEFAULT_HOLDING_PHRASE = "One moment, please."
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"  # fast and small: a phone turn needs a quick first token
OPENAI_BASE_URL = "https://api.openai.com/v1"

ScriptedLine = str | Mapping[str, str]  # one line, or one line per language code
HoldingPhrase = str | Callable[[str], str]  # a phrase, or language code -> phrase


@dataclass(frozen=True)
class ProviderTimeouts:
    """The HTTP client's limits: connect bounds a dead host; read bounds every wait for bytes, so an
    abandoned request ends by itself. The first-token deadline is the failover chain's, not these.
    """

    connect_s: float = 2.0
    read_s: float = 10.0


@dataclass(frozen=True)
class ScriptContext:
    """What the scripted responder needs to speak for the current node, in the caller's language.

    `holding_phrase` may be a callable taking the language code (the language table's lookup) so
    this package does not depend on the table.
    """

    language: str = DEFAULT_LANGUAGE
    scripted_line: ScriptedLine | None = None
    holding_phrase: HoldingPhrase | None = None

    def holding_phrase_text(self) -> str:
        phrase = self.holding_phrase
        if callable(phrase):
            phrase = phrase(self.language)
        return phrase.strip() if isinstance(phrase, str) and phrase.strip() else DEFAULT_HOLDING_PHRASE


class DeltaStream(Protocol):
    """An iterator of text deltas that can be closed from another thread to abandon the request."""

    def __iter__(self) -> Iterator[str]: ...

    def __next__(self) -> str: ...

    def close(self) -> None: ...


@runtime_checkable
class LLMProvider(Protocol):
    """A chat model that streams text deltas exactly as received (spaces kept, empty deltas dropped).

    `stream` raises on failure (any exception); the failover chain decides what that means.
    """

    name: str

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        context: ScriptContext,
    ) -> DeltaStream: ...

    def describe(self) -> dict[str, str]:
        """name, model and host, for the health endpoint: never a key."""
        ...
