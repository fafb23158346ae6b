"""Dynamic variables: `{{name}}` and `{{name|default}}` in prompts and spoken text.

Names are letters, digits and underscores (any script, so `{{姓名}}` works), optionally dotted
(`{{patient.name}}` is one flat name). Whitespace inside the braces is allowed: `{{ name | Sir }}`.
There is no escape for a literal `{{`: phone prompts have no use for one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from .errors import Problems, json_type
from .fields import Scalar

NAME = re.compile(r"[^\W\d]\w*(?:\.\w+)*")
MAX_VARIABLES = 100
MAX_NAME_LENGTH = 64
MAX_VALUE_LENGTH = 1_000


@dataclass(frozen=True, slots=True)
class Placeholder:
    name: str
    default: str | None  # None: no default given; "" is an explicit empty default


@lru_cache(maxsize=2048)
def _scan(text: str) -> tuple[tuple[str | Placeholder, ...], tuple[str, ...]]:
    """Split text into literal parts and placeholders, plus a description of every malformed one."""
    parts: list[str | Placeholder] = []
    faults: list[str] = []
    position = 0
    while (start := text.find("{{", position)) != -1:
        end = text.find("}}", start + 2)
        if end == -1:
            faults.append(f"unclosed placeholder {_excerpt(text[start:])!r}: add the closing '}}}}'")
            break
        inner = text[start + 2 : end]
        if start > position:
            parts.append(text[position:start])
        placeholder, fault = _parse_inner(inner)
        if placeholder is None:  # and fault says why
            faults.append(f"{_excerpt(text[start : end + 2])!r}: {fault}")
            parts.append(text[start : end + 2])  # rendered verbatim if it ever gets that far
        else:
            parts.append(placeholder)
        position = end + 2
    if position < len(text):
        parts.append(text[position:])
    return tuple(parts), tuple(faults)


def _parse_inner(inner: str) -> tuple[Placeholder | None, str | None]:
    name, bar, default = inner.partition("|")
    name = name.strip()
    if "{" in inner:
        return None, "placeholders cannot be nested or use three braces"
    if not name:
        return None, "empty placeholder: put a variable name between the braces"
    if not NAME.fullmatch(name):
        return None, f"{name!r} is not a variable name (letters, digits, underscores and dots, no spaces)"
    if len(name) > MAX_NAME_LENGTH:
        return None, f"variable names are at most {MAX_NAME_LENGTH} characters"
    return Placeholder(name, default.strip() if bar else None), None


def _excerpt(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def template_errors(text: str) -> list[str]:
    """What is malformed in a template, one message per fault; empty when it is fine."""
    return list(_scan(text)[1])


def placeholders(text: str) -> list[Placeholder]:
    return [part for part in _scan(text)[0] if isinstance(part, Placeholder)]


def variable_names(text: str) -> list[str]:
    """Every variable the text refers to, in order of first use."""
    return list(dict.fromkeys(p.name for p in placeholders(text)))


def format_value(value: Scalar) -> str:
    """How a value reads inside a sentence: 3.0 reads "3", True reads "true"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | Decimal) and float(value).is_integer():
        return str(int(value))
    return str(value)


def render(text: str, variables: Mapping[str, Scalar]) -> str:
    """Fill placeholders; an unknown variable takes its default, or renders empty without one."""
    pieces: list[str] = []
    for part in _scan(text)[0]:
        if isinstance(part, str):
            pieces.append(part)
        elif part.name in variables and variables[part.name] is not None:
            pieces.append(format_value(variables[part.name]))
        else:
            pieces.append(part.default or "")
    return "".join(pieces)


def missing_variables(text: str, variables: Mapping[str, Scalar]) -> list[str]:
    """Variables the text uses, without a default, that `variables` does not provide."""
    missing = (
        p.name
        for p in placeholders(text)
        if p.default is None and (p.name not in variables or variables[p.name] is None)
    )
    return list(dict.fromkeys(missing))


def check_template(text: str, path: str, problems: Problems) -> None:
    for fault in template_errors(text):
        problems.error(path, f"malformed variable placeholder {fault}")


def parse_variables(raw: object, path: str, problems: Problems) -> dict[str, Scalar]:
    """A call's variables: names as in placeholders, values strings, numbers or booleans."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.error(path, f"expected an object of name → value, got {json_type(raw)}")
        return {}
    if len(raw) > MAX_VARIABLES:
        problems.error(path, f"has {len(raw)} variables; the limit is {MAX_VARIABLES}")
    result: dict[str, Scalar] = {}
    for name, value in raw.items():
        where = f"{path}.{name}"
        if not isinstance(name, str) or not NAME.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
            problems.error(where, f"{name!r} is not a variable name (letters, digits, underscores, dots)")
        elif isinstance(value, str) and len(value) > MAX_VALUE_LENGTH:
            problems.error(where, f"is {len(value)} characters long; the limit is {MAX_VALUE_LENGTH}")
        elif isinstance(value, str | bool | int):
            result[name] = value
        elif isinstance(value, float | Decimal) and math.isfinite(value):
            result[name] = int(value) if isinstance(value, Decimal) and value == int(value) else float(value)
        else:
            problems.error(where, f"expected a string, number or boolean, got {json_type(value)}")
    return result


def check_variables(raw: object, path: str = "variables") -> dict[str, Scalar]:
    """Validate a call's variables given apart from the workflow (say, a top-level `variables` in the
    make-call body); raises WorkflowError naming each bad entry."""
    from .errors import WorkflowError

    problems = Problems()
    values = parse_variables(raw, path, problems)
    if problems.errors:
        raise WorkflowError(problems.errors)
    return values
