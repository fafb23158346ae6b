"""Phone numbers: E.164 checks and the country allow-list that guards against toll fraud.

A stolen API key must not be able to dial premium-rate numbers abroad, so make-call only dials
destinations whose calling code is on an allow-list (`ALLOWED_COUNTRY_CODES`, e.g. "1,44,852").
Entries are digit prefixes of the E.164 number; an entry starting with "!" blocks a prefix instead
("1,!1876" allows the North American Numbering Plan except Jamaica). The longest matching entry
decides; a number no entry matches is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_E164 = re.compile(r"\+[1-9]\d{6,14}")
# What people type between digits; anything else (letters, extensions, a missing "+") is an error.
_SEPARATORS = re.compile(r"[\s().\-]")
_PREFIX = re.compile(r"[1-9]\d{0,14}")


def to_e164(value: str) -> str:
    """'+1 (415) 555-0123' -> '+14155550123'; raises ValueError saying what is wrong."""
    compact = _SEPARATORS.sub("", value)
    if not compact:
        raise ValueError("is empty; expected an E.164 number such as +14155550123")
    if not compact.startswith("+"):
        raise ValueError(
            "is not an E.164 number: it must start with + and the country code, e.g. +14155550123"
        )
    if not _E164.fullmatch(compact):
        raise ValueError("is not an E.164 number: + then 7 to 15 digits, the first not 0, e.g. +14155550123")
    return compact


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    prefix: str | None  # the entry that decided, None when no entry matched
    reason: str


@dataclass(frozen=True)
class CountryAllowList:
    """Digit prefixes mapped to allow (True) or block (False)."""

    rules: dict[str, bool]

    @classmethod
    def parse(cls, text: str) -> CountryAllowList:
        """Reads "1,44,!1876"; raises ValueError naming a malformed entry."""
        rules: dict[str, bool] = {}
        for raw in text.split(","):
            entry = raw.strip()
            if not entry:
                continue
            blocked = entry.startswith("!")
            digits = entry.lstrip("!").strip().lstrip("+")
            if not _PREFIX.fullmatch(digits):
                raise ValueError(
                    f"ALLOWED_COUNTRY_CODES entry {entry!r} is not a calling code such as 44 (or !1876 to block)"
                )
            if rules.get(digits, not blocked) != (not blocked):
                raise ValueError(f"ALLOWED_COUNTRY_CODES both allows and blocks {digits}")
            rules[digits] = not blocked
        return cls(rules)

    @property
    def allowed_codes(self) -> list[str]:
        return sorted((p for p, ok in self.rules.items() if ok), key=lambda p: (len(p), p))

    def check(self, number: str) -> Verdict:
        """Decides for an E.164 number by the longest matching prefix."""
        digits = number.lstrip("+")
        matches = [prefix for prefix in self.rules if digits.startswith(prefix)]
        if not self.rules:
            return Verdict(False, None, "no destination country is allowed (ALLOWED_COUNTRY_CODES is empty)")
        if not matches:
            allowed = ", ".join(f"+{code}" for code in self.allowed_codes) or "none"
            return Verdict(
                False, None, f"its country code is not in ALLOWED_COUNTRY_CODES (allowed: {allowed})"
            )
        prefix = max(matches, key=len)
        if self.rules[prefix]:
            return Verdict(True, prefix, f"+{prefix} is allowed")
        return Verdict(False, prefix, f"the prefix +{prefix} is blocked in ALLOWED_COUNTRY_CODES")
