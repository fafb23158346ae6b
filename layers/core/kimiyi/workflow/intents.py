"""Built-in intents (yes, no, repeat, goodbye, human) matched with no LLM; word lists live in intents.json."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .text import Lexicon, Phrase, Unit, counts_at, occurrences, phrase_units, starts_at, tokenize

_DATA = json.loads(Path(__file__).with_name("intents.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Intent:
    name: str
    # Phrases indexed by their first unit: a turn looks up only what could start at each position.
    phrases: Mapping[str, tuple[Phrase, ...]]
    excludes: Mapping[str, tuple[tuple[str, ...], ...]]
    yields_to_contrast: bool


def _build_lexicon(raw: dict) -> tuple[Lexicon, tuple[tuple[str, ...], ...]]:
    def units(words: list[str]) -> frozenset[str]:
        return frozenset(unit for word in words for unit in phrase_units(word))

    lexicon = Lexicon(
        negators=units(raw["negators"]),
        modals=units(raw["modals"]),
        fillers=units(raw["fillers"]),
        particles=units(raw["particles"]),
    )
    contrast = tuple(phrase_units(word) for word in raw["contrast"])
    return lexicon, contrast


def _index(items: list) -> dict[str, tuple]:
    index: dict[str, list] = {}
    for item in dict.fromkeys(items):  # de-duplicated across languages, order kept
        units = item.units if isinstance(item, Phrase) else item
        index.setdefault(units[0], []).append(item)
    return {first: tuple(group) for first, group in index.items()}


def _build_intent(name: str, raw: dict) -> Intent:
    phrases: list[Phrase] = []
    excludes: list[tuple[str, ...]] = []
    for lists in raw.values():
        if not isinstance(lists, dict):
            continue  # a flag such as yieldsToContrast, not a language
        phrases += [Phrase(phrase_units(word)) for word in lists.get("anywhere", [])]
        phrases += [Phrase(phrase_units(word), leading=True) for word in lists.get("leading", [])]
        excludes += [phrase_units(word) for word in lists.get("exclude", [])]
    return Intent(name, _index(phrases), _index(excludes), bool(raw.get("yieldsToContrast")))


LEXICON, _CONTRAST = _build_lexicon(_DATA["lexicon"])
INTENTS: dict[str, Intent] = {name: _build_intent(name, raw) for name, raw in _DATA["intents"].items()}
INTENT_NAMES: tuple[str, ...] = tuple(INTENTS)


def matches_intent(name: str, utterance: str | tuple[Unit, ...]) -> bool:
    """Whether the utterance expresses a built-in intent. Raises KeyError for an unknown intent name."""
    intent = INTENTS[name]
    units = tokenize(utterance) if isinstance(utterance, str) else utterance
    blocked = frozenset(
        index
        for start, unit in enumerate(units)
        for exclude in intent.excludes.get(unit.text, ())
        if starts_at(units, start, exclude)
        for index in range(start, start + len(exclude))
    )
    for start, unit in enumerate(units):
        for phrase in intent.phrases.get(unit.text, ()):
            if (
                starts_at(units, start, phrase.units)
                and counts_at(units, start, phrase, LEXICON, blocked)
                and not (intent.yields_to_contrast and _contrast_after(units, start))
            ):
                return True
    return False


def _contrast_after(units: tuple[Unit, ...], start: int) -> bool:
    """ "Okay, but can I move it?" is not a yes: a contrast word after the match takes it back."""
    return any(begin > start for word in _CONTRAST for begin in occurrences(units, word))
