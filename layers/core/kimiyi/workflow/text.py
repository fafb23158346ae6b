"""Utterance tokens and phrase matching that work the same for spaced scripts and for CJK.

Text is NFKC-normalised (full-width "ＹＥＳ" becomes "yes") and case-folded, then cut into units:
a word for scripts that use spaces, a single character for scripts that do not (Chinese, Japanese,
Thai…). A phrase matches a run of consecutive units, so "yes" never matches inside "yesterday" while
"係" matches inside "係呀". Clause punctuation (, . ! ? and ，。！？ …) marks a boundary that limits
negation ("not sure") and "leading" phrases (a bare "好" or "okay" answering a question).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..charclass import unspaced_script

_APOSTROPHES = frozenset("'’‘ʼ`´")  # removed, so "don't" and "dont" are the same word
_CLAUSE_ENDS = frozenset(",.!?;:…、。！？；：｡､\n")


@dataclass(frozen=True, slots=True)
class Unit:
    text: str
    boundary: bool  # a clause starts here (start of text or after clause punctuation)


def tokenize(text: str) -> tuple[Unit, ...]:
    units: list[Unit] = []
    word: list[str] = []
    boundary = True

    def flush() -> None:
        nonlocal boundary
        if word:
            units.append(Unit("".join(word), boundary))
            word.clear()
            boundary = False

    for char in unicodedata.normalize("NFKC", text).casefold():
        if char in _APOSTROPHES:
            continue
        if char in _CLAUSE_ENDS:
            flush()
            boundary = True
        elif char.isspace() or unicodedata.category(char)[0] in "PS":
            flush()
        elif unspaced_script(char):
            flush()
            units.append(Unit(char, boundary))
            boundary = False
        else:
            word.append(char)
    flush()
    return tuple(units)


def phrase_units(text: str) -> tuple[str, ...]:
    """A keyword or phrase as the unit sequence it must match; empty if it has no letters or digits."""
    return tuple(unit.text for unit in tokenize(text))


@dataclass(frozen=True)
class Lexicon:
    """Small word classes that make matching safer; the lists themselves live in intents.json."""

    negators: frozenset[str] = field(default_factory=frozenset)  # "not", "唔", "不" before a match cancel it
    modals: frozenset[str] = field(
        default_factory=frozenset
    )  # may stand between: "不想取消", "don't want to"
    fillers: frozenset[str] = field(default_factory=frozenset)  # "um", "嗯" may precede a leading phrase
    particles: frozenset[str] = field(default_factory=frozenset)  # "呀", "please" may follow one


@dataclass(frozen=True, slots=True)
class Phrase:
    units: tuple[str, ...]
    # A leading phrase counts only when it opens a clause and stands alone: "好呀" is yes,
    # "好忙" (very busy) and "我係陳生" (I am Mr Chan) are not.
    leading: bool = False


def starts_at(units: tuple[Unit, ...], start: int, phrase: tuple[str, ...]) -> bool:
    size = len(phrase)
    return start + size <= len(units) and all(units[start + k].text == phrase[k] for k in range(size))


def occurrences(units: tuple[Unit, ...], phrase: tuple[str, ...]) -> Iterable[int]:
    return (start for start in range(len(units) - len(phrase) + 1) if starts_at(units, start, phrase))


def counts_at(
    units: tuple[Unit, ...],
    start: int,
    phrase: Phrase,
    lexicon: Lexicon,
    blocked: frozenset[int] = frozenset(),
) -> bool:
    """Whether the phrase, found at `start`, counts: not negated, not half of an A-not-A question,
    not inside `blocked`, and standing alone if it is a leading phrase."""
    end = start + len(phrase.units)
    if blocked and not blocked.isdisjoint(range(start, end)):
        return False
    if _negated(units, start, phrase.units, lexicon) or _a_not_a(units, end, phrase.units, lexicon):
        return False
    return not phrase.leading or _stands_alone(units, start, end, phrase.units, lexicon)


def contains_phrase(
    units: tuple[Unit, ...], phrase: Phrase, lexicon: Lexicon, blocked: frozenset[int] = frozenset()
) -> bool:
    return any(
        counts_at(units, start, phrase, lexicon, blocked) for start in occurrences(units, phrase.units)
    )


def _negated(units: tuple[Unit, ...], start: int, phrase: tuple[str, ...], lexicon: Lexicon) -> bool:
    """A negator just before, within the clause: "not sure", "唔好", "不是"; up to two modal
    words may stand between: "唔使取消", "不想取消", "don't want to cancel"."""
    position, skipped = start - 1, 0
    while position >= 0 and not units[position + 1].boundary:
        text = units[position].text
        if text in lexicon.negators:
            return True
        if text not in lexicon.modals or skipped == 2:
            break
        position, skipped = position - 1, skipped + 1
    # The negated half of an A-not-A question: the "唔係" in "係唔係" asks, it does not answer.
    if start == 0 or units[start].boundary or len(phrase) < 2:
        return False
    return phrase[0] in lexicon.negators and units[start - 1].text == phrase[1]


def _a_not_a(units: tuple[Unit, ...], end: int, phrase: tuple[str, ...], lexicon: Lexicon) -> bool:
    """The affirmative half of "係唔係", "好不好", "得唔得": a question, not an answer."""
    if end + 1 >= len(units) or units[end].boundary or units[end + 1].boundary:
        return False
    return units[end].text in lexicon.negators and units[end + 1].text == phrase[0]


def _stands_alone(
    units: tuple[Unit, ...], start: int, end: int, phrase: tuple[str, ...], lexicon: Lexicon
) -> bool:
    position = start
    while position > 0 and not units[position].boundary:
        if units[position - 1].text not in lexicon.fillers:
            return False
        position -= 1
    size = len(phrase)
    while tuple(u.text for u in units[end : end + size]) == phrase and not units[end].boundary:
        end += size  # "好好好", "yes yes"
    return end == len(units) or units[end].boundary or units[end].text in lexicon.particles
