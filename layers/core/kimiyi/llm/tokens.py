"""Split text into tokens the way a chat model streams them, roughly.

Words carry their leading space (" world"), punctuation is its own token, and Chinese or Japanese
characters come one or two at a time. Joining the tokens gives back the text exactly, so a consumer
that concatenates deltas never loses or gains a space.
"""

from __future__ import annotations

import re

# Han ideographs (with extension A and compatibility forms) and the Japanese kana.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff"
# ASCII punctuation, Latin-1 signs, general punctuation, CJK and full-width punctuation.
_PUNCT = (
    r"""!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~"""
    "\u00a1-\u00bf\u2010-\u205e\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
)

_CJK_OR_PUNCT = re.compile(f"[{_CJK}\u3000-\u303f\uff00-\uffef]")

# Every non-space character is CJK, punctuation or part of a word, so the alternatives cover any text.
_TOKEN = re.compile(
    rf"\s*[{_CJK}]{{1,2}}|\s*[^\s{_CJK}{_PUNCT}]+|\s*[{_PUNCT}]|\s+$",
)


def is_cjk(character: str) -> bool:
    """Han, kana, CJK or full-width punctuation: text written without spaces between words."""
    return bool(_CJK_OR_PUNCT.match(character))


def split_into_tokens(text: str) -> list[str]:
    """The text as model-like tokens; "".join(result) == text."""
    return _TOKEN.findall(text)
