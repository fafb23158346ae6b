"""Edge conditions: deterministic ones evaluated here, LLM-judged ones handed back to the caller.

Shapes (edge.data.condition):
  {"type": "always"}                                      also "else"; taken when nothing else matches
  {"type": "keywords", "keywords": ["cancel", "取消"]}    the utterance contains any of them
  {"type": "intent", "intent": "yes"}                     a built-in intent (see intents.json)
  {"type": "dtmf", "digit": "1"}                          the caller pressed this key
  {"type": "variable", "variable": "age", "operator": ">=", "value": 18}
  {"type": "llm", "prompt": "the caller wants to reschedule"}    a plain string is shorthand for this
A missing or null condition means "always".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import Problems, json_type
from .fields import Scalar, as_number, canonical_scalar, read_choice, read_list, read_str
from .intents import INTENT_NAMES, LEXICON, matches_intent
from .text import Phrase, Unit, contains_phrase, phrase_units
from .variables import MAX_NAME_LENGTH, NAME, check_template

# Conditions compare two numbers or two texts, never one with the other.
Comparable = TypeVar("Comparable", float, str)

KINDS = ("always", "keywords", "intent", "dtmf", "variable", "llm")
DETERMINISTIC = frozenset({"keywords", "intent", "dtmf", "variable"})
NEEDS_CALLER = frozenset({"keywords", "intent", "dtmf", "llm"})  # nothing to decide without input
OPERATORS = ("==", "!=", ">", ">=", "<", "<=", "contains", "exists")
DTMF_DIGITS = "0123456789*#"
MAX_KEYWORDS = 50
MAX_KEYWORD_LENGTH = 100
MAX_LLM_CONDITION = 500

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


@dataclass(frozen=True)
class Condition:
    kind: str
    keywords: tuple[str, ...] = ()
    intent: str | None = None
    digit: str | None = None
    variable: str | None = None
    operator: str | None = None
    value: Scalar | None = None
    prompt: str | None = None
    _phrases: tuple[Phrase, ...] = field(default=(), compare=False, repr=False)

    @property
    def deterministic(self) -> bool:
        """Decided here, with no LLM (the always edge is handled apart: it is the fallback)."""
        return self.kind in DETERMINISTIC

    @property
    def needs_caller(self) -> bool:
        return self.kind in NEEDS_CALLER

    def matches(self, units: tuple[Unit, ...], digit: str | None, variables: Mapping[str, Scalar]) -> bool:
        """Evaluate a deterministic condition; `units` is the tokenized utterance (empty for none)."""
        if self.kind == "keywords":
            return any(contains_phrase(units, phrase, LEXICON) for phrase in self._phrases)
        if self.kind == "intent":
            return bool(units) and matches_intent(self.intent or "", units)
        if self.kind == "dtmf":
            return digit is not None and digit.strip() == self.digit
        if self.kind == "variable":
            return compare(variables.get(self.variable or ""), self.operator or "", self.value)
        return False

    def to_json(self) -> dict[str, Any]:
        shape: dict[str, Any] = {"type": self.kind}
        if self.kind == "keywords":
            shape["keywords"] = list(self.keywords)
        elif self.kind == "intent":
            shape["intent"] = self.intent
        elif self.kind == "dtmf":
            shape["digit"] = self.digit
        elif self.kind == "variable":
            shape.update(variable=self.variable, operator=self.operator)
            if self.operator != "exists":
                shape["value"] = self.value
        elif self.kind == "llm":
            shape["prompt"] = self.prompt
        return shape


ALWAYS = Condition("always")


def _number(value: object) -> float | None:
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        return float(text) if _NUMBER.fullmatch(text) else None
    number = as_number(value)
    return None if number is None else float(number)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    number = as_number(value)
    if number is not None:
        return str(int(number)) if float(number).is_integer() else str(number)
    return " ".join(unicodedata.normalize("NFKC", str(value)).casefold().split())


def compare(left: object, operator: str, right: object) -> bool:
    """Variable comparison. Numbers compare as numbers when both sides parse as numbers; otherwise
    as case- and width-insensitive text (so ISO dates order correctly). A missing variable makes
    every operator false except that `exists` is false too: absent or blank means "does not exist"."""
    if left is None:
        return False
    if operator == "exists":
        return _text(left) != ""
    if operator == "contains":
        return _text(right) in _text(left)
    left_number, right_number = _number(left), _number(right)
    if left_number is not None and right_number is not None:
        return _holds(left_number, operator, right_number)
    return _holds(_text(left), operator, _text(right))


def _holds(left: Comparable, operator: str, right: Comparable) -> bool:
    """`left operator right` for two numbers or two texts; an unknown operator never holds."""
    return {
        "==": left == right,
        "!=": left != right,
        ">": left > right,
        ">=": left >= right,
        "<": left < right,
        "<=": left <= right,
    }.get(operator, False)


def parse_condition(raw: object, path: str, problems: Problems) -> Condition | None:
    """Check one edge condition; None (after reporting) when it is malformed."""
    if raw is None:
        return ALWAYS
    if isinstance(raw, str):
        raw = {"type": "llm", "prompt": raw}
    if not isinstance(raw, Mapping):
        problems.error(path, f"expected a condition object or a plain-language string, got {json_type(raw)}")
        return None
    kind = raw.get("type")
    if kind == "else":
        kind = "always"
    if kind not in KINDS:
        shown = repr(kind) if isinstance(kind, str) else json_type(kind)
        problems.error(f"{path}.type", f"unknown condition type {shown}; expected one of {', '.join(KINDS)}")
        return None
    return _PARSERS[kind](raw, path, problems)


def _parse_keywords(raw: Mapping[str, Any], path: str, problems: Problems) -> Condition | None:
    items = read_list(raw, "keywords", f"{path}.keywords", problems)
    if items is None:
        if "keywords" not in raw or raw["keywords"] is None:
            problems.error(f"{path}.keywords", "is required: a list of words or phrases")
        return None
    if not 1 <= len(items) <= MAX_KEYWORDS:
        problems.error(f"{path}.keywords", f"needs 1 to {MAX_KEYWORDS} keywords, got {len(items)}")
        return None
    keywords: list[str] = []
    phrases: list[Phrase] = []
    for index, item in enumerate(items):
        where = f"{path}.keywords[{index}]"
        if not isinstance(item, str):
            problems.error(where, f"expected a string, got {json_type(item)}")
        elif len(item) > MAX_KEYWORD_LENGTH:
            problems.error(where, f"is {len(item)} characters long; the limit is {MAX_KEYWORD_LENGTH}")
        elif not (units := phrase_units(item)):
            problems.error(where, f"{item!r} has no letters or digits to match")
        else:
            keywords.append(item.strip())
            phrases.append(Phrase(units))
    if len(keywords) != len(items):
        return None
    return Condition("keywords", keywords=tuple(keywords), _phrases=tuple(phrases))


def _parse_intent(raw: Mapping[str, Any], path: str, problems: Problems) -> Condition | None:
    name = read_choice(raw, "intent", f"{path}.intent", problems, INTENT_NAMES)
    if name is None and raw.get("intent") is None:
        problems.error(f"{path}.intent", f"is required: one of {', '.join(INTENT_NAMES)}")
    return Condition("intent", intent=name) if name else None


def _parse_dtmf(raw: Mapping[str, Any], path: str, problems: Problems) -> Condition | None:
    digit = _digit(raw.get("digit"), f"{path}.digit", problems)
    return Condition("dtmf", digit=digit) if digit else None


def _digit(value: object, path: str, problems: Problems) -> str | None:
    """One key: 0-9, * or #. A whole number 0-9 is accepted as well, since builders emit both."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 9:
        return str(value)
    if isinstance(value, str) and len(value.strip()) == 1 and value.strip() in DTMF_DIGITS:
        return value.strip()
    if value is None:
        problems.error(path, "is required: one key, 0-9, * or #")
    else:
        shown = repr(value) if isinstance(value, str | int) else json_type(value)
        problems.error(path, f"{shown} is not a phone key; use one of 0-9, * or #")
    return None


def _parse_variable(raw: Mapping[str, Any], path: str, problems: Problems) -> Condition | None:
    before = len(problems.errors)
    name = read_str(raw, "variable", f"{path}.variable", problems, required=True, what="the variable's name")
    if name is not None and (not NAME.fullmatch(name) or len(name) > MAX_NAME_LENGTH):
        problems.error(f"{path}.variable", f"{name!r} is not a variable name")
    operator = raw.get("operator")
    if operator is None:
        problems.error(f"{path}.operator", f"is required: one of {' '.join(OPERATORS)}")
    elif operator not in OPERATORS:
        shown = repr(operator) if isinstance(operator, str) else json_type(operator)
        problems.error(f"{path}.operator", f"unknown operator {shown}; expected one of {' '.join(OPERATORS)}")
    value = raw.get("value")
    if operator in OPERATORS and operator != "exists":
        if value is None:
            problems.error(f"{path}.value", f"is required for operator {operator!r}")
        elif not isinstance(value, str | bool) and _number(value) is None:
            problems.error(f"{path}.value", f"expected a string, number or boolean, got {json_type(value)}")
    if len(problems.errors) > before:
        return None
    kept = None if operator == "exists" else canonical_scalar(value)
    return Condition("variable", variable=name, operator=operator, value=kept)


def _parse_llm(raw: Mapping[str, Any], path: str, problems: Problems) -> Condition | None:
    prompt = read_str(
        raw,
        "prompt",
        f"{path}.prompt",
        problems,
        required=True,
        max_len=MAX_LLM_CONDITION,
        what="the condition in plain language, e.g. 'the caller wants to reschedule'",
    )
    if prompt is None:
        return None
    check_template(prompt, f"{path}.prompt", problems)
    return Condition("llm", prompt=prompt)


_PARSERS = {
    "always": lambda raw, path, problems: ALWAYS,
    "keywords": _parse_keywords,
    "intent": _parse_intent,
    "dtmf": _parse_dtmf,
    "variable": _parse_variable,
    "llm": _parse_llm,
}
