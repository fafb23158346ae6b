"""ConversationRelay messages: inbound frames parsed and checked, outbound frames built.

Inbound frames come from Twilio; a malformed one is reported as a ProtocolError (logged by the caller,
never raised out of the handler). Frames are read by kimiyi.inputs.parse_json, so a frame nested too
deep, holding text that is not Unicode (a lone surrogate escape), NaN or an unconvertible number is a
ProtocolError too, never a RecursionError or a failure later in hashing or DynamoDB. Outbound frames are plain dicts serialised once, compactly.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..inputs import JsonInputError, clip, parse_json, whole_number

MAX_FRAME_BYTES = 32 * 1024  # API Gateway's WebSocket frame limit
MAX_MESSAGE_BYTES = 128 * 1024  # and its message limit (frames joined)
MAX_DURATION_MS = 24 * 3600 * 1000  # no utterance outlasts a call
# One caller utterance, as the speech-to-text gives it: about four minutes of English at 150 words a
# minute, more in CJK. Twilio documents no limit; one frame may hold up to 128 KB. A longer voicePrompt is
# cut here (and logged), so the turn still answers the caller, and the call's stored state stays small.
MAX_VOICE_PROMPT_CHARS = 4_000
_DIGITS = re.compile(r"^[0-9w#*]+$")
log = logging.getLogger(__name__)


class ProtocolError(ValueError):
    """A frame Twilio sent that cannot be acted on; the message says what is wrong."""


@dataclass(frozen=True)
class Setup:
    call_sid: str
    session_id: str = ""
    from_number: str = ""
    to_number: str = ""
    direction: str = ""
    custom_parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Prompt:
    text: str
    language: str | None
    last: bool


@dataclass(frozen=True)
class Dtmf:
    digit: str


@dataclass(frozen=True)
class Interrupt:
    utterance_until_interrupt: str
    duration_until_interrupt_ms: int | None


@dataclass(frozen=True)
class RelayError:
    description: str


@dataclass(frozen=True)
class Info:
    payload: dict[str, Any]


@dataclass(frozen=True)
class Unknown:
    type: str
    payload: dict[str, Any]


Inbound = Setup | Prompt | Dtmf | Interrupt | RelayError | Info | Unknown


def _text(message: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = message.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        kind = "missing" if value is None else f"a {type(value).__name__}, not a string"
        raise ProtocolError(f"{message.get('type')}: '{key}' is {kind}")
    return value


def parse(body: str | bytes | None) -> Inbound:
    """Parses one WebSocket frame from ConversationRelay."""
    if body is None or body == "":
        raise ProtocolError("empty frame")
    try:
        message = parse_json(body, max_size=MAX_MESSAGE_BYTES, what="the frame")
    except JsonInputError as error:
        raise ProtocolError(error.message) from None
    if not isinstance(message, dict):
        raise ProtocolError(f"frame is a JSON {type(message).__name__}, not an object")
    kind = message.get("type")
    if not isinstance(kind, str) or not kind:
        raise ProtocolError("frame has no 'type'")
    if kind == "setup":
        custom = message.get("customParameters") or {}
        if not isinstance(custom, dict):
            raise ProtocolError("setup: 'customParameters' is not an object")
        return Setup(
            call_sid=_text(message, "callSid"),
            session_id=_text(message, "sessionId", required=False),
            from_number=_text(message, "from", required=False),
            to_number=_text(message, "to", required=False),
            direction=_text(message, "direction", required=False),
            custom_parameters={str(k): str(v) for k, v in custom.items()},
        )
    if kind == "prompt":
        last = message.get("last", True)
        if not isinstance(last, bool):
            raise ProtocolError("prompt: 'last' is not a boolean")
        lang = message.get("lang")
        return Prompt(
            text=_voice_prompt(message), language=lang if isinstance(lang, str) else None, last=last
        )
    if kind == "dtmf":
        digit = _text(message, "digit")
        if not re.fullmatch(r"[0-9#*]", digit):
            raise ProtocolError(f"dtmf: {digit!r} is not a key on a phone keypad")
        return Dtmf(digit)
    if kind == "interrupt":
        return Interrupt(
            utterance_until_interrupt=_text(message, "utteranceUntilInterrupt", required=False),
            duration_until_interrupt_ms=_milliseconds(message.get("durationUntilInterruptMs")),
        )
    if kind == "error":
        return RelayError(_text(message, "description", required=False) or json.dumps(message)[:500])
    if kind == "info":
        return Info(message)
    return Unknown(kind, message)


def _voice_prompt(message: dict[str, Any]) -> str:
    said = _text(message, "voicePrompt")
    if len(said) <= MAX_VOICE_PROMPT_CHARS:
        return said
    kept = clip(said, MAX_VOICE_PROMPT_CHARS)
    log.warning(
        "voicePrompt of %s characters cut to %s (the limit is %s)",
        f"{len(said):,}",
        f"{len(kept):,}",
        f"{MAX_VOICE_PROMPT_CHARS:,}",
    )
    return kept


def _milliseconds(value: Any) -> int | None:
    """durationUntilInterruptMs has been seen both as a number and as a string ("460", maybe "460.5");
    anything else, or outside 0 to a day, is None. (int(float(x)) raised OverflowError for 1e400.)"""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):  # compared as an int: math.isfinite(10**400) raises too
        return value if 0 <= value <= MAX_DURATION_MS else None
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and 0 <= value <= MAX_DURATION_MS else None
    if isinstance(value, str):
        whole, dot, fraction = value.strip().partition(".")
        if dot and whole_number(fraction, high=10 ** len(fraction)) is None:
            return None
        return whole_number(whole, high=MAX_DURATION_MS)
    return None


# --- the handshake ------------------------------------------------------------------------------------
TRACKING_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")  # what make-call and inbound calls mint


def handshake_query(event: dict[str, Any]) -> list[tuple[str, str]]:
    """The $connect query as (name, value) pairs, every value of a repeated name included: API Gateway
    lists them in multiValueQueryStringParameters, and queryStringParameters keeps one. A value found in
    only one of the two (a hand-made event) is kept too, so nothing in the event goes unchecked."""
    multi = event.get("multiValueQueryStringParameters") or {}
    pairs = [(str(name), str(value)) for name, values in multi.items() for value in values or [""]]
    for name, value in (event.get("queryStringParameters") or {}).items():
        if (str(name), str(value)) not in pairs:
            pairs.append((str(name), str(value)))
    return pairs


def handshake_tracking_id(query: list[tuple[str, str]]) -> str:
    """The call a signed handshake is for; ProtocolError when the query names none we could have issued."""
    values = [value for name, value in query if name == "trackingId"]
    if len(values) != 1 or len(query) != 1:
        raise ProtocolError(f"the query must be exactly one trackingId, not {len(query)} parameters")
    if not TRACKING_ID.fullmatch(values[0]):
        raise ProtocolError(f"{values[0][:64]!r} is not a trackingId (1-128 letters, digits, '_' or '-')")
    return values[0]


def dumps(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def text(
    token: str, *, last: bool, language: str | None = None, interruptible: bool = True
) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "text", "token": token, "last": last, "interruptible": interruptible}
    if language:
        message["lang"] = language
    return message


def end(handoff: dict[str, Any]) -> dict[str, Any]:
    return {"type": "end", "handoffData": json.dumps(handoff, ensure_ascii=False)}


def switch_language(code: str) -> dict[str, Any]:
    return {"type": "language", "ttsLanguage": code, "transcriptionLanguage": code}


def send_digits(digits: str) -> dict[str, Any]:
    if not _DIGITS.fullmatch(digits):
        raise ValueError(f"sendDigits takes 0-9, w, # and * only, not {digits!r}")
    return {"type": "sendDigits", "digits": digits}
