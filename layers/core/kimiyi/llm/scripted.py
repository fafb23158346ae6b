"""The scripted responder: speaks the node's scripted line, or a holding phrase, in the caller's language.

It needs no network and never fails, so it is the offline default and always the chain's last resort.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from .base import Message, ScriptContext
from .tokens import split_into_tokens

# Cantonese is written zh-HK/zh-MO as well as yue-*: it must never fall back to a Mandarin (zh-CN) line.
_CANTONESE = {"zh-hk", "zh-mo", "zh-yue"}


def _language_family(code: str) -> str:
    code = code.lower().replace("_", "-")
    if code in _CANTONESE or code.startswith("yue"):
        return "yue"
    return code.split("-", 1)[0]


def line_for_language(line: str | Mapping[str, str] | None, language: str) -> str | None:
    """The line in `language`: an exact code, then any code of the same language (es-MX for es-ES)."""
    if line is None:
        return None
    if isinstance(line, str):
        return line.strip() or None
    wanted = language.lower().replace("_", "-")
    by_code = {code.lower().replace("_", "-"): text for code, text in line.items() if text and text.strip()}
    if wanted in by_code:
        return by_code[wanted].strip()
    family = _language_family(wanted)
    for code, text in by_code.items():
        if _language_family(code) == family:
            return text.strip()
    return None


class _ListStream:
    """Deltas from a prepared list; closing it just stops the iteration."""

    def __init__(self, deltas: list[str]) -> None:
        self._deltas = iter(deltas)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        return next(self._deltas)

    def close(self) -> None:
        self._deltas = iter(())


class ScriptedProvider:
    name = "scripted"

    def text_for(self, context: ScriptContext) -> str:
        return line_for_language(context.scripted_line, context.language) or context.holding_phrase_text()

    def holding_phrase(self, context: ScriptContext) -> _ListStream:
        """Only the holding phrase, word by word (what the chain says after a mid-stream drop)."""
        return _ListStream(split_into_tokens(context.holding_phrase_text()))

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 0,
        temperature: float = 0.0,
        context: ScriptContext | None = None,
    ) -> _ListStream:
        return _ListStream(split_into_tokens(self.text_for(context or ScriptContext())))

    def describe(self) -> dict[str, str]:
        return {"name": self.name, "model": "scripted", "host": "local"}

    def __repr__(self) -> str:
        return "ScriptedProvider()"
