"""The parsed workflow's parts: nodes, edges, menu options and per-language text (all immutable)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .conditions import Condition
from .langtags import normalize_tag, same_written_language

NODE_TYPES = ("conversation", "static", "menu", "transfer", "end")
ANY_LANGUAGE = ""  # the language key of a plain string: it serves every language


@dataclass(frozen=True)
class LocalizedText:
    """A plain string (any language) or one text per language, e.g. {"en-US": …, "zh-HK": …}."""

    texts: tuple[tuple[str, str], ...]  # (language tag or ANY_LANGUAGE, text), in the payload's order

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(language for language, _ in self.texts if language != ANY_LANGUAGE)

    def resolve(self, language: str | None, default_language: str) -> tuple[str, str]:
        """(text, language it is written in) best suited to the caller's language.

        A plain string is taken to be written in the workflow's default language. Otherwise: the
        exact tag; the same written language ("es-MX" for "es-US"; Cantonese never stands in for
        Mandarin); then the same for the default language; then the first text. The returned
        language lets the caller notice a fallback (and, say, have the LLM translate the line).
        """
        if self.texts[0][0] == ANY_LANGUAGE:
            return self.texts[0][1], default_language
        by_language = dict(self.texts)
        wanted = (normalize_tag(language) if language else None) or default_language
        for candidate in (wanted, default_language):
            if candidate in by_language:
                return by_language[candidate], candidate
            for tag, text in self.texts:
                if same_written_language(candidate, tag):
                    return text, tag
        tag, text = self.texts[0]
        return text, tag

    def text_for(self, language: str | None, default_language: str) -> str:
        return self.resolve(language, default_language)[0]

    def all_texts(self) -> tuple[str, ...]:
        return tuple(text for _, text in self.texts)

    def to_json(self) -> str | dict[str, str]:
        if len(self.texts) == 1 and self.texts[0][0] == ANY_LANGUAGE:
            return self.texts[0][1]
        return dict(self.texts)


@dataclass(frozen=True)
class MenuOption:
    digit: str
    label: str | None = None


@dataclass(frozen=True)
class Node:
    id: str
    type: str
    prompt: str | None = None  # conversation: instructions for the LLM at this step
    text: LocalizedText | None = None  # what is said verbatim: static text, menu prompt, transfer/end line
    scripted_line: LocalizedText | None = None  # conversation: the line when no LLM answers in time
    options: tuple[MenuOption, ...] = ()  # menu
    phone_number: str | None = None  # transfer, E.164
    send_digits: str | None = None  # any node: DTMF played after its line (an extension, an IVR menu)
    label: str | None = field(default=None, compare=False)  # for people and logs only

    def templates(self) -> tuple[str, ...]:
        """Every text of this node that may hold {{variables}}."""
        texts = [self.prompt] if self.prompt else []
        for localized in (self.text, self.scripted_line):
            if localized:
                texts.extend(localized.all_texts())
        return tuple(texts)

    def to_json(self, *, is_start: bool) -> dict[str, Any]:
        data: dict[str, Any] = {"sendDigits": self.send_digits} if self.send_digits else {}
        if self.type == "conversation":
            data["prompt"] = self.prompt
            if self.scripted_line:
                data["scriptedLine"] = self.scripted_line.to_json()
        elif self.type == "menu":
            data["prompt"] = self.text.to_json() if self.text else None
            data["options"] = [_option_json(option) for option in self.options]
        else:
            if self.text:
                data["text"] = self.text.to_json()
            if self.phone_number:
                data["phoneNumber"] = self.phone_number
        if is_start:
            data["isStart"] = True
        return {"id": self.id, "type": self.type, "data": data}


def _option_json(option: MenuOption) -> dict[str, str]:
    return {"digit": option.digit, "label": option.label} if option.label else {"digit": option.digit}


@dataclass(frozen=True)
class Edge:
    id: str
    source: str
    target: str
    condition: Condition
    label: str | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "target": self.target,
            "data": {"condition": self.condition.to_json()},
        }
