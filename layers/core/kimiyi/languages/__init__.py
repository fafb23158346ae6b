"""The language table: what each language sounds like on a call, and how to tell languages apart.

The table itself is data (`languages.json`, documented in docs/languages.md): per language, the Twilio
ConversationRelay TTS/STT settings, the classic `<Say>`/`<Gather>` settings, the marks that end a
speakable clause, a line of system-prompt guidance, and a holding phrase for the scripted responder. It is
read and checked once, on first use, and every lookup after that is a dict access.

Codes are matched case-insensitively, with "_" read as "-"; aliases resolve to their entry, a script
subtag is dropped when the exact code is unknown ("sr-Latn-RS" -> "sr-RS"), and an unknown region falls
back to the language's default entry (the one listing the bare language as an alias: "es-419" -> "es" ->
es-MX).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .detect import classify_chinese, han_variant, script_hint, script_of

__all__ = [
    "DEEPGRAM_SPEECH_MODELS",
    "GATHER_SPEECH_MODELS",
    "GOOGLE_SPEECH_MODELS",
    "STT_PROVIDERS",
    "TTS_PROVIDERS",
    "ClassicVoice",
    "Language",
    "LanguageTableError",
    "RelayVoice",
    "UnknownLanguageError",
    "all_languages",
    "classify_chinese",
    "detect_language_switch",
    "get_language",
    "han_variant",
    "holding_phrase_for",
    "parse_table",
    "repeat_request_for",
    "resolve_code",
    "script_of",
]

TABLE_PATH = Path(__file__).with_name("languages.json")

TTS_PROVIDERS = frozenset({"Google", "Amazon", "ElevenLabs"})
STT_PROVIDERS = frozenset({"Google", "Deepgram"})
# ConversationRelay rejects a provider/model pair it does not know (error, then hang-up), so the table
# only accepts models of the provider named next to them.
DEEPGRAM_SPEECH_MODELS = frozenset({"nova-3-general", "nova-2-general", "nova-3", "nova-2", "flux"})
GOOGLE_SPEECH_MODELS = frozenset({"telephony", "telephony_short", "long", "short", "chirp_2", "chirp_3"})
# <Gather speechModel> values Twilio documents.
GATHER_SPEECH_MODELS = frozenset(
    {
        "default",
        "numbers_and_commands",
        "phone_call",
        "experimental_conversations",
        "experimental_utterances",
        "googlev2_long",
        "googlev2_short",
        "googlev2_telephony",
        "googlev2_telephony_short",
        "deepgram_nova-2",
        "deepgram_nova-3",
    }
)
_MODELS_BY_STT_PROVIDER = {"Deepgram": DEEPGRAM_SPEECH_MODELS, "Google": GOOGLE_SPEECH_MODELS}
# language[-extlang][-Script][-REGION], the subset of BCP-47 that speech providers use.
_LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(-[a-z]{3})?(-[a-z]{4})?(-([a-z]{2}|[0-9]{3}))?$", re.IGNORECASE)
# The ISO 15924 codes the table uses (Hant/Hans for Chinese, Jpan for Japanese, Kore for Korean).
_SCRIPTS = frozenset({"Latn", "Cyrl", "Grek", "Hant", "Hans", "Jpan", "Kore", "Arab", "Hebr", "Deva", "Beng", "Guru", "Gujr", "Taml", "Telu", "Knda", "Mlym", "Thai"})  # fmt: skip
_FALLBACK_HOLDING_PHRASE = "One moment, please."
_FALLBACK_REPEAT_REQUEST = "Sorry, could you say that again?"


class UnknownLanguageError(ValueError):
    """No entry of the language table matches the code, even after alias and region fallback."""


class LanguageTableError(ValueError):
    """The language table (languages.json) is malformed; the message names the entry and the field."""


@dataclass(frozen=True)
class RelayVoice:
    """ConversationRelay `<Language>` attributes: a provider/voice and provider/model pair Twilio accepts."""

    tts_provider: str
    voice: str
    transcription_provider: str
    speech_model: str


@dataclass(frozen=True)
class ClassicVoice:
    """Classic mode: the `<Say voice language>` and `<Gather language speechModel>` attributes."""

    say_voice: str
    say_language: str
    gather_language: str
    gather_speech_model: str


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    aliases: tuple[str, ...]
    relay: RelayVoice
    classic: ClassicVoice
    clause_delimiters: str
    prompt_guidance: str
    holding_phrase: str
    repeat_request: str  # asks the caller to say it again: what a reply cut short ends with
    script: str
    rtl: bool

    @property
    def family(self) -> str:
        """The spoken language: "yue" for Cantonese entries (zh-HK lists "yue"), else the primary subtag.

        zh-CN and zh-TW share "zh" (Mandarin): switching between them is a change of writing, not of
        the language the caller speaks.
        """
        if any(alias.lower() == "yue" for alias in self.aliases):
            return "yue"
        return self.code.split("-", 1)[0].lower()


# ---------------------------------------------------------------------------------------------------------
# Parsing and checking the table.


def _text(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise LanguageTableError(f"{where}: {key!r} must be a non-empty string, got {value!r}")
    return value


def _section(raw: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if not isinstance(value, Mapping):
        raise LanguageTableError(f"{where}: {key!r} must be an object, got {type(value).__name__}")
    return value


def _parse_relay(raw: Mapping[str, Any], where: str) -> RelayVoice:
    where = f"{where}.relay"
    relay = RelayVoice(
        tts_provider=_text(raw, "ttsProvider", where),
        voice=_text(raw, "voice", where),
        transcription_provider=_text(raw, "transcriptionProvider", where),
        speech_model=_text(raw, "speechModel", where),
    )
    if relay.tts_provider not in TTS_PROVIDERS:
        raise LanguageTableError(
            f"{where}: ttsProvider {relay.tts_provider!r} is not one of {sorted(TTS_PROVIDERS)}"
        )
    models = _MODELS_BY_STT_PROVIDER.get(relay.transcription_provider)
    if models is None:
        raise LanguageTableError(
            f"{where}: transcriptionProvider {relay.transcription_provider!r} is not one of {sorted(STT_PROVIDERS)}"
        )
    if relay.speech_model not in models:
        raise LanguageTableError(
            f"{where}: speechModel {relay.speech_model!r} is not a {relay.transcription_provider} model "
            f"(one of {sorted(models)})"
        )
    return relay


def _parse_classic(raw: Mapping[str, Any], where: str) -> ClassicVoice:
    where = f"{where}.classic"
    classic = ClassicVoice(
        say_voice=_text(raw, "sayVoice", where),
        say_language=_text(raw, "sayLanguage", where),
        gather_language=_text(raw, "gatherLanguage", where),
        gather_speech_model=_text(raw, "gatherSpeechModel", where),
    )
    if not classic.say_voice.startswith(("Polly.", "Google.")):
        raise LanguageTableError(
            f"{where}: sayVoice {classic.say_voice!r} must be a Twilio <Say> voice: 'Polly.<Name>' or 'Google.<name>'"
        )
    if classic.gather_speech_model not in GATHER_SPEECH_MODELS:
        raise LanguageTableError(
            f"{where}: gatherSpeechModel {classic.gather_speech_model!r} is not a Twilio <Gather> model "
            f"(one of {sorted(GATHER_SPEECH_MODELS)})"
        )
    for key, value in (("sayLanguage", classic.say_language), ("gatherLanguage", classic.gather_language)):
        if not _LANGUAGE_TAG.match(value):
            raise LanguageTableError(f"{where}: {key} {value!r} is not a language tag")
    return classic


def _parse_entry(raw: Any, index: int) -> Language:
    if not isinstance(raw, Mapping):
        raise LanguageTableError(f"languages[{index}] must be an object, got {type(raw).__name__}")
    code = _text(raw, "code", f"languages[{index}]")
    where = f"languages[{index}] ({code})"
    if not _LANGUAGE_TAG.match(code):
        raise LanguageTableError(f"{where}: code {code!r} is not a BCP-47 language tag like 'en-US'")
    aliases = raw.get("aliases")
    if not isinstance(aliases, list) or not all(
        isinstance(a, str) and _LANGUAGE_TAG.match(a) for a in aliases
    ):
        raise LanguageTableError(f"{where}: 'aliases' must be a list of language tags, got {aliases!r}")
    script = _text(raw, "script", where)
    if script not in _SCRIPTS:
        raise LanguageTableError(f"{where}: script {script!r} is not one of {sorted(_SCRIPTS)}")
    rtl = raw.get("rtl")
    if not isinstance(rtl, bool):
        raise LanguageTableError(f"{where}: 'rtl' must be true or false, got {rtl!r}")
    delimiters = _text(raw, "clauseDelimiters", where)
    if any(char.isalnum() or char.isspace() for char in delimiters):
        raise LanguageTableError(f"{where}: clauseDelimiters must be punctuation only, got {delimiters!r}")
    return Language(
        code=code,
        name=_text(raw, "name", where),
        aliases=tuple(aliases),
        relay=_parse_relay(_section(raw, "relay", where), where),
        classic=_parse_classic(_section(raw, "classic", where), where),
        clause_delimiters=delimiters,
        prompt_guidance=_text(raw, "promptGuidance", where),
        holding_phrase=_text(raw, "holdingPhrase", where),
        repeat_request=_text(raw, "repeatRequest", where),
        script=script,
        rtl=rtl,
    )


def _key(code: str) -> str:
    return code.strip().replace("_", "-").lower()


def parse_table(data: Any) -> tuple[Language, ...]:
    """Check a decoded languages.json document and build its entries; raises LanguageTableError."""
    if not isinstance(data, Mapping) or not isinstance(data.get("languages"), list):
        raise LanguageTableError("the language table must be an object with a 'languages' list")
    languages = tuple(_parse_entry(raw, index) for index, raw in enumerate(data["languages"]))
    if not languages:
        raise LanguageTableError("the language table lists no languages")
    owner: dict[str, str] = {}
    for language in languages:
        for name in (language.code, *language.aliases):
            key = _key(name)
            if key in owner and owner[key] != language.code:
                raise LanguageTableError(f"{name!r} is claimed by both {owner[key]} and {language.code}")
            if key in owner and name != language.code:
                raise LanguageTableError(f"{language.code}: alias {name!r} is listed twice")
            owner[key] = language.code
    return languages


@cache
def _table() -> tuple[tuple[Language, ...], dict[str, Language]]:
    with TABLE_PATH.open(encoding="utf-8") as handle:
        languages = parse_table(json.load(handle))
    index = {_key(name): language for language in languages for name in (language.code, *language.aliases)}
    return languages, index


# ---------------------------------------------------------------------------------------------------------
# Lookups.


def all_languages() -> tuple[Language, ...]:
    return _table()[0]


def get_language(code: str) -> Language:
    """The entry for `code`: exact code or alias, then without a script subtag, then the language default."""
    if not isinstance(code, str):
        raise TypeError(f"a language code must be a str, got {type(code).__name__}")
    index = _table()[1]
    key = _key(code)
    found = index.get(key)
    if found is not None:
        return found
    parts = key.split("-")
    if len(parts) > 2 and len(parts[1]) == 4:  # zh-Hant-MO -> zh-MO, sr-Latn-RS -> sr-RS
        found = index.get("-".join([parts[0], *parts[2:]]))
        if found is not None:
            return found
    if len(parts) > 1 and parts[0]:
        found = index.get(parts[0])
        if found is not None:
            return found
    raise UnknownLanguageError(
        f"unknown language code {code!r}: no entry, alias or default for {parts[0]!r} in the language table"
    )


def resolve_code(code: str) -> str:
    """The canonical code of the entry `code` resolves to ("yue" -> "zh-HK", "es-419" -> "es-MX")."""
    return get_language(code).code


def holding_phrase_for(code: str) -> str:
    """The holding phrase in the language of `code`; English when the code is unknown, so never silent."""
    try:
        return get_language(code).holding_phrase
    except (UnknownLanguageError, TypeError):
        return _FALLBACK_HOLDING_PHRASE


def repeat_request_for(code: str) -> str:
    """ "Sorry, could you say that again?" in the language of `code`; English when the code is unknown."""
    try:
        return get_language(code).repeat_request
    except (UnknownLanguageError, TypeError):
        return _FALLBACK_REPEAT_REQUEST


# ---------------------------------------------------------------------------------------------------------
# Switching language mid-call.


def detect_language_switch(text: str, current_code: str, allowed_codes: Iterable[str]) -> str | None:
    """The allowed code to switch to when `text` is clearly in another allowed language, else None.

    Evidence comes from the text alone: Cantonese versus Mandarin by `classify_chinese`, other languages
    by their script (Hangul, kana, Arabic, Cyrillic, Devanagari, Thai, Hebrew, Greek ...), with letters
    unique to one language breaking ties between languages that share a script (Ukrainian і/ї/є). Latin
    script is never guessed from text. The result is spelled as in `allowed_codes` and is never a code
    of the current language. Unknown codes raise UnknownLanguageError, so check them at call setup.
    """
    current = get_language(current_code)
    allowed = [(code, get_language(code)) for code in allowed_codes]
    script = script_of(text)
    if script is None or script == "Latn":
        return None
    if script in ("Hani", "Hant", "Hans"):
        variety = classify_chinese(text)
        if variety is None:
            return None
        family = "yue" if variety == "yue" else "zh"
        candidates = [(code, language) for code, language in allowed if language.family == family]
        # zh-CN or zh-TW: the one written like the text, when both are allowed.
        candidates.sort(key=lambda pair: pair[1].script != script)
    else:
        candidates = [(code, language) for code, language in allowed if language.script == script]
        if len({language.family for _, language in candidates}) > 1:
            hint = script_hint(text, script)
            candidates = [(code, language) for code, language in candidates if language.family == hint]
            if len({language.family for _, language in candidates}) != 1:
                return None
    if any(language.family == current.family for _, language in candidates):
        return None  # the caller still speaks the current language
    return candidates[0][0] if candidates else None
