"""Typed readers for JSON fields: each reports a precise problem instead of raising on bad input."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from .errors import Problems, json_type

Scalar = str | int | float | bool


def as_number(value: object) -> float | int | None:
    """int, float or Decimal (DynamoDB hands numbers back as Decimal) as a finite number; bools are not."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    if isinstance(value, int):
        return value
    number = float(value)
    if not math.isfinite(number):
        return None
    return int(number) if isinstance(value, Decimal) and number.is_integer() else number


def canonical_scalar(value: object) -> Scalar | None:
    """Numbers that mean the same hash the same: 3, 3.0 and Decimal('3') all become 3. None for what is
    neither a string, a boolean nor a finite number."""
    if isinstance(value, bool | str):
        return value
    number = as_number(value)
    if isinstance(number, float) and number.is_integer():
        return int(number)
    return number


def read_str(
    obj: Mapping[str, Any],
    key: str,
    path: str,
    problems: Problems,
    *,
    required: bool = False,
    max_len: int | None = None,
    what: str = "",
) -> str | None:
    """A non-blank string, stripped. Missing or null is fine unless required."""
    value = obj.get(key)
    if value is None:
        if required:
            problems.error(path, f"is required{': ' + what if what else ''}")
        return None
    if not isinstance(value, str):
        problems.error(path, f"expected a string, got {json_type(value)}")
        return None
    value = value.strip()
    if not value:
        if required:
            problems.error(path, f"must not be empty{': ' + what if what else ''}")
        return None
    if max_len is not None and len(value) > max_len:
        problems.error(path, f"is {len(value)} characters long; the limit is {max_len}")
        return None
    return value


def read_bool(obj: Mapping[str, Any], key: str, path: str, problems: Problems) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        problems.error(path, f"expected true or false, got {json_type(value)}")
        return None
    return value


def read_number(
    obj: Mapping[str, Any],
    key: str,
    path: str,
    problems: Problems,
    *,
    low: float,
    high: float,
    integer: bool = False,
) -> float | int | None:
    """A number within [low, high]; an integer when asked (2.0 counts as 2)."""
    value = obj.get(key)
    if value is None:
        return None
    number = as_number(value)
    if number is None:
        problems.error(path, f"expected a number, got {json_type(value)}")
        return None
    if integer:
        if isinstance(number, float) and not number.is_integer():
            problems.error(path, f"expected a whole number, got {number}")
            return None
        number = int(number)
    if not low <= number <= high:
        problems.error(path, f"must be between {_fmt(low)} and {_fmt(high)}, got {_fmt(number)}")
        return None
    return number


def read_list(obj: Mapping[str, Any], key: str, path: str, problems: Problems) -> Sequence[Any] | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        problems.error(path, f"expected an array, got {json_type(value)}")
        return None
    return value


def read_mapping(obj: Mapping[str, Any], key: str, path: str, problems: Problems) -> Mapping[str, Any] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        problems.error(path, f"expected an object, got {json_type(value)}")
        return None
    return value


def read_choice(
    obj: Mapping[str, Any], key: str, path: str, problems: Problems, choices: Sequence[str]
) -> str | None:
    """One of `choices`, matched case-insensitively and returned in its canonical spelling."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        for choice in choices:
            if value.strip().lower() == choice.lower():
                return choice
    shown = repr(value) if isinstance(value, str) else json_type(value)
    problems.error(path, f"must be one of {', '.join(repr(c) for c in choices)}; got {shown}")
    return None


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)
