"""Untrusted input, read one way at every edge: JSON documents and whole numbers.

Every JSON document that comes from outside (an HTTP body, a ConversationRelay frame, Twilio's signed
HandoffData, an error body from Twilio's API) is read with `parse_json`, which turns each way Python's
json module would misread it into a JsonInputError that says what is wrong:

- larger than the caller's limit;
- bytes that are not UTF-8 (JSON over HTTP and WebSocket text frames are UTF-8; json.loads would
  guess an encoding from the first bytes);
- not JSON as RFC 8259 defines it: `NaN` and `Infinity` (Python accepts them), a number of more
  digits than Python will convert (it raises a plain ValueError);
- nested more than MAX_DEPTH arrays and objects deep: Python's parser recurses and raises
  RecursionError near 1,000 levels, and anything that walks the result later (validation, json.dumps
  for a hash) would recurse as deep;
- a string, or an object key, that is not Unicode text: JSON's escapes can spell lone surrogates
  (`"\\ud800"`, or a pair in the wrong order), which cannot be encoded as UTF-8, so they would fail
  later, far from here, when the text is hashed, written to DynamoDB or echoed in an error body.
  Such a string is refused here with the path of every field that holds one.

Whole numbers from form fields, query strings and headers are read with `whole_number`: ASCII digits
only, within bounds. `str.isdigit()` is true for "²" and "١٢", which int() then refuses or reads as
12, and a 39-digit number is beyond DynamoDB's 38 digits of precision.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

MAX_DEPTH = 32  # the deepest legitimate document (a workflow: body.nodes[].data.text{}) is 5 levels
MAX_PROBLEMS = 20  # fields named in one error; a document full of bad text is refused just the same

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASCII_DIGITS = re.compile(r"[0-9]+")


class JsonInputError(ValueError):
    """A document that cannot be accepted. `kind` is one of too_large, not_utf8, not_json, too_deep or
    not_unicode; for not_unicode, `problems` lists (path, message) per field."""

    def __init__(self, kind: str, message: str, problems: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.problems = problems


def parse_json(raw: bytes | str, *, max_size: int, what: str = "the body", max_depth: int = MAX_DEPTH) -> Any:
    """The document in `raw` (bytes are decoded as UTF-8, a byte-order mark allowed), checked as the
    module docstring says; `max_size` counts bytes, or characters for text; `what` names the document in
    messages ("the body", "the frame")."""
    if len(raw) > max_size:
        unit = "bytes" if isinstance(raw, bytes) else "characters"
        raise JsonInputError("too_large", f"{what} is {len(raw):,} {unit}; the limit is {max_size:,}")
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise JsonInputError(
                "not_utf8", f"{what} is not UTF-8 text (byte {error.start} cannot start a character)"
            ) from None
    else:
        text = raw
    try:
        document = json.loads(text, parse_constant=_no_constant)
    except JsonInputError as error:
        raise JsonInputError(error.kind, f"{what} is not valid JSON: {error.message}") from None
    except RecursionError:
        raise _too_deep(what, max_depth) from None
    except json.JSONDecodeError as error:
        raise JsonInputError(
            "not_json", f"{what} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        ) from None
    except ValueError:  # int() refused a number (Python converts at most 4,300 digits)
        raise JsonInputError("not_json", f"{what} is not valid JSON: a number has too many digits") from None
    _check(document, what, max_depth)
    return document


def _no_constant(name: str) -> Any:
    raise JsonInputError("not_json", f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def _too_deep(what: str, max_depth: int) -> JsonInputError:
    return JsonInputError(
        "too_deep",
        f"{what} is nested more than {max_depth} levels deep (arrays and objects); the limit is {max_depth}",
    )


def _check(document: Any, what: str, max_depth: int) -> None:
    """Depth and Unicode, in one walk without recursion, fields named in document order."""
    problems: list[tuple[str, str]] = []
    stack: list[tuple[Any, str, int]] = [(document, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if not is_text(value):
                problems.append((path or what, _surrogate_message(value)))
        elif isinstance(value, dict | list):
            if depth >= max_depth:
                raise _too_deep(what, max_depth)
            children: list[tuple[Any, str, int]] = []
            if isinstance(value, dict):
                for key, item in value.items():
                    where = join_path(path, key)
                    if not is_text(key):
                        problems.append((where, f"this key {_surrogate_message(key)}"))
                    children.append((item, where, depth + 1))
            else:
                children = [(item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value)]
            stack.extend(reversed(children))  # popped in document order
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        first = problems[0][0]
        more = f" (and {len(problems) - 1} more fields)" if len(problems) > 1 else ""
        raise JsonInputError(
            "not_unicode",
            f"{first} is not Unicode text{more}: it holds an unpaired surrogate escape such as \\ud800",
            tuple(problems),
        )


def join_path(path: str, key: str) -> str:
    """`nodes[2].data` + `prompt`; a key that is not a plain name is quoted as a JSON (ASCII) string."""
    if _IDENTIFIER.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def is_text(value: str) -> bool:
    """Whether `value` can be encoded as UTF-8 (holds no lone surrogate)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _surrogate_message(value: str) -> str:
    bad = next(char for char in value if "\ud800" <= char <= "\udfff")
    return (
        f"contains an unpaired surrogate ({json.dumps(bad)}), which is not Unicode text: "
        "send characters as UTF-8, or an astral character as its two escapes, high then low"
    )


def printable(text: str) -> str:
    """`text` with anything UTF-8 cannot encode (lone surrogates) written as a \\udXXX escape: safe to
    put in a JSON answer or a log line, whatever a client sent."""
    if is_text(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def whole_number(text: str | None, *, low: int = 0, high: int) -> int | None:
    """`text` as an int when it is ASCII digits (surrounding spaces allowed) from `low` to `high`;
    None for anything else, absent included."""
    if text is None:
        return None
    digits = text.strip()
    if not _ASCII_DIGITS.fullmatch(digits) or len(digits.lstrip("0")) > len(str(high)):
        return None
    value = int(digits)
    return value if low <= value <= high else None


def event_body(event: Mapping[str, Any]) -> bytes:
    """The raw bytes of an API Gateway event's body: base64-decoded when the event says so (HTTP API
    does for bodies it does not take for text), else the text as UTF-8. Text that is not Unicode
    (only a hand-made event can carry it) comes out as bytes that are not UTF-8, for the parser to refuse.
    Raises ValueError for a body marked base64 that is not."""
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise ValueError("the body is not a string")
    if not event.get("isBase64Encoded"):
        return body.encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the body is marked base64-encoded but is not valid base64") from None


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, at the last space within the final 10 % when there is
    one (a cut mid-word reads as a different word), else exactly at the limit (CJK text has no spaces)."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ", limit - limit // 10)
    return (cut[:space] if space > 0 else cut).rstrip()
