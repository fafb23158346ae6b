"""The language table (data checks), code lookup, Cantonese/Mandarin classification and language switching."""

from __future__ import annotations

import copy
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kimiyi.chunking import ClauseChunker
from kimiyi.languages import (
    DEEPGRAM_SPEECH_MODELS,
    GATHER_SPEECH_MODELS,
    GOOGLE_SPEECH_MODELS,
    STT_PROVIDERS,
    TABLE_PATH,
    TTS_PROVIDERS,
    Language,
    LanguageTableError,
    UnknownLanguageError,
    all_languages,
    classify_chinese,
    detect_language_switch,
    get_language,
    holding_phrase_for,
    parse_table,
    resolve_code,
    script_of,
)

BCP47 = re.compile(r"^[a-z]{2,3}(-[a-z]{3})?(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$")
CODES = [language.code for language in all_languages()]


def raw_table() -> dict:
    return json.loads(TABLE_PATH.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------------------
# The data.


def test_the_table_has_at_least_fifty_languages() -> None:
    assert len(all_languages()) >= 50
    assert len(set(CODES)) == len(CODES)


@pytest.mark.parametrize("code", CODES)
def test_every_entry_is_complete_and_well_typed(code: str) -> None:
    language = get_language(code)
    assert isinstance(language, Language)
    for value in (
        language.name,
        language.clause_delimiters,
        language.prompt_guidance,
        language.holding_phrase,
        language.script,
        language.relay.tts_provider,
        language.relay.voice,
        language.relay.transcription_provider,
        language.relay.speech_model,
        language.classic.say_voice,
        language.classic.say_language,
        language.classic.gather_language,
        language.classic.gather_speech_model,
    ):
        assert isinstance(value, str)
        assert value.strip() == value
        assert value
    assert isinstance(language.rtl, bool)
    assert isinstance(language.aliases, tuple)
    assert all(isinstance(alias, str) and alias for alias in language.aliases)


@pytest.mark.parametrize("code", CODES)
def test_codes_and_aliases_are_well_formed_language_tags(code: str) -> None:
    language = get_language(code)
    assert BCP47.match(language.code), language.code
    for alias in language.aliases:
        assert re.match(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,4})*$", alias), alias


def test_no_code_or_alias_is_claimed_twice() -> None:
    seen: dict[str, str] = {}
    for language in all_languages():
        for name in (language.code, *language.aliases):
            key = name.lower()
            assert key not in seen, f"{name} is claimed by {seen.get(key)} and {language.code}"
            seen[key] = language.code


@pytest.mark.parametrize("code", CODES)
def test_providers_and_models_are_pairs_twilio_accepts(code: str) -> None:
    relay = get_language(code).relay
    assert relay.tts_provider in TTS_PROVIDERS
    assert relay.transcription_provider in STT_PROVIDERS
    if relay.transcription_provider == "Deepgram":
        assert relay.speech_model in DEEPGRAM_SPEECH_MODELS
    else:
        assert relay.speech_model in GOOGLE_SPEECH_MODELS
    if relay.tts_provider == "Google":
        # Google voice names start with their own locale: en-US-Chirp3-HD-Aoede, cmn-TW-Standard-A.
        assert re.match(r"^[a-z]{2,3}-[A-Z]{2}-(Chirp3-HD|Standard|Neural2|Wavenet)-[A-Za-z]+$", relay.voice)
    elif relay.tts_provider == "Amazon":
        assert re.match(r"^[A-Z][a-z]+-Neural$", relay.voice)
    classic = get_language(code).classic
    assert re.match(
        r"^(Polly\.[A-Z][a-z]+(-Neural)?|Google\.[a-z]{2,3}-[A-Z]{2}-[A-Za-z0-9]+-[A-Z])$", classic.say_voice
    )
    assert classic.gather_speech_model in GATHER_SPEECH_MODELS


def test_deepgram_gather_models_use_deepgram_codes() -> None:
    # <Gather language> is passed unchanged to the provider: Deepgram wants its own codes ("es-419", "no").
    deepgram_codes = {"en-NZ", "es-419", "fr", "de", "it", "nl-BE", "sv-SE", "no", "cs", "sk", "hu", "bg", "el",
                      "ca", "zh-HK", "zh-CN", "zh-TW", "id", "ms"}  # fmt: skip
    for language in all_languages():
        if language.classic.gather_speech_model.startswith("deepgram_"):
            assert language.classic.gather_language in deepgram_codes, language.code


@pytest.mark.parametrize("code", CODES)
def test_clause_delimiters_suit_the_script_and_the_chunker(code: str) -> None:
    language = get_language(code)
    ClauseChunker(language.clause_delimiters)  # the chunker refuses letters, digits and spaces
    assert set(".!?,") <= set(language.clause_delimiters)
    if language.script in ("Hant", "Hans", "Jpan"):
        assert set("，。！？；：、") <= set(language.clause_delimiters)
    if language.code in ("hi-IN", "bn-IN", "mr-IN", "pa-IN"):
        assert "।" in language.clause_delimiters
    if language.script == "Arab":
        assert set("؟،") <= set(language.clause_delimiters)
    assert language.rtl == (language.script in ("Arab", "Hebr"))


def test_cantonese_is_first_class() -> None:
    cantonese = get_language("zh-HK")
    assert {"yue-HK", "yue", "zh-yue", "yue-Hant-HK"} <= set(cantonese.aliases)
    assert cantonese.script == "Hant"
    assert cantonese.family == "yue"
    assert cantonese.relay.tts_provider == "Google"
    assert cantonese.relay.voice.startswith("yue-HK-")
    assert (cantonese.relay.transcription_provider, cantonese.relay.speech_model) == (
        "Deepgram",
        "nova-3-general",
    )
    assert (cantonese.classic.say_voice, cantonese.classic.say_language) == ("Polly.Hiujin-Neural", "yue-CN")
    assert (cantonese.classic.gather_language, cantonese.classic.gather_speech_model) == (
        "zh-HK",
        "deepgram_nova-2",
    )
    for marker in ("口語粵語", "係", "唔", "嘅", "咗", "喺", "Traditional"):
        assert marker in cantonese.prompt_guidance
    assert classify_chinese(cantonese.holding_phrase) == "yue"


def test_mandarin_entries_are_distinct_from_cantonese() -> None:
    mainland, taiwan = get_language("zh-CN"), get_language("zh-TW")
    assert (mainland.script, taiwan.script) == ("Hans", "Hant")
    assert mainland.family == taiwan.family == "zh"
    assert mainland.relay.voice.startswith("cmn-CN-") and taiwan.relay.voice.startswith("cmn-TW-")
    assert "yue" not in mainland.relay.voice + taiwan.relay.voice
    assert classify_chinese(mainland.holding_phrase) != "yue"


def test_the_shipped_json_passes_the_checker() -> None:
    assert parse_table(raw_table()) == all_languages()


# ---------------------------------------------------------------------------------------------------------
# Malformed tables give errors that name the entry and the field.


def broken(mutate) -> dict:
    data = copy.deepcopy(raw_table())
    mutate(data)
    return data


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["languages"][0].pop("holdingPhrase"),
            r"en-US.*'holdingPhrase' must be a non-empty string",
        ),
        (lambda d: d["languages"][0].update(name="  "), r"'name' must be a non-empty string"),
        (lambda d: d["languages"][0].update(code="english"), r"'english' is not a BCP-47"),
        (lambda d: d["languages"][0].update(rtl="no"), r"'rtl' must be true or false"),
        (lambda d: d["languages"][0].update(aliases="en"), r"'aliases' must be a list"),
        (lambda d: d["languages"][0].update(script="Latin"), r"script 'Latin'"),
        (lambda d: d["languages"][0].update(clauseDelimiters=". ,"), r"punctuation only"),
        (lambda d: d["languages"][0].update(relay=[]), r"'relay' must be an object"),
        (lambda d: d["languages"][0]["relay"].update(ttsProvider="Azure"), r"ttsProvider 'Azure'"),
        (lambda d: d["languages"][0]["relay"].update(transcriptionProvider="Whisper"), r"'Whisper'"),
        (
            lambda d: d["languages"][0]["relay"].update(speechModel="telephony"),
            r"'telephony' is not a Deepgram model",
        ),
        (
            lambda d: d["languages"][0]["relay"].update(transcriptionProvider="Google"),
            r"'nova-3-general' is not a Google model",
        ),
        (lambda d: d["languages"][0]["classic"].update(sayVoice="Joanna"), r"sayVoice 'Joanna'"),
        (
            lambda d: d["languages"][0]["classic"].update(gatherSpeechModel="nova-3"),
            r"gatherSpeechModel 'nova-3'",
        ),
        (
            lambda d: d["languages"][0]["classic"].update(gatherLanguage="English"),
            r"gatherLanguage 'English'",
        ),
        (lambda d: d["languages"][1]["aliases"].append("EN"), r"'EN' is claimed by both en-US and en-GB"),
        (lambda d: d["languages"][0]["aliases"].append("en"), r"alias 'en' is listed twice"),
        (lambda d: d["languages"].append("fr-FR"), r"languages\[58\] must be an object"),
        (lambda d: d.update(languages=[]), r"lists no languages"),
        (lambda d: d.pop("languages"), r"'languages' list"),
    ],
)
def test_malformed_tables_are_refused_with_a_clear_message(mutate, message: str) -> None:
    with pytest.raises(LanguageTableError, match=message):
        parse_table(broken(mutate))


# ---------------------------------------------------------------------------------------------------------
# Lookup.


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("zh-HK", "zh-HK"),
        ("yue", "zh-HK"),
        ("yue-HK", "zh-HK"),
        ("zh-yue", "zh-HK"),
        ("yue-Hant-HK", "zh-HK"),
        ("zh-MO", "zh-HK"),
        ("zh", "zh-CN"),
        ("cmn-Hans-CN", "zh-CN"),
        ("zh-Hant", "zh-TW"),
        ("cmn-Hant-TW", "zh-TW"),
        ("en", "en-US"),
        ("iw", "he-IL"),
        ("no", "nb-NO"),
        ("tl", "fil-PH"),
    ],
)
def test_aliases_resolve_to_their_entry(code: str, expected: str) -> None:
    assert resolve_code(code) == expected


@pytest.mark.parametrize("code", ["ZH-HK", "zh_hk", "zh_HK", " zh-hk ", "YUE_HK", "En_us"])
def test_lookup_ignores_case_underscores_and_surrounding_space(code: str) -> None:
    assert get_language(code) is get_language(code.strip().replace("_", "-").lower())
    assert get_language(code).code in ("zh-HK", "en-US")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("es-419", "es-MX"),  # the Spanish default (listed as "es")
        ("es-AR", "es-MX"),
        ("en-CA", "en-US"),
        ("fr-CH", "fr-FR"),
        ("de-CH", "de-DE"),
        ("pt-AO", "pt-BR"),
        ("ar-SA", "ar-AE"),
        ("yue-Hant-MO", "zh-HK"),  # script subtag dropped, then yue's default
        ("zh-Hant-MO", "zh-HK"),
        ("zh-Hans-SG", "zh-CN"),
        ("en-US-x-twilio", "en-US"),
    ],
)
def test_an_unknown_region_falls_back_to_the_language_default(code: str, expected: str) -> None:
    assert resolve_code(code) == expected


@pytest.mark.parametrize("code", ["xx-YY", "klingon", "", "   ", "-", "sr-RS", "q"])
def test_an_unknown_code_raises_an_error_naming_it(code: str) -> None:
    with pytest.raises(UnknownLanguageError, match=re.escape(repr(code))) as caught:
        get_language(code)
    assert isinstance(caught.value, ValueError)


def test_a_code_that_is_not_a_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="must be a str, got int"):
        get_language(42)  # type: ignore[arg-type]


def test_holding_phrases_never_fail() -> None:
    assert holding_phrase_for("yue") == get_language("zh-HK").holding_phrase
    assert holding_phrase_for("ja") == "少々お待ちください。"
    assert holding_phrase_for("xx-YY") == "One moment, please."
    assert holding_phrase_for(None) == "One moment, please."  # type: ignore[arg-type]


def test_all_languages_is_loaded_once() -> None:
    assert all_languages() is all_languages()
    assert get_language("en-US") is all_languages()[CODES.index("en-US")]


# ---------------------------------------------------------------------------------------------------------
# Cantonese versus Mandarin.

CANTONESE = [
    "我想改期，聽日得唔得呀？",
    "你哋幾點開門？",
    "唔該，我想預約星期六下晝。",
    "佢而家唔喺度，你遲啲再打嚟啦。",
    "我冇收到你哋嘅短訊。",
    "點解張單咁貴嘅？",
    "我琴日已經畀咗錢。",
    "係咪要帶身份證去？",
    "你講乜嘢呀？我聽唔清楚。",
    "邊度可以泊車？",
    "我諗住下個禮拜先去。",
    "好呀，咁就噉樣啦。",
    "唔使喇，多謝晒。",
    "嗰間分店有冇位？",
    "我想搵陳醫生睇病。",
    "可唔可以幫我取消個預約？",
    "你而家喺邊度？",
    "呢度啲嘢好好食。",
    "我同埋我老婆一齊嚟。",
    "冇問題，搞掂咗喇。",
    "係",
    "唔該",
]

MANDARIN = [
    "我想改一下时间，明天可以吗？",
    "你们几点开门？",
    "他现在不在，你晚点再打过来吧。",
    "我没有收到你们的短信。",
    "为什么这张账单这么贵？",
    "我昨天已经付了钱。",
    "是不是要带身份证去？",
    "你说什么？我听不清楚。",
    "哪里可以停车？",
    "我想找陈医生看病。",
    # Traditional characters, Taiwan usage: still Mandarin.
    "我想取消明天的預約，可以嗎？",
    "請問你們幾點開門？",
    "我現在沒有空，晚一點再打給你。",
    "這個東西多少錢？",
    "謝謝你，我知道了。",
    "他們在門口等我們。",
    "我覺得這樣很好。",
    "沒關係，不用擔心。",
    "是",
    "谢谢",
]


@pytest.mark.parametrize("sentence", CANTONESE)
def test_colloquial_cantonese_is_cantonese(sentence: str) -> None:
    assert classify_chinese(sentence) == "yue"


@pytest.mark.parametrize("sentence", MANDARIN)
def test_mandarin_in_either_script_is_mandarin(sentence: str) -> None:
    assert classify_chinese(sentence) == "cmn"


@pytest.mark.parametrize(
    "text", ["你好", "好", "OK", "12345", "", "   ", "Hello, how are you?", "早晨，陳先生", "안녕하세요"]
)
def test_text_without_evidence_is_unclassified(text: str) -> None:
    assert classify_chinese(text) is None


def test_japanese_is_not_chinese() -> None:
    assert classify_chinese("今日は何時に開きますか？") is None


def test_shared_compounds_are_not_evidence() -> None:
    # 關係 holds a 係, 的士 a 的, 不過 a 不: none of them decides the variety.
    assert classify_chinese("關係") is None
    assert classify_chinese("的士") is None
    assert classify_chinese("不過") is None
    assert classify_chinese("搭的士嚟") == "yue"


def test_mixed_text_goes_to_the_weighted_majority() -> None:
    assert classify_chinese("我係你的朋友") == "yue"  # one strong Cantonese marker outweighs one 的
    assert classify_chinese("我唔知道他在哪里") == "cmn"  # one 唔 against 他, 在 and 哪里
    assert classify_chinese("OK，唔該") == "yue"
    assert classify_chinese("book 咗張枱") == "yue"


def test_a_tie_goes_to_cantonese() -> None:
    # 咁 (2) against 是 (2): Mandarin text almost never holds a Cantonese marker, so the marker wins.
    assert classify_chinese("咁是") == "yue"
    assert classify_chinese("咁是是") == "cmn"


def test_classify_chinese_refuses_non_text() -> None:
    with pytest.raises(TypeError, match="needs a str, got bytes"):
        classify_chinese(b"\xe4\xbd\xa0")  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_classify_chinese_never_raises_on_any_text(text: str) -> None:
    assert classify_chinese(text) in ("yue", "cmn", None)


# ---------------------------------------------------------------------------------------------------------
# Scripts and switching.


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("Hello there", "Latn"),
        ("我想预约", "Hans"),
        ("我想預約", "Hant"),
        ("好", "Hani"),
        ("予約したいです", "Jpan"),
        ("예약하고 싶어요", "Kore"),
        ("مرحبا، كيف حالك؟", "Arab"),
        ("שלום, מה שלומך?", "Hebr"),
        ("Здравствуйте", "Cyrl"),
        ("नमस्ते, कैसे हैं आप?", "Deva"),
        ("สวัสดีค่ะ", "Thai"),
        ("Καλημέρα σας", "Grek"),
        ("book 咗張枱", "Hani"),
        ("12345 !?", None),
        ("", None),
    ],
)
def test_script_of(text: str, script: str | None) -> None:
    assert script_of(text) == script


CALL = ["en-US", "zh-HK", "zh-CN", "zh-TW", "ko-KR", "ja-JP", "ar-AE", "ru-RU", "uk-UA", "hi-IN", "th-TH",
        "he-IL", "el-GR", "es-MX"]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "current", "expected"),
    [
        ("我想改一下时间，明天可以吗？", "zh-HK", "zh-CN"),
        ("我想取消明天的預約，可以嗎？", "zh-HK", "zh-TW"),  # Traditional Mandarin: the Taiwan entry
        ("我想改期，聽日得唔得呀？", "zh-CN", "zh-HK"),
        ("我想改期，聽日得唔得呀？", "en-US", "zh-HK"),
        ("我想改期，聽日得唔得呀？", "zh-HK", None),  # already Cantonese
        ("我想取消明天的預約，可以嗎？", "zh-CN", None),  # still Mandarin, only the writing differs
        ("你好", "en-US", None),  # Chinese, but which one?
        ("예약을 변경하고 싶어요", "en-US", "ko-KR"),
        ("予約を変更したいです", "en-US", "ja-JP"),
        ("أريد تغيير الموعد", "en-US", "ar-AE"),
        ("Вы можете перенести запись?", "en-US", "ru-RU"),  # ы is Russian only
        ("Я хочу змінити запис на п'ятницю", "ru-RU", "uk-UA"),  # і is Ukrainian only
        ("Добрий день", "en-US", None),  # Cyrillic without a telling letter: Russian or Ukrainian?
        ("मुझे अपॉइंटमेंट बदलनी है", "en-US", "hi-IN"),
        ("ขอเปลี่ยนนัดค่ะ", "en-US", "th-TH"),
        ("אני רוצה לשנות את התור", "en-US", "he-IL"),
        ("Θέλω να αλλάξω το ραντεβού", "en-US", "el-GR"),
        ("Quiero cambiar mi cita", "en-US", None),  # Latin script is never guessed
        ("I'd like to reschedule", "es-MX", None),
        ("안녕하세요", "ko-KR", None),
    ],
)
def test_detect_language_switch(text: str, current: str, expected: str | None) -> None:
    assert detect_language_switch(text, current, CALL) == expected


def test_switching_only_targets_allowed_languages_spelled_as_given() -> None:
    assert detect_language_switch("我想改一下时间，明天可以吗？", "yue-HK", ["yue-HK", "en-US"]) is None
    assert detect_language_switch("我冇收到你哋嘅短訊。", "en-US", ["en-US", "yue"]) == "yue"
    assert detect_language_switch("예약을 변경하고 싶어요", "en-US", ["en-US", "ja-JP"]) is None
    assert detect_language_switch("مرحبا", "en-US", []) is None


def test_switching_with_an_unknown_code_names_it() -> None:
    with pytest.raises(UnknownLanguageError, match="'xx-YY'"):
        detect_language_switch("你好", "en-US", ["en-US", "xx-YY"])
    with pytest.raises(UnknownLanguageError, match="'nope'"):
        detect_language_switch("你好", "nope", ["en-US"])


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.text(),
        st.sampled_from(
            CANTONESE + MANDARIN + ["예약", "予約です", "مرحبا", "Привіт", "Привет", "नमस्ते", "שלום"]
        ),
    ),
    current=st.sampled_from([*CODES, "yue", "zh_hk", "es-419"]),
    allowed=st.lists(st.sampled_from([*CODES, "yue", "ZH-CN", "cmn-Hant-TW"]), max_size=8),
)
def test_a_switch_is_always_allowed_and_never_the_current_language(
    text: str, current: str, allowed: list[str]
) -> None:
    result = detect_language_switch(text, current, allowed)
    if result is not None:
        assert result in allowed
        assert resolve_code(result) != resolve_code(current)
        assert get_language(result).family != get_language(current).family
