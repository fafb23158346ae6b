"""The workflow's `config`: language, voice, LLM and call settings, every one with a default and limits.

Unknown keys are rejected (with a "did you mean" hint): a misspelt `temprature` silently ignored
would leave a call running on a setting nobody chose. Languages must be ones the language table
resolves (kimiyi.languages): a call in a language with no voice, speech model or holding phrase could
not be answered, so it is refused here, when the workflow arrives, rather than when the call does.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..languages import UnknownLanguageError, get_language
from .errors import Problems, json_type
from .fields import Scalar, read_bool, read_choice, read_list, read_number, read_str
from .langtags import normalize_tag
from .variables import parse_variables

PROVIDERS = ("azure", "openai", "compatible", "scripted")
INTERRUPT_MODES = ("any", "speech", "dtmf", "none")
MAX_LANGUAGES = 10
MAX_HINTS = 100
MAX_HINT_LENGTH = 100


@dataclass(frozen=True)
class WorkflowConfig:
    language: str = "en-US"
    languages: tuple[str, ...] = ()  # other languages the call may switch to
    voice: str | None = None  # overrides the language table's voice for `language`
    tts_provider: str | None = None
    transcription_provider: str | None = None
    speech_model: str | None = None
    hints: tuple[str, ...] = ()
    model: str | None = None
    temperature: float = 0.4
    max_tokens: int = 150
    provider_order: tuple[str, ...] = PROVIDERS
    first_token_timeout_ms: int = 1500
    max_turns: int = 50
    max_call_seconds: int = 600
    ring_timeout_seconds: int = 60
    interruptible: str = "any"
    interrupt_sensitivity: str | None = None
    welcome_greeting_interruptible: str = "any"
    dtmf_detection: bool = True
    mode: str = "streaming"
    cache_responses: bool = True
    record_call: bool = False
    machine_detection: str = "off"
    variables: Mapping[str, Scalar] = field(default_factory=dict, compare=False)

    @property
    def all_languages(self) -> tuple[str, ...]:
        """The main language first, then the others, without repeats."""
        return tuple(dict.fromkeys((self.language, *self.languages)))

    def to_json(self, *, include_variables: bool = True) -> dict[str, Any]:
        shape = {json_name: getattr(self, attr) for json_name, attr in FIELDS.items()}
        shape["languages"] = list(self.languages)
        shape["hints"] = list(self.hints)
        shape["providerOrder"] = list(self.provider_order)
        if include_variables:
            shape["variables"] = dict(self.variables)
        else:
            del shape["variables"]
        return shape


# JSON name → attribute; the JSON names are what users write (camelCase, like the rest of the body).
FIELDS = {
    "language": "language",
    "languages": "languages",
    "voice": "voice",
    "ttsProvider": "tts_provider",
    "transcriptionProvider": "transcription_provider",
    "speechModel": "speech_model",
    "hints": "hints",
    "model": "model",
    "temperature": "temperature",
    "maxTokens": "max_tokens",
    "providerOrder": "provider_order",
    "firstTokenTimeoutMs": "first_token_timeout_ms",
    "maxTurns": "max_turns",
    "maxCallSeconds": "max_call_seconds",
    "ringTimeoutSeconds": "ring_timeout_seconds",
    "interruptible": "interruptible",
    "interruptSensitivity": "interrupt_sensitivity",
    "welcomeGreetingInterruptible": "welcome_greeting_interruptible",
    "dtmfDetection": "dtmf_detection",
    "mode": "mode",
    "cacheResponses": "cache_responses",
    "recordCall": "record_call",
    "machineDetection": "machine_detection",
    "variables": "variables",
}

# (low, high, whole number?) for each numeric field.
_RANGES = {
    "temperature": (0, 2, False),
    "maxTokens": (1, 1024, True),
    "firstTokenTimeoutMs": (100, 10_000, True),
    "maxTurns": (1, 500, True),
    "maxCallSeconds": (30, 14_400, True),  # Twilio's time_limit tops out at four hours
    "ringTimeoutSeconds": (5, 600, True),
}
_CHOICES = {
    "ttsProvider": ("Google", "Amazon", "ElevenLabs"),
    "transcriptionProvider": ("Google", "Deepgram"),
    "interruptSensitivity": ("low", "medium", "high"),
    "welcomeGreetingInterruptible": INTERRUPT_MODES,
    "mode": ("streaming", "classic"),
    "machineDetection": ("off", "Enable", "DetectMessageEnd"),
}
_STRINGS = {"voice": 100, "speechModel": 100, "model": 100}
_BOOLS = ("dtmfDetection", "cacheResponses", "recordCall")


def parse_config(raw: object, problems: Problems) -> WorkflowConfig:
    if raw is None:
        return WorkflowConfig()
    if not isinstance(raw, Mapping):
        problems.error("config", f"expected an object, got {json_type(raw)}")
        return WorkflowConfig()
    for key in raw:
        if key not in FIELDS:
            close = difflib.get_close_matches(str(key), FIELDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(FIELDS)}"
            problems.error(f"config.{key}", f"unknown config key {key!r}{hint}")
    values: dict[str, Any] = {}
    for key, (low, high, integer) in _RANGES.items():
        values[key] = read_number(raw, key, f"config.{key}", problems, low=low, high=high, integer=integer)
    for key, choices in _CHOICES.items():
        values[key] = read_choice(raw, key, f"config.{key}", problems, choices)
    for key, limit in _STRINGS.items():
        values[key] = read_str(raw, key, f"config.{key}", problems, max_len=limit)
    for key in _BOOLS:
        values[key] = read_bool(raw, key, f"config.{key}", problems)
    values["language"] = _language(raw.get("language"), "config.language", problems)
    values["languages"] = _languages(raw, problems)
    values["hints"] = _hints(raw, problems)
    values["providerOrder"] = _provider_order(raw, problems)
    values["interruptible"] = _interruptible(raw, problems)
    values["variables"] = parse_variables(raw.get("variables"), "config.variables", problems)
    given = {FIELDS[key]: value for key, value in values.items() if value is not None}
    if "temperature" in given:
        given["temperature"] = float(given["temperature"])
    return WorkflowConfig(**given)


def _language(value: object, path: str, problems: Problems) -> str | None:
    if value is None:
        return None
    tag = normalize_tag(value) if isinstance(value, str) else None
    if tag is None:
        shown = repr(value) if isinstance(value, str) else json_type(value)
        problems.error(path, f"{shown} is not a BCP-47 language tag like 'en-US' or 'zh-HK'")
        return None
    try:
        get_language(tag)
    except UnknownLanguageError:
        problems.error(
            path,
            f"{tag!r} is not a language of the language table, so a call could not be spoken or heard "
            "in it (its locales and their aliases: docs/languages.md)",
        )
        return None
    return tag


def _languages(raw: Mapping[str, Any], problems: Problems) -> tuple[str, ...] | None:
    items = read_list(raw, "languages", "config.languages", problems)
    if items is None:
        return None
    if len(items) > MAX_LANGUAGES:
        problems.error("config.languages", f"lists {len(items)} languages; the limit is {MAX_LANGUAGES}")
    tags: list[str] = []
    for index, item in enumerate(items):
        tag = _language(item, f"config.languages[{index}]", problems)
        if tag in tags:
            problems.error(f"config.languages[{index}]", f"{tag!r} is listed twice")
        elif tag:
            tags.append(tag)
    return tuple(tags)


def _hints(raw: Mapping[str, Any], problems: Problems) -> tuple[str, ...] | None:
    items = read_list(raw, "hints", "config.hints", problems)
    if items is None:
        return None
    if len(items) > MAX_HINTS:
        problems.error("config.hints", f"lists {len(items)} hints; the limit is {MAX_HINTS}")
    hints = []
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item.strip() or len(item) > MAX_HINT_LENGTH or "," in item:
            problems.error(
                f"config.hints[{index}]",
                f"expected a word or phrase of at most {MAX_HINT_LENGTH} characters with no comma",
            )
        else:
            hints.append(item.strip())
    return tuple(hints)


def _provider_order(raw: Mapping[str, Any], problems: Problems) -> tuple[str, ...] | None:
    items = read_list(raw, "providerOrder", "config.providerOrder", problems)
    if items is None:
        return None
    if not items:
        problems.error("config.providerOrder", f"must name at least one of {', '.join(PROVIDERS)}")
    order: list[str] = []
    for index, item in enumerate(items):
        where = f"config.providerOrder[{index}]"
        if item not in PROVIDERS:
            shown = repr(item) if isinstance(item, str) else json_type(item)
            problems.error(where, f"unknown provider {shown}; expected one of {', '.join(PROVIDERS)}")
        elif item in order:
            problems.error(where, f"{item!r} is listed twice")
        else:
            order.append(item)
    # The scripted responder is the floor under every chain, so a call never goes silent.
    if "scripted" not in order:
        order.append("scripted")
    return tuple(order)


def _interruptible(raw: Mapping[str, Any], problems: Problems) -> str | None:
    value = raw.get("interruptible")
    if isinstance(value, bool):
        return "any" if value else "none"
    return read_choice(raw, "interruptible", "config.interruptible", problems, INTERRUPT_MODES)
