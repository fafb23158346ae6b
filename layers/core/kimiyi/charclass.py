"""Character classes the text code shares: which scripts are written without spaces between words, which
characters join their neighbours with no space, which are wide. One place, so the cache's normaliser,
the workflow's phrase matcher, the clause chunker, the token splitter and the classic `<Say>` joiner
never disagree about a script.
"""

from __future__ import annotations

import re
import unicodedata

# Code point ranges of scripts written without spaces between words.
_UNSPACED = (
    (0x2E80, 0x9FFF),  # CJK radicals, CJK symbols and punctuation, kana, bopomofo, CJK ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3FFFF),  # CJK ideograph extensions B and beyond
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
)
# Han ideographs (with extension A and compatibility forms) and the Japanese kana.
HAN_AND_KANA = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff"
_JOINS_WITHOUT_SPACE = re.compile(f"[{HAN_AND_KANA}\u3000-\u303f\uff00-\uffef]")


def unspaced_script(char: str) -> bool:
    """A script written without spaces between words (Chinese, Japanese, Thai, …): every character is a
    unit of its own when text is cut into words (Hangul is not: Korean spaces its words)."""
    point = ord(char)
    return any(low <= point <= high for low, high in _UNSPACED)


def joins_without_space(char: str) -> bool:
    """Han, kana, CJK or full-width punctuation: no space goes between it and the text beside it."""
    return bool(_JOINS_WITHOUT_SPACE.match(char))


def is_wide(char: str) -> bool:
    """East Asian wide or full-width: punctuation before it ends a clause with no space after it."""
    return unicodedata.east_asian_width(char) in ("W", "F")
