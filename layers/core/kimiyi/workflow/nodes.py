"""Checking one node of the payload: its type and the data that type needs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeGuard

from .conditions import DTMF_DIGITS
from .errors import Problems, json_type
from .fields import read_list, read_mapping, read_str
from .langtags import normalize_tag
from .model import ANY_LANGUAGE, NODE_TYPES, LocalizedText, MenuOption, Node
from .variables import check_template

MAX_ID_LENGTH = 128
MAX_LABEL_LENGTH = 200
MAX_NODE_PROMPT = 4_000
MAX_SPOKEN_TEXT = 1_000
MAX_MENU_OPTIONS = len(DTMF_DIGITS)
E164 = re.compile(r"\+[1-9]\d{1,14}")


def node_path(index: int, raw: object) -> str:
    """ "nodes[3] (id 'confirm')", or just "nodes[3]" when the id is unusable."""
    node_id = raw.get("id") if isinstance(raw, Mapping) else None
    return f"nodes[{index}] (id {node_id!r})" if usable_id(node_id) else f"nodes[{index}]"


def usable_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value.strip()) and len(value) <= MAX_ID_LENGTH


def read_id(raw: Mapping[str, Any], path: str, problems: Problems) -> str | None:
    value = raw.get("id")
    if value is None:
        problems.error(f"{path}.id", "is required")
    elif not isinstance(value, str):
        problems.error(f"{path}.id", f"expected a string, got {json_type(value)}")
    elif not value.strip():
        problems.error(f"{path}.id", "must not be empty")
    elif len(value) > MAX_ID_LENGTH:
        problems.error(f"{path}.id", f"is {len(value)} characters long; the limit is {MAX_ID_LENGTH}")
    else:
        return value
    return None


_SEND_DIGITS = re.compile(r"[0-9*#w]{1,32}")


def parse_node(index: int, raw: object, problems: Problems) -> tuple[Node | None, bool]:
    """(node or None if broken, whether data.isStart is true)."""
    path = node_path(index, raw)
    if not isinstance(raw, Mapping):
        problems.error(path, f"expected a node object, got {json_type(raw)}")
        return None, False
    before = len(problems.errors)
    node_id = read_id(raw, path, problems)
    kind = raw.get("type")
    if kind is None:
        problems.error(f"{path}.type", f"is required: one of {', '.join(NODE_TYPES)}")
    elif kind not in NODE_TYPES:
        shown = repr(kind) if isinstance(kind, str) else json_type(kind)
        problems.error(
            f"{path}.type",
            f"unknown node type {shown}; expected one of {', '.join(NODE_TYPES)}"
            + (" (mark the first node with data.isStart: true instead)" if kind == "start" else ""),
        )
    data = read_mapping(raw, "data", f"{path}.data", problems)
    if data is None:
        if raw.get("data") is not None:
            return None, False
        data = {}
    is_start = data.get("isStart", False)
    if not isinstance(is_start, bool):
        problems.error(f"{path}.data.isStart", f"expected true or false, got {json_type(is_start)}")
        is_start = False
    # Display only, so never an error: a string is kept (shortened) for logs, anything else ignored.
    label = data["label"].strip()[:MAX_LABEL_LENGTH] if isinstance(data.get("label"), str) else None
    fields = _TYPE_FIELDS[kind](data, f"{path}.data", problems) if kind in NODE_TYPES else {}
    send_digits = data.get("sendDigits")
    if send_digits is not None:
        if not isinstance(send_digits, str) or not _SEND_DIGITS.fullmatch(send_digits):
            problems.error(
                f"{path}.data.sendDigits",
                f"expected keypad digits to play after the node's line (0-9, *, #, w = half-second pause), got {send_digits!r}",
            )
        else:
            fields["send_digits"] = send_digits
    if len(problems.errors) > before or node_id is None or kind is None:  # a missing type is an error
        return None, is_start
    return Node(id=node_id, type=kind, label=label, **fields), is_start


def _conversation(data: Mapping[str, Any], path: str, problems: Problems) -> dict[str, Any]:
    prompt = read_str(
        data,
        "prompt",
        f"{path}.prompt",
        problems,
        required=True,
        max_len=MAX_NODE_PROMPT,
        what="the LLM's instructions for this step",
    )
    if prompt:
        check_template(prompt, f"{path}.prompt", problems)
    scripted = read_localized(data, "scriptedLine", f"{path}.scriptedLine", problems)
    return {"prompt": prompt, "scripted_line": scripted}


def _static(data: Mapping[str, Any], path: str, problems: Problems) -> dict[str, Any]:
    text = read_localized(data, "text", f"{path}.text", problems, required="the line this node speaks")
    return {"text": text}


def _menu(data: Mapping[str, Any], path: str, problems: Problems) -> dict[str, Any]:
    text = read_localized(
        data, "prompt", f"{path}.prompt", problems, required="the line announcing the options"
    )
    items = read_list(data, "options", f"{path}.options", problems)
    options: list[MenuOption] = []
    if items is None:
        if data.get("options") is None:
            problems.error(f"{path}.options", "is required: a list of {digit, label}")
        return {"text": text}
    if not 1 <= len(items) <= MAX_MENU_OPTIONS:
        problems.error(f"{path}.options", f"needs 1 to {MAX_MENU_OPTIONS} options, got {len(items)}")
    for position, item in enumerate(items):
        where = f"{path}.options[{position}]"
        if not isinstance(item, Mapping):
            problems.error(where, f"expected an object {{digit, label}}, got {json_type(item)}")
            continue
        digit = _option_digit(item.get("digit"), f"{where}.digit", problems)
        label = read_str(item, "label", f"{where}.label", problems, max_len=MAX_LABEL_LENGTH)
        if digit and any(option.digit == digit for option in options):
            problems.error(f"{where}.digit", f"digit {digit!r} is used by another option")
        elif digit:
            options.append(MenuOption(digit, label))
    return {"text": text, "options": tuple(options)}


def _option_digit(value: object, path: str, problems: Problems) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 9:
        return str(value)
    if isinstance(value, str) and len(value.strip()) == 1 and value.strip() in DTMF_DIGITS:
        return value.strip()
    shown = "missing" if value is None else repr(value) if isinstance(value, str | int) else json_type(value)
    problems.error(path, f"{shown} is not a phone key; use one of 0-9, * or #")
    return None


def _transfer(data: Mapping[str, Any], path: str, problems: Problems) -> dict[str, Any]:
    number = read_str(
        data, "phoneNumber", f"{path}.phoneNumber", problems, required=True, what="E.164, like +14155550123"
    )
    if number and not E164.fullmatch(number):
        problems.error(f"{path}.phoneNumber", f"{number!r} is not an E.164 number like +14155550123")
        number = None
    return {"phone_number": number, "text": read_localized(data, "text", f"{path}.text", problems)}


def _end(data: Mapping[str, Any], path: str, problems: Problems) -> dict[str, Any]:
    return {"text": read_localized(data, "text", f"{path}.text", problems)}


_TYPE_FIELDS = {
    "conversation": _conversation,
    "static": _static,
    "menu": _menu,
    "transfer": _transfer,
    "end": _end,
}


def read_localized(
    data: Mapping[str, Any], key: str, path: str, problems: Problems, *, required: str = ""
) -> LocalizedText | None:
    """A spoken line: a plain string, or {languageTag: text} with at least one entry."""
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.error(path, f"is required: {required}")
        return None
    if isinstance(value, str):
        return _checked_text(value, path, problems, ANY_LANGUAGE)
    if not isinstance(value, Mapping):
        problems.error(path, f"expected a string or an object of language → text, got {json_type(value)}")
        return None
    if not value:
        problems.error(path, "has no text: give a string or at least one language")
        return None
    entries: list[tuple[str, str]] = []
    for raw_tag, text in value.items():
        tag = normalize_tag(raw_tag) if isinstance(raw_tag, str) else None
        where = f"{path}.{raw_tag}"
        if tag is None:
            problems.error(where, f"{raw_tag!r} is not a BCP-47 language tag like 'en-US' or 'zh-HK'")
        elif any(tag == seen for seen, _ in entries):
            problems.error(where, f"language {tag!r} is given twice")
        elif not isinstance(text, str) or not text.strip():
            problems.error(where, f"expected non-empty text, got {json_type(text)}")
        elif checked := _checked_text(text, where, problems, tag):
            entries.append(checked.texts[0])
    return LocalizedText(tuple(entries)) if len(entries) == len(value) else None


def _checked_text(text: str, path: str, problems: Problems, tag: str) -> LocalizedText | None:
    text = text.strip()
    if len(text) > MAX_SPOKEN_TEXT:
        problems.error(path, f"is {len(text)} characters long; the limit is {MAX_SPOKEN_TEXT}")
        return None
    before = len(problems.errors)
    check_template(text, path, problems)
    return LocalizedText(((tag, text),)) if len(problems.errors) == before else None
