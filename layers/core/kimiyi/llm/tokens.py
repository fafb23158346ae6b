"""Split text into tokens the way a chat model streams them, roughly.

Words carry their leading space (" world"), punctuation is its own token, and Chinese or Japanese
characters come one or two at a time. Joining the tokens gives back the text exactly, so a consumer
that concatenates deltas never loses or gains a space.
"""

from __future__ import annotations

import re

from ..charclass import HAN_AND_KANA

_CJK = HAN_AND_KANA
# ASCII punctuation, Latin-1 signs, general punctuation, CJK and full-width punctuation.
_PUNCT = (
    r"""!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~"""
    "\u00a1-\u00bf\u2010-\u205e\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
)

# Every non-space character is CJK, punctuation or part of a word, so the alternatives cover any text.
_TOKEN = re.compile(
    rf"\s*[{_CJK}]{{1,2}}|\s*[^\s{_CJK}{_PUNCT}]+|\s*[{_PUNCT}]|\s+$",
)


def split_into_tokens(text: str) -> list[str]:
    """The text as model-like tokens; "".join(result) == text."""
    return _TOKEN.findall(text)
