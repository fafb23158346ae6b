"""BCP-47 language tags: checking, canonical case, and which written text suits a caller's language."""

from __future__ import annotations

import re

_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|\d{3}))?(?:-[A-Za-z\d]{5,8})*")

# Chinese tags share the subtag "zh" but not the words: Cantonese text must not stand in for
# Mandarin, nor Traditional for Simplified. Each group is one written variety.
_CHINESE_GROUPS = (
    frozenset({"zh-HK", "zh-MO", "zh-Hant-HK", "zh-Hant-MO", "yue", "yue-HK", "yue-CN", "yue-Hant-HK"}),
    frozenset({"zh-TW", "zh-Hant", "zh-Hant-TW"}),
    frozenset({"zh", "zh-CN", "zh-SG", "zh-Hans", "zh-Hans-CN", "zh-Hans-SG", "cmn", "cmn-CN"}),
)


def normalize_tag(tag: str) -> str | None:
    """ "en-us" → "en-US", "zh-hant-hk" → "zh-Hant-HK"; None when it is not a language tag."""
    tag = tag.strip().replace("_", "-")
    if not _TAG.fullmatch(tag):
        return None
    parts = tag.split("-")
    out = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            out.append(part.title())
        elif len(part) == 2 or (len(part) == 3 and part.isdigit()):
            out.append(part.upper())
        else:
            out.append(part.lower())
    return "-".join(out)


def _group(tag: str) -> frozenset[str] | None:
    return next((group for group in _CHINESE_GROUPS if tag in group), None)


def same_written_language(wanted: str, available: str) -> bool:
    """Whether text written for `available` reads right to a caller speaking `wanted`."""
    if wanted == available:
        return True
    wanted_group, available_group = _group(wanted), _group(available)
    if wanted_group or available_group:
        return wanted_group is available_group
    return wanted.split("-")[0] == available.split("-")[0]
