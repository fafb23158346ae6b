"""Normalising caller words: tables per language, and properties that hold for any text."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kimiyi.cache import family_of, normalise
from kimiyi.cache.normalise import units_of

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LANGUAGES = [
    "en-US",
    "es-US",
    "fr-FR",
    "de-DE",
    "pt-BR",
    "zh-HK",
    "zh-CN",
    "zh-TW",
    "ja-JP",
    "ko-KR",
    "th-TH",
    "ar-AE",
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Um, who is this?", "who is this"),
        ("WHO'S THIS??", "whos this"),
        ("  who   is\tthis  ", "who is this"),
        ("uh... can you repeat that, please?", "can you repeat that please"),
        ("I do NOT want to cancel.", "i do not want to cancel"),  # "not" is never a filler
        ("No.", "no"),
        ("Press one.", "press 1"),
        ("It's at 10:30am", "its at 10:30 am"),
        ("$3.50, please", "$3.50 please"),
        ("um", "um"),  # nothing but a filler: kept, never emptied
        ("well", "well"),
        ("Well, not very well", "not very well"),  # "well" only goes at the start
        ("so what", "so what"),  # "so" is not a filler: "so what?" is not "what?"
        ("like what", "like what"),
        ("(pressed #)", "pressed#"),
        ("(pressed *)", "pressed*"),
    ],
)
def test_english(text: str, expected: str) -> None:
    assert normalise(text, "en-US") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("¿Quién habla?", "quién habla"),
        ("Eh... ¡NO, GRACIAS!", "no gracias"),
        ("¿Me puede REPETIR, por favor?", "me puede repetir por favor"),
        ("Presione uno", "presione 1"),
        ("pues sí", "sí"),
        ("No, no quiero cancelar", "no no quiero cancelar"),
    ],
)
def test_spanish(text: str, expected: str) -> None:
    assert normalise(text, "es-US") == expected


@pytest.mark.parametrize(
    "text",
    [
        "你係邊個呀？",
        "你係邊個",
        "嗯，你係邊個啊！",
        "你 係 邊 個 呀",
        "你系边个",
        "你係邊個呀?",
        "（你係邊個）",
    ],
)
def test_cantonese_width_punctuation_particles_and_spacing(text: str) -> None:
    assert normalise(text, "zh-HK") == "你系边个"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ＯＫ，冇問題！", "ok冇问题"),
        ("唔係。", "唔系"),  # the negator stays
        ("唔該講多次", "唔该讲多次"),
        ("「聽唔到」……", "听唔到"),
        ("喂？", "喂"),
        ("３點半", "3点半"),
    ],
)
def test_cantonese_table(text: str, expected: str) -> None:
    assert normalise(text, "zh-HK") == expected


@pytest.mark.parametrize(
    ("traditional", "simplified"),
    [("你是誰？", "你是谁"), ("請再說一遍。", "请再说一遍"), ("沒聽清楚", "没听清楚"), ("謝謝你", "谢谢你")],
)
def test_mandarin_traditional_and_simplified_meet(traditional: str, simplified: str) -> None:
    assert normalise(traditional, "zh-CN") == normalise(simplified, "zh-CN") == simplified
    assert normalise(traditional, "zh-TW") == normalise(simplified, "zh-TW")


def test_mandarin_keeps_words_that_carry_meaning() -> None:
    assert normalise("不是", "zh-CN") == "不是"
    assert normalise("好吧", "zh-CN") == "好吧"  # 吧 changes "good" into "fine, I suppose"
    assert normalise("你呢？", "zh-CN") == "你呢"  # "and you?" is not "you"
    assert normalise("好了。", "zh-CN") == "好了"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("もしもし、どちら様ですか？", "もしもしどちら様ですか"),
        ("えーと、もう一度お願いします。", "もう一度お願いします"),
        ("ﾓｼﾓｼ", "モシモシ"),  # half-width katakana
        ("電話の話です", "電話の話です"),  # Japanese kanji are not turned into Simplified Chinese
    ],
)
def test_japanese(text: str, expected: str) -> None:
    assert normalise(text, "ja-JP") == expected


def test_other_scripts() -> None:
    assert normalise("여보세요?", "ko-KR") == "여보세요"
    assert normalise("สวัสดีครับ", "th-TH") == "สวัสดีครับ"
    assert normalise("٣ ३ ３", "ar-AE") == "3 3 3"  # every script's digits as ASCII digits


def test_without_a_language_only_the_universal_rules_apply() -> None:
    assert normalise("Um, WHO is this?") == "um who is this"
    assert normalise("你係邊個呀？") == "你係邊個呀"


def test_cantonese_and_mandarin_may_normalise_alike_the_language_keeps_them_apart() -> None:
    # The same characters in both: the key's language part, not the text, separates them (test_cache_keys).
    assert normalise("係", "zh-HK") == normalise("系", "zh-CN") == "系"


def test_families() -> None:
    assert family_of("zh-HK") == "yue"
    assert family_of("yue-Hant-HK") == "yue"
    assert family_of("zh-CN") == "zh"
    assert family_of("zh-TW") == "zh"
    assert family_of("en-GB") == "en"
    assert family_of("xx-YY") == "xx"  # unknown but well-formed: its primary subtag
    assert family_of(None) == ""


def test_bad_input_is_named() -> None:
    with pytest.raises(TypeError, match="needs a str"):
        normalise(None, "en-US")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a BCP-47 language tag"):
        normalise("hello", "english please")
    with pytest.raises(TypeError, match="language code must be a str"):
        normalise("hello", 42)  # type: ignore[arg-type]


# --- properties -------------------------------------------------------------------------------------------


@SETTINGS
@given(text=st.text(max_size=80), language=st.sampled_from([None, *LANGUAGES]))
def test_never_raises_and_is_idempotent(text: str, language: str | None) -> None:
    once = normalise(text, language)
    assert isinstance(once, str)
    assert normalise(once, language) == once


@SETTINGS
@given(
    text=st.text(
        alphabet=st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S", "Z"]), max_size=60
    ),
    language=st.sampled_from(LANGUAGES),
)
def test_idempotent_on_letter_heavy_text(text: str, language: str) -> None:
    once = normalise(text, language)
    assert normalise(once, language) == once
    assert once == once.strip() and "  " not in once


# Words from several scripts; no filler words, no apostrophes, no digits (digits next to "." or ":"
# join into one number, which is meant).
LATIN = "abcdefghijklmnopqrstuvwxyzéüñçà"
WORD = st.one_of(
    st.text(alphabet=LATIN, min_size=3, max_size=8).filter(lambda w: w not in {"well", "ehm", "beh", "ahn"}),
    st.text(alphabet="αβγδεζηθλμνπρστ", min_size=2, max_size=6),
    st.text(alphabet="абвгдежзиклмнопрст", min_size=2, max_size=6),
    st.text(alphabet="你好我們邊個係時間預約醫生電話", min_size=1, max_size=4),
    st.text(alphabet="もしどちらさまですか", min_size=1, max_size=4),
)
PROSODY = st.sampled_from([*',.!?;:…、。！？；：「」『』（）()[]"“”¿¡-—', "...", "?!", "，", "——"])


def _full_width(text: str) -> str:
    return "".join(
        chr(ord(c) + 0xFEE0) if 0x21 <= ord(c) <= 0x7E else "\u3000" if c == " " else c for c in text
    )


@SETTINGS
@given(
    words=st.lists(WORD, min_size=1, max_size=6),
    marks=st.lists(PROSODY, min_size=7, max_size=7),
    upper=st.booleans(),
    wide=st.booleans(),
    language=st.sampled_from(["en-US", "es-US", "fr-FR", "zh-HK", "zh-CN", "ja-JP"]),
)
def test_width_case_and_punctuation_do_not_matter(words, marks, upper, wide, language) -> None:
    plain = " ".join(words)
    # punctuation only where a word ends or starts, with the space kept: it separates, it never joins
    decorated = (
        marks[0] + " ".join(w + (marks[i % 6 + 1] if i % 2 else "") for i, w in enumerate(words)) + marks[6]
    )
    if upper:
        decorated = decorated.upper()
    if wide:
        decorated = _full_width(decorated)
    assert normalise(decorated, language) == normalise(plain, language)


@SETTINGS
@given(words=st.lists(WORD, min_size=1, max_size=5), filler=st.sampled_from(["Um,", "uh", "Erm...", "hmm"]))
def test_english_edge_fillers_do_not_matter(words, filler) -> None:
    plain = " ".join(words)
    assert normalise(f"{filler} {plain}", "en-US") == normalise(plain, "en-US")
    assert normalise(f"{plain}, um", "en-US") == normalise(plain, "en-US")


@SETTINGS
@given(text=st.text(max_size=60), language=st.sampled_from(LANGUAGES))
def test_units_round_trip(text: str, language: str) -> None:
    once = normalise(text, language)
    assert normalise(" ".join(units_of(once)), language) == once or not once
