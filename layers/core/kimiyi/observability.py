"""Logging helpers: phone numbers are masked wherever they are logged."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol


class Log(Protocol):
    """What the services log through: a logging.Logger, or Powertools' Logger in the functions."""

    def info(self, msg: str, *, extra: Mapping[str, Any] | None = None) -> None: ...

    def warning(self, msg: str, *, extra: Mapping[str, Any] | None = None) -> None: ...

    def exception(self, msg: str, *, extra: Mapping[str, Any] | None = None) -> None: ...


class KeyedLog(Log, Protocol):
    """Powertools' Logger as the functions' services use it: keys that stay on every later line."""

    def debug(self, msg: str, *, extra: Mapping[str, Any] | None = None) -> None: ...

    def error(self, msg: str, *, extra: Mapping[str, Any] | None = None) -> None: ...

    def append_keys(self, **additional_keys: object) -> None: ...


_PHONE = re.compile(r"\+?\d[\d\s().-]{6,}\d")


def mask_phone(number: str | None) -> str:
    """'+15551234567' -> '+1555•••4567': enough to tell calls apart, not enough to dial."""
    if not number:
        return ""
    digits = re.sub(r"\D", "", number)
    if len(digits) < 7:
        return "•" * len(digits)
    prefix = "+" if number.strip().startswith("+") else ""
    return (
        f"{prefix}{digits[:4]}{'•' * (len(digits) - 8)}{digits[-4:]}"
        if len(digits) > 8
        else f"{prefix}•••{digits[-4:]}"
    )


def mask_phones_in(text: str) -> str:
    return _PHONE.sub(lambda m: mask_phone(m.group()), text)
