"""Text-only language evidence: which script a text is written in, and Cantonese versus Mandarin.

Pure functions over `str`, no table lookups, so they are cheap enough to run on every caller turn.

Cantonese versus Mandarin is told apart by weighted marker counts. Written Cantonese has characters that
standard written Chinese (Mandarin) never uses (嘅 咗 喺 冇 佢 哋 嘢 唔 ...), while Cantonese text often
borrows standard forms (是, 的, 在 inside compounds). So a Cantonese marker weighs more than a Mandarin one,
a tie goes to Cantonese, and compounds that both varieties write identically (關係, 不過, 的士, 了解, 其他
...) are removed before counting so that their 係 / 不 / 的 / 了 / 他 are not read as evidence.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Literal

__all__ = ["classify_chinese", "han_variant", "script_hint", "script_of", "script_units"]

ChineseVariety = Literal["yue", "cmn"]

# ---------------------------------------------------------------------------------------------------------
# Scripts, by code point range (ISO 15924 codes). Only letters (str.isalpha) are counted, so punctuation
# that lives in a script's block (،  ؟  ।) never counts as evidence.
_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x005A, "Latn"),
    (0x0061, 0x007A, "Latn"),
    (0x00C0, 0x024F, "Latn"),
    (0x0370, 0x03FF, "Grek"),
    (0x0400, 0x052F, "Cyrl"),
    (0x0530, 0x058F, "Armn"),
    (0x0590, 0x05FF, "Hebr"),
    (0x0600, 0x06FF, "Arab"),
    (0x0750, 0x077F, "Arab"),
    (0x08A0, 0x08FF, "Arab"),
    (0x0900, 0x097F, "Deva"),
    (0x0980, 0x09FF, "Beng"),
    (0x0A00, 0x0A7F, "Guru"),
    (0x0A80, 0x0AFF, "Gujr"),
    (0x0B80, 0x0BFF, "Taml"),
    (0x0C00, 0x0C7F, "Telu"),
    (0x0C80, 0x0CFF, "Knda"),
    (0x0D00, 0x0D7F, "Mlym"),
    (0x0E00, 0x0E7F, "Thai"),
    (0x10A0, 0x10FF, "Geor"),
    (0x1100, 0x11FF, "Hang"),
    (0x1200, 0x137F, "Ethi"),
    (0x1E00, 0x1EFF, "Latn"),
    (0x1F00, 0x1FFF, "Grek"),
    (0x3040, 0x30FF, "Kana"),
    (0x3130, 0x318F, "Hang"),
    (0x31F0, 0x31FF, "Kana"),
    (0x3400, 0x4DBF, "Hani"),
    (0x4E00, 0x9FFF, "Hani"),
    (0xAC00, 0xD7AF, "Hang"),
    (0xF900, 0xFAFF, "Hani"),
    (0xFB1D, 0xFB4F, "Hebr"),
    (0xFB50, 0xFDFF, "Arab"),
    (0xFE70, 0xFEFF, "Arab"),
    (0xFF21, 0xFF3A, "Latn"),
    (0xFF41, 0xFF5A, "Latn"),
    (0xFF66, 0xFF9F, "Kana"),
    (0x20000, 0x2FFFF, "Hani"),
)
_STARTS = [start for start, _, _ in _RANGES]
# Scripts written one word (or morpheme) per character: counted per character, not per word, so that a
# Cantonese sentence with one English brand name in it is still mostly Han.
_PER_CHARACTER = frozenset({"Hani", "Kana", "Hang"})


def _script_of_char(char: str) -> str | None:
    point = ord(char)
    index = bisect_right(_STARTS, point) - 1
    if index < 0:
        return None
    start, end, script = _RANGES[index]
    return script if start <= point <= end else None


def script_units(text: str) -> dict[str, int]:
    """Evidence per raw script: characters for Han, Kana and Hangul, words (letter runs) for the rest."""
    units: dict[str, int] = {}
    previous: str | None = None
    for char in text:
        script = _script_of_char(char) if char.isalpha() else None
        if script is not None and (script in _PER_CHARACTER or script != previous):
            units[script] = units.get(script, 0) + 1
        previous = script
    return units


def script_of(text: str) -> str | None:
    """The dominant script of `text` as an ISO 15924 code, or None when it has no letters.

    Chinese text reports "Hant" or "Hans" when its characters show which, else "Hani"; any kana makes
    Han text Japanese ("Jpan"); Hangul is "Kore". On a tie a non-Latin script wins, because callers mix
    Latin brand names and loanwords into other languages far more often than the reverse.
    """
    units = script_units(text)
    kana = units.pop("Kana", 0)
    if kana:
        units["Jpan"] = units.pop("Hani", 0) + kana
    if "Hang" in units:
        units["Kore"] = units.pop("Hang")
    if not units:
        return None
    best = max(units.items(), key=lambda item: (item[1], item[0] != "Latn"))[0]
    if best == "Hani":
        return han_variant(text) or "Hani"
    return best


# ---------------------------------------------------------------------------------------------------------
# Traditional versus Simplified: common characters that differ between the two writing systems.
_SIMPLIFIED_ONLY = frozenset(
    "这们说么时间话对没谢个国来过还会为问吗听见让给动东车钱点几边发号电开关头写买卖请约单贵样经从众优价"
    "体亲乐书习门阳阴阵陈预题颜风飞马鱼鸡龙妈爷转办务务达运进远连选钟银错长队难须顾饭馆"
)
_TRADITIONAL_ONLY = frozenset(
    "這們說麼時間話對沒謝個國來過還會為問嗎聽見讓給動東車錢點幾邊發號電開關頭寫買賣請約單貴樣經從眾優價"
    "體親樂書習門陽陰陣陳預題顏風飛馬魚雞龍媽爺轉辦務達運進遠連選鐘銀錯長隊難須顧飯館"
)


def han_variant(text: str) -> Literal["Hant", "Hans"] | None:
    """Which Chinese writing the text leans to: "Hant", "Hans", or None (no evidence or a tie)."""
    traditional = sum(1 for char in text if char in _TRADITIONAL_ONLY)
    simplified = sum(1 for char in text if char in _SIMPLIFIED_ONLY)
    if traditional > simplified:
        return "Hant"
    if simplified > traditional:
        return "Hans"
    return None


# ---------------------------------------------------------------------------------------------------------
# Cantonese versus Mandarin markers, with weights. 3: never written in the other variety; 2: rare there;
# 1: a hint only. Multi-character markers are counted on top of their characters.
# fmt: off
_CANTONESE_MARKERS: dict[str, int] = {
    **dict.fromkeys("嘅咗喺冇佢哋嘢啲嚟噉嗰唔諗谂啱攞搵揾瞓嘥㗎喎噃啫啩攰嬲係", 3),
    **dict.fromkeys("乜咩咁睇畀俾咋嘞靚", 2),
    **dict.fromkeys("吖囉啰咪", 1),
    **dict.fromkeys([
        "點解", "点解", "點樣", "点样", "點算", "而家", "依家", "宜家", "聽日", "听日", "琴日", "尋日", "寻日",
        "邊度", "边度", "邊個", "边个", "邊間", "边间", "同埋", "搞掂", "食飯", "食饭",
        "呢度", "呢個", "呢个", "呢啲", "呢間", "呢间", "呢位", "呢排", "呢次", "呢樣", "呢邊", "呢边",
    ], 3),
    **dict.fromkeys(["仲有", "幾多", "几多", "埋單", "埋单"], 2),
    **dict.fromkeys(["多謝", "多谢"], 1),
}
_MANDARIN_MARKERS: dict[str, int] = {
    **dict.fromkeys("们們没沒咱吃喝", 3),
    **dict.fromkeys("的了不是在吗嗎吧很哪谁誰给給他她它这這", 2),
    **dict.fromkeys("那看说說挺儿", 1),
    **dict.fromkeys([
        "什么", "什麼", "甚麼", "怎么", "怎麼", "怎样", "怎樣", "干嘛", "幹嘛",
        "明天", "昨天", "今天", "哪里", "哪裡", "哪裏", "哪儿",
    ], 3),
    **dict.fromkeys(["现在", "現在", "谢谢", "謝謝", "东西", "東西"], 2),
    **dict.fromkeys(["一下", "一点", "一點"], 1),
}
# Compounds both varieties write the same way; removed before counting so their characters are not
# mistaken for evidence (the 係 of 關係, the 不 of 不過, the 的 of 的士, the 他 of 其他 ...).
_SHARED_COMPOUNDS = (
    "關係", "係數", "聯係", "的士", "目的", "的確", "的确", "了解", "為了", "为了", "除了",
    "不過", "不过", "不如", "不同", "不錯", "不错", "不斷", "不断", "不論", "不论", "不少", "不停",
    "實在", "实在", "存在", "自在", "在於", "在于", "酒吧", "其他", "其她", "其它",
)
# fmt: on


def _score(text: str, markers: dict[str, int]) -> int:
    return sum(weight * text.count(marker) for marker, weight in markers.items() if marker in text)


def classify_chinese(text: str) -> ChineseVariety | None:
    """Cantonese ("yue", colloquial written Cantonese), Mandarin ("cmn", standard written Chinese) or None.

    None means no evidence: no Han characters, Japanese (any kana), or only characters both varieties use
    alike ("你好", "好", "OK", "12345"). Mixed text goes to the weighted majority; a tie goes to Cantonese,
    because Mandarin text almost never contains a Cantonese marker.
    """
    if not isinstance(text, str):
        raise TypeError(f"classify_chinese needs a str, got {type(text).__name__}")
    units = script_units(text)
    if "Hani" not in units or "Kana" in units:
        return None
    for compound in _SHARED_COMPOUNDS:
        if compound in text:
            text = text.replace(compound, "　")
    cantonese = _score(text, _CANTONESE_MARKERS)
    mandarin = _score(text, _MANDARIN_MARKERS)
    if cantonese == 0 and mandarin == 0:
        return None
    return "yue" if cantonese >= mandarin else "cmn"


# ---------------------------------------------------------------------------------------------------------
# Letters that only one of the languages sharing a script uses: enough to tell Ukrainian from Russian, or
# Urdu and Persian from Arabic. No hint for Devanagari (Hindi/Marathi) or Bulgarian: those need words.
_SCRIPT_HINTS: dict[str, tuple[tuple[str, frozenset[str]], ...]] = {
    "Cyrl": (("uk", frozenset("іїєґІЇЄҐ")), ("ru", frozenset("ыэёЫЭЁ"))),
    "Arab": (("ur", frozenset("ٹڈڑںےھ")), ("fa", frozenset("پچژگ"))),
}


def script_hint(text: str, script: str) -> str | None:
    """The primary language subtag that letters unique to one language point to, or None.

    Checked in order: Urdu before Persian, because Urdu also writes the Persian letters.
    """
    for language, letters in _SCRIPT_HINTS.get(script, ()):
        if any(char in letters for char in text):
            return language
    return None
