"""Caller words in one canonical form, so the same spoken words give the same cache key.

Phone transcripts of one sentence differ in ways that carry no meaning: width ("ＯＫ" / "OK"), case,
punctuation ("Who is this?" / "who is this"), spaces between CJK characters, hesitation at the edges
("um, who is this"), digits written in another script or as a word ("press one" / "press 1"), and for
Chinese whether the transcriber wrote Traditional or Simplified characters. `normalise` removes exactly
those differences and nothing else: no word that can change the meaning is ever dropped (see
text_rules.json for the word lists and why some common fillers are not in them).

The result only has to be stable within one language, because the language is a separate part of every
cache key: Cantonese (zh-HK) and Mandarin (zh-CN) text may normalise alike and still never share a key.

Steps: NFKC and case-fold (until stable); drop apostrophes and zero-width joiners ("don't" = "dont");
for Chinese, Traditional -> Simplified; cut into units (a word for spaced scripts, one character for
CJK/Thai-like scripts, one unit per symbol; punctuation and spaces only separate; a digit run is its own
word, "3.5" and "10:30" stay whole); number words -> digits; edge fillers dropped while something else
remains; units joined with one space between two words and none next to a CJK character or symbol.
Normalising twice gives the same text as normalising once.
"""

from __future__ import annotations

import json
import unicodedata
from functools import cache, lru_cache
from pathlib import Path

from ..charclass import unspaced_script
from ..languages import UnknownLanguageError, get_language
from ..workflow.langtags import normalize_tag

__all__ = ["HAN_FAMILIES", "family_of", "normalise", "units_of"]

RULES_PATH = Path(__file__).with_name("text_rules.json")
HAN_FAMILIES = frozenset({"zh", "yue"})  # Traditional and Simplified are mapped together for these

# Apostrophes vanish ("don't" == "dont"), as in the workflow's keyword matching; zero-width joiners and
# soft hyphens are layout, not letters.
_DROPPED = dict.fromkeys(map(ord, "'’‘ʼ`´\u200c\u200d\u00ad\u2060\ufeff"))
_NUMBER_JOINERS = frozenset(".,:/")  # kept between two digits: "3.5", "1,000", "10:30", "3/4"
# Punctuation that is a word when spoken ("star", "hash", "percent", "at", "and"): kept as units, so
# "(pressed *)" and "(pressed #)" never normalise alike.
_SPOKEN_MARKS = frozenset("#*%@&‰‱")
_CACHED_UP_TO = 500  # characters; longer input is normalised without being remembered


@cache
def _rules() -> tuple[dict, dict, dict[int, str]]:
    data = json.loads(RULES_PATH.read_text(encoding="utf-8"))
    pairs = data["traditional_to_simplified"].split()
    mapping: dict[str, str] = {}
    for pair in pairs:
        if len(pair) != 2 or pair[0] == pair[1]:
            raise ValueError(f"{RULES_PATH.name}: bad Traditional/Simplified pair {pair!r}")
        if mapping.setdefault(pair[0], pair[1]) != pair[1]:
            raise ValueError(f"{RULES_PATH.name}: {pair[0]!r} is mapped twice")
    if chained := set(mapping) & set(mapping.values()):
        raise ValueError(f"{RULES_PATH.name}: characters both mapped and mapped to: {sorted(chained)}")
    table = str.maketrans(mapping)
    fillers = {
        family: {
            edge: tuple(
                sorted({_plain_units(p, family, table) for p in phrases} - {()}, key=len, reverse=True)
            )
            for edge, phrases in edges.items()
        }
        for family, edges in data["fillers"].items()
    }
    numbers = {
        family: {_plain_text(word, family, table): str(value) for word, value in words.items()}
        for family, words in data["numbers"].items()
    }
    return fillers, numbers, table


def family_of(language: str | None) -> str:
    """The language family whose word lists apply: "en", "yue" (Cantonese), "zh" (Mandarin), ...;
    "" when no language is given. Unknown codes fall back to their primary subtag."""
    if language is None or language == "":
        return ""
    if not isinstance(language, str):
        raise TypeError(f"a language code must be a str, got {type(language).__name__}")
    try:
        return get_language(language).family
    except UnknownLanguageError:
        tag = normalize_tag(language)
        if tag is None:
            raise ValueError(f"{language!r} is not a BCP-47 language tag like 'en-US' or 'zh-HK'") from None
        return tag.split("-")[0]


def normalise(text: str, language: str | None = None) -> str:
    """The canonical form of caller words in `language` (a BCP-47 code, or None for no word lists)."""
    if not isinstance(text, str):
        raise TypeError(f"normalise needs a str, got {type(text).__name__}")
    family = family_of(language)
    return _normalise_cached(text, family) if len(text) <= _CACHED_UP_TO else _normalise(text, family)


def units_of(normalised: str) -> tuple[str, ...]:
    """The units of an already normalised text (words and single CJK characters/symbols)."""
    return tuple(unit for unit, _ in _scan(normalised))


@lru_cache(maxsize=8192)  # the same history lines are normalised on every turn of a call
def _normalise_cached(text: str, family: str) -> str:
    return _normalise(text, family)


def _normalise(text: str, family: str) -> str:
    fillers, numbers, table = _rules()
    units = _units(text, family, table)
    words = numbers.get(family)
    if words:
        units = [(words.get(unit, unit), solo) for unit, solo in units]
    units = _strip_fillers(units, fillers.get(family, {}))
    return _join(units)


# --- internals -------------------------------------------------------------------------------------------


def _folded(text: str, family: str, table: dict[int, str]) -> str:
    for _ in range(4):  # NFKC and case folding can each undo the other's fixed point; repeat until stable
        folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
        if folded == text:
            break
        text = folded
    text = text.translate(_DROPPED)
    if family in HAN_FAMILIES:
        text = text.translate(table)
    return unicodedata.normalize("NFKC", text)


def _units(text: str, family: str, table: dict[int, str]) -> list[tuple[str, bool]]:
    return list(_scan(_folded(text, family, table)))


def _plain_units(text: str, family: str, table: dict[int, str]) -> tuple[str, ...]:
    return tuple(unit for unit, _ in _units(text, family, table))


def _plain_text(text: str, family: str, table: dict[int, str]) -> str:
    return _join(_units(text, family, table))


def _kind(char: str) -> str:
    """ "digit", "letter", "mark", "solo" (a unit by itself), or "gap" (separates units, vanishes)."""
    category = unicodedata.category(char)
    if char.isdecimal() and unicodedata.decimal(char, None) is not None:
        return "digit"
    if category[0] == "M":
        return "mark"
    if category[0] in "LN":
        return "solo" if unspaced_script(char) else "letter"
    if category[0] == "S" or char in _SPOKEN_MARKS:
        return "solo"
    return "gap"  # punctuation, spaces, controls, unassigned


def _scan(text: str):
    """Yields (unit, solo) pairs. A mark joins the unit before it; with none before it, it is dropped."""
    word: list[str] = []
    word_is_digits = False
    pending: tuple[str, bool] | None = None  # the last solo unit, still open for combining marks
    size = len(text)
    for index, char in enumerate(text):
        kind = _kind(char)
        if kind == "gap" and char in _NUMBER_JOINERS and word_is_digits and word:
            following = text[index + 1] if index + 1 < size else ""
            if following and _kind(following) == "digit":
                word.append(char)
                continue
        if kind == "mark":
            if word:
                word.append(char)
            elif pending:
                pending = (pending[0] + char, True)
            continue
        if kind in ("letter", "digit") and word and (kind == "digit") != word_is_digits:
            yield "".join(word), False  # "10am" -> "10", "am": a digit run is a word of its own
            word = []
        if kind in ("letter", "digit"):
            if pending:
                yield pending
                pending = None
            if not word:
                word_is_digits = kind == "digit"
            word.append(str(unicodedata.decimal(char)) if kind == "digit" else char)
            continue
        if word:
            yield "".join(word), False
            word = []
        if pending:
            yield pending
            pending = None
        if kind == "solo":
            pending = (char, True)
    if word:
        yield "".join(word), False
    if pending:
        yield pending


def _strip_fillers(
    units: list[tuple[str, bool]], fillers: dict[str, tuple[tuple[str, ...], ...]]
) -> list[tuple[str, bool]]:
    """Drops filler phrases at the start, then at the end, never leaving nothing behind."""
    leading, trailing = fillers.get("leading", ()), fillers.get("trailing", ())
    texts = [unit for unit, _ in units]
    start, end = 0, len(texts)
    stripped = True
    while stripped:
        stripped = False
        for phrase in leading:  # longest first
            size = len(phrase)
            if end - start > size and tuple(texts[start : start + size]) == phrase:
                start += size
                stripped = True
                break
    stripped = True
    while stripped:
        stripped = False
        for phrase in trailing:
            size = len(phrase)
            if end - start > size and tuple(texts[end - size : end]) == phrase:
                end -= size
                stripped = True
                break
    return units[start:end]


def _join(units: list[tuple[str, bool]]) -> str:
    pieces: list[str] = []
    previous_solo = True
    for unit, solo in units:
        if pieces and not solo and not previous_solo:
            pieces.append(" ")
        pieces.append(unit)
        previous_solo = solo
    return "".join(pieces)
