"""Turns a stream of LLM tokens into speakable clauses for ConversationRelay `text` frames.

Every send is an HTTPS round trip, so the sender coalesces: the first clause goes out the moment it is
complete, later text whenever the previous send returns. This module is the pure part: where clauses end
(`ClauseChunker`, `split_clauses`), how waiting clauses become frames (`coalesce`), and an optional
`clean_for_speech` that drops markdown the LLM should not have written for a phone call.

Invariant: the emitted chunks plus `flush()` concatenate to exactly the tokens fed. Spaces are never
stripped or added; whitespace after a boundary leads the next chunk. Every chunk `feed` returns holds a
letter or digit; only `flush` may return whitespace or punctuation alone.

Where a clause ends (decided at the punctuation itself, without waiting for the next token, unless the
text so far is genuinely ambiguous):

- Sentence-final marks (`. ! ? …`, `。！？`, `।`, `؟`, `።`, ...) end a clause. A run of them plus any
  closing quotes/brackets already received ends once, after the run ("Really?!", 'yes."').
- Latin marks only count when followed by whitespace, a wide (CJK) character or the end of the text:
  "3.5", "example.com", "10:30", "a,b", "?q=1" never split.
- An ASCII "." held at the end of the buffer waits for the next token when it follows a digit ("3." may
  become "3.5"), ends an ellipsis ("..."), or ends an abbreviation. "Mr Mrs Ms Dr Prof St Mt vs cf e.g.
  i.e. approx", single capital initials ("J. Smith") and dotted capitals ("U.S.") never end a clause —
  merging two sentences costs nothing, while splitting "Dr." from "Smith" can change how TTS reads it.
  "etc.", "Jr.", "Inc.", "a.m.", "p.m.", other dotted words and emails end one only when the next word
  starts with a capital or uncased letter (or a newline / the end of the stream follows). A "." after a
  plain word ends the clause at once; the price is that a token split "example" + "." + "com" would split
  the URL, which real tokenizers do not produce (".com" is one token).
- A closing quote or bracket that has not arrived yet: when a quote or bracket is open (tracked across the
  reply, reset at newlines), a sentence end at the very end of the buffer waits one token so the closer
  stays with its clause. Otherwise the clause goes at once and a late closer leads the next chunk (TTS does
  not speak it). "?!" split across tokens is treated the same way: "Really?" goes, "!" leads the next.
- Clause-internal marks (`, ; :` and their scripts' forms): the first clause of a reply goes at any of
  them ("Hi Anna,", "Sure,") because time to first audio is what callers hear. After that a Latin-style
  one needs `min_chars_after_first` characters of clause, `、` needs `min_chars_enumeration`, and the
  full-width `，；：` always end a clause. ASCII "," or ":" right after a digit at the end of the buffer
  waits ("1,000", "10:30"); an ASCII ":" at the end always waits (URL schemes).
- A newline ends a clause (the newline leads the next chunk). A clause that reaches `max_clause_chars`
  without a boundary (scripts that write no punctuation) is cut at its last space, or before a letter
  (never inside a number).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable

from .charclass import is_wide

__all__ = [
    "DEFAULT_DELIMITERS",
    "MAX_FRAME_CHARS",
    "MAX_FRAME_TEXT_BYTES",
    "ClauseChunker",
    "clean_for_speech",
    "coalesce",
    "split_clauses",
]

# Every script's sentence and clause marks; a language's own table may pass a narrower set.
DEFAULT_DELIMITERS = ".!?…,;:。！？，；：、।॥؟،؛۔።፧፣፤"

# Marks that end a sentence; any other delimiter is clause-internal.
_SENTENCE_FINAL = frozenset(".!?…。！？｡।॥؟۔።፧‼⁇⁈⁉")
# Sentence-final marks that Latin text also uses inside numbers, URLs and abbreviations.
_LATIN_FINAL = frozenset(".!?…")
_ELLIPSIS_PARTS = frozenset(".…")
# Full-width clause marks are never part of a number or a URL: always a boundary.
_CJK_CLAUSE = frozenset("，；：")
_ENUMERATION = frozenset("、､")
_NEWLINES = frozenset("\n\r\u2028\u2029")

_CLOSERS = frozenset("\"'’”»)]}」』）】》〉›")
_OPENING_BRACKETS = frozenset("“«([{「『（【《〈‹")
_CLOSING_BRACKETS = frozenset("”»)]}」』）】》〉›")
_WORD_STOPS = _OPENING_BRACKETS | frozenset('"')
_LEADING_QUOTES = "'‘"  # stripped from a word's start; an apostrophe inside it ("don't") stays

_NEVER_END_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "mx", "dr", "prof", "st", "mt", "vs", "cf", "e.g", "i.e", "approx"}
)
_NEXT_WORD_DECIDES_ABBREVIATIONS = frozenset({"etc", "jr", "sr", "inc", "ltd", "co", "corp", "bros", "ph"})
_JOINS_NUMBERS = frozenset(".,:")
_WORD_LOOKBACK = 40
# An undecided mark is re-examined on every token; past this many characters it is decided as an end,
# which bounds the rescanning (no undecided number or abbreviation is this long).
_MAX_HELD_TAIL = 32

# Verdicts for a delimiter: a clause boundary, not one, or undecidable until the next token.
_CUT, _NO, _HOLD = "cut", "no", "hold"
# What precedes a run of periods.
_PLAIN, _NUMBER, _NEVER, _NEXT_DECIDES, _ELLIPSIS = "plain", "number", "never", "next", "ellipsis"


def _is_dotted_initials(word: str) -> bool:
    parts = word.split(".")
    return all(len(part) == 1 and part.isupper() for part in parts)


def _validate_count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def complete_clauses(text: str, delimiters: str = DEFAULT_DELIMITERS) -> str:
    """`text` up to and including its last clause boundary ("" when it has none): what of a reply cut
    short mid-stream can still be spoken. A delimiter counts when a space, a line end or the end of the
    text follows it (so 3.5 is no boundary), or anywhere for CJK punctuation, written without spaces."""
    for index in range(len(text) - 1, -1, -1):
        char = text[index]
        if char == "\n" or (
            char in delimiters and (index + 1 == len(text) or text[index + 1].isspace() or is_wide(char))
        ):
            return text[: index + 1]
    return ""


class ClauseChunker:
    """Feed tokens as they stream; get back the clauses that are ready to speak now."""

    __slots__ = (
        "_buf",
        "_clause",
        "_depth",
        "_emitted",
        "_final",
        "_has_alnum",
        "_in_quote",
        "_last_space",
        "_max_clause",
        "_min_after_first",
        "_min_enumeration",
        "_scan",
    )

    def __init__(
        self,
        delimiters: str = DEFAULT_DELIMITERS,
        *,
        min_chars_after_first: int = 20,
        min_chars_enumeration: int = 10,
        max_clause_chars: int = 250,
    ) -> None:
        if not isinstance(delimiters, str):
            raise TypeError(f"delimiters must be a str of punctuation, got {type(delimiters).__name__}")
        bad = sorted({c for c in delimiters if c.isalnum() or c.isspace()})
        if bad:
            raise ValueError(
                f"delimiters must be punctuation, not letters, digits or spaces: {''.join(bad)!r}"
                " (newlines are always boundaries)"
            )
        self._final = frozenset(c for c in delimiters if c in _SENTENCE_FINAL)
        self._clause = frozenset(c for c in delimiters if c not in _SENTENCE_FINAL)
        self._min_after_first = _validate_count("min_chars_after_first", min_chars_after_first, 0)
        self._min_enumeration = _validate_count("min_chars_enumeration", min_chars_enumeration, 0)
        self._max_clause = _validate_count("max_clause_chars", max_clause_chars, 2)
        self._reset()

    def _reset(self) -> None:
        self._buf = ""  # text not emitted yet
        self._scan = 0  # _buf[:_scan] has been examined and holds no boundary
        self._has_alnum = False  # _buf[:_scan] has a letter or digit: it is worth a chunk
        self._last_space = -1  # last whitespace in _buf[:_scan] after a letter (for the length cap)
        self._depth = 0  # open brackets and typographic quotes in the reply
        self._in_quote = False  # inside an ASCII "..." pair
        self._emitted = False  # the first clause has gone out

    @property
    def pending(self) -> str:
        """Text received and not emitted yet."""
        return self._buf

    def feed(self, token: str) -> list[str]:
        """Adds a token; returns the clauses it completed (usually none or one)."""
        if not isinstance(token, str):
            raise TypeError(f"token must be a str, got {type(token).__name__}")
        if not token:
            return []
        self._buf += token
        ready = []
        while (cut := self._next_cut()) is not None:
            ready.append(self._emit(cut))
        return ready

    def flush(self) -> str:
        """Ends the stream: returns what is still held ('' if nothing) and starts afresh for a new reply."""
        rest = self._buf
        self._reset()
        return rest

    def _emit(self, cut: int) -> str:
        chunk, rest = self._buf[:cut], self._buf[cut:]
        # A cut at the length cap falls behind the scan position: keep the examined part examined.
        examined = self._scan - cut
        self._buf = rest
        self._scan = examined
        self._has_alnum = any(c.isalnum() for c in rest[:examined])
        self._last_space = -1
        self._emitted = True
        return chunk

    def _next_cut(self) -> int | None:
        """Scans only the text not examined yet (a held run is re-examined); returns a cut index or None."""
        buf = self._buf
        n = len(buf)
        i = self._scan
        while i < n:
            char = buf[i]
            if self._has_alnum:
                if i >= self._max_clause and (cut := self._cut_long_clause(i)) is not None:
                    self._scan = i
                    return cut
                if char in _NEWLINES:
                    self._scan = i
                    return i
                if char in self._final:
                    end, verdict = self._judge_final(i)
                elif char in self._clause:
                    end, verdict = self._judge_clause(i)
                else:
                    end, verdict = i + 1, _NO
                if verdict is _HOLD:
                    if n - i <= _MAX_HELD_TAIL:
                        self._scan = i
                        return None
                    verdict = _CUT  # "etc." then endless spaces, or a wall of dots: stop waiting
            else:
                end, verdict = i + 1, _NO  # nothing speakable yet: punctuation cannot end it
            for k in range(i, end):
                self._note(buf[k], k)
            if verdict is _CUT:
                self._scan = end
                return end
            i = end
        self._scan = n
        return None

    def _note(self, char: str, index: int) -> None:
        """Records a character the scan has passed for good."""
        if char.isspace():
            if char in _NEWLINES:
                self._depth = 0
                self._in_quote = False
            if self._has_alnum:
                self._last_space = index
        elif char == '"':
            self._in_quote = not self._in_quote
        elif char in _OPENING_BRACKETS:
            self._depth += 1
        elif char in _CLOSING_BRACKETS:
            if self._depth:
                self._depth -= 1
        elif not self._has_alnum and char.isalnum():
            self._has_alnum = True

    def _quote_open_after(self, start: int, end: int) -> bool:
        """Would a quote or bracket still be open after the closers in _buf[start:end]?"""
        depth, in_quote = self._depth, self._in_quote
        for char in self._buf[start:end]:
            if char == '"':
                in_quote = not in_quote
            elif char in _CLOSING_BRACKETS and depth:
                depth -= 1
        return depth > 0 or in_quote

    def _judge_final(self, i: int) -> tuple[int, str]:
        buf = self._buf
        n = len(buf)
        k = i
        latin = periods_only = True
        while k < n and buf[k] in self._final:
            latin = latin and buf[k] in _LATIN_FINAL
            periods_only = periods_only and buf[k] in _ELLIPSIS_PARTS
            k += 1
        end = k
        while end < n and buf[end] in _CLOSERS:
            end += 1
        following = buf[end] if end < n else None
        if following is None and self._quote_open_after(k, end):
            return end, _HOLD  # the closing quote is probably the next token
        if not latin:
            return end, _CUT  # 。！？ । ؟ ። are never part of a number or a name
        if following is not None and not following.isspace() and not is_wide(following):
            return end, _NO  # "3.5", "example.com", "e.g", "Hi!there", "etc.,"
        if not periods_only:
            return end, _CUT
        kind = self._period_kind(i, k)
        if kind is _NUMBER and end > k:
            kind = _PLAIN  # '3."': a closer came, so no digit can follow
        if following is None:
            return end, (_CUT if kind is _PLAIN else _HOLD)
        if kind is _NEVER:
            return end, _NO
        if kind is _NEXT_DECIDES:
            return end, self._judge_by_next_word(end)
        return end, _CUT  # a plain word, "3. ", "... "

    def _period_kind(self, i: int, k: int) -> str:
        """Classifies the word before the periods in _buf[i:k]."""
        buf = self._buf
        if k - i > 1 or buf[i] == "…":
            return _ELLIPSIS
        start = i
        limit = max(0, i - _WORD_LOOKBACK)
        while start > limit and not buf[start - 1].isspace() and buf[start - 1] not in _WORD_STOPS:
            start -= 1
        word = buf[start:i].lstrip(_LEADING_QUOTES)
        if not word:
            return _PLAIN
        last = word[-1]
        if last.isdigit():
            return _NUMBER
        lower = word.lower()
        if lower in _NEVER_END_ABBREVIATIONS:
            return _NEVER
        if len(word) == 1 and last.isalpha():
            # "J. Smith" is an initial; a lone lowercase letter is likely "a" of "a.m." or "e" of "e.g."
            return _NEVER if last.isupper() else _NEXT_DECIDES
        if "." in word:
            return _NEVER if _is_dotted_initials(word) else _NEXT_DECIDES
        if lower in _NEXT_WORD_DECIDES_ABBREVIATIONS or "@" in word or "/" in word:
            return _NEXT_DECIDES
        return _PLAIN

    def _judge_by_next_word(self, j: int) -> str:
        """After "etc." or "p.m.": a sentence ends if the next word starts with a capital or uncased letter."""
        buf = self._buf
        n = len(buf)
        while j < n and buf[j].isspace():
            if buf[j] in _NEWLINES:
                return _CUT
            j += 1
        if j == n:
            return _HOLD
        following = buf[j]
        return _CUT if following.isalpha() and not following.islower() else _NO

    def _judge_clause(self, i: int) -> tuple[int, str]:
        buf = self._buf
        n = len(buf)
        mark = buf[i]
        end = i + 1
        while end < n and buf[end] in _CLOSERS:
            end += 1
        following = buf[end] if end < n else None
        if mark.isascii():
            if following is None:
                if mark == ":" or (mark == "," and i > 0 and buf[i - 1].isdigit()):
                    return end, _HOLD  # "10:30", "1,000", "https://"
            elif not following.isspace() and not is_wide(following):
                return end, _NO
        if not self._emitted or mark in _CJK_CLAUSE:
            needed = 1
        elif mark in _ENUMERATION:
            needed = self._min_enumeration
        else:
            needed = self._min_after_first
        return end, (_CUT if len(buf[:end].strip()) >= needed else _NO)

    def _cut_long_clause(self, i: int) -> int | None:
        """Where to cut a clause that has grown past the cap: its last space, else before a letter."""
        if self._last_space > 0:
            return self._last_space
        buf = self._buf
        char, previous = buf[i], buf[i - 1]
        # Combining marks and joiners are not alnum, so no character is split; "3.5" and "10:30" stay whole.
        if char.isalnum() and not previous.isdigit() and previous not in _JOINS_NUMBERS:
            return i
        return None


def split_clauses(text: str, delimiters: str = DEFAULT_DELIMITERS) -> list[str]:
    """Splits a whole text the way the chunker would; trailing whitespace stays on the last clause."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    chunker = ClauseChunker(delimiters)
    clauses = chunker.feed(text)
    rest = chunker.flush()
    if rest and clauses and rest.isspace():
        clauses[-1] += rest
    elif rest:
        clauses.append(rest)
    return clauses


# --- frames -------------------------------------------------------------------------------------------

MAX_FRAME_CHARS = 8000
# API Gateway frames are at most 32 KB; this leaves room for the JSON envelope of a `text` message.
MAX_FRAME_TEXT_BYTES = 30_000

_JSON_SHORT_ESCAPES = frozenset('"\\\b\f\n\r\t')


def _json_utf8_size(char: str) -> int:
    """Bytes the character takes in JSON serialised with ensure_ascii=False and encoded as UTF-8."""
    code = ord(char)
    if code < 0x80:
        if char in _JSON_SHORT_ESCAPES:
            return 2
        return 6 if code < 0x20 else 1
    if code < 0x800:
        return 2
    if 0xD800 <= code <= 0xDFFF:
        return 6  # a lone surrogate cannot be UTF-8: count it as a \\u escape
    return 3 if code < 0x10000 else 4


def _starts_inside_character(text: str, index: int) -> bool:
    """Would cutting before text[index] split a surrogate pair or detach a combining mark or joiner?"""
    char, previous = text[index], text[index - 1]
    if "\udc00" <= char <= "\udfff" and "\ud800" <= previous <= "\udbff":
        return True
    if previous == "\u200d" or char == "\u200d":
        return True
    return (
        unicodedata.combining(char) != 0
        or unicodedata.category(char) in ("Mn", "Mc", "Me")
        or "\ufe00" <= char <= "\ufe0f"
        or "\U0001f3fb" <= char <= "\U0001f3ff"
    )


def coalesce(
    clauses: Iterable[str],
    *,
    max_chars: int = MAX_FRAME_CHARS,
    max_text_bytes: int = MAX_FRAME_TEXT_BYTES,
) -> list[str]:
    """Joins the clauses that waited while a send was in flight into as few frames as fit.

    Each frame has at most `max_chars` characters and at most `max_text_bytes` bytes once JSON-escaped
    (ensure_ascii=False) and UTF-8 encoded. Frames break at a clause boundary when one fits, else at a
    space, else between characters, never inside a surrogate pair or before a combining mark or joiner.
    The frames concatenate to the clauses; empty clauses disappear; no frame is empty.
    """
    _validate_count("max_chars", max_chars, 1)
    _validate_count("max_text_bytes", max_text_bytes, 6)
    boundaries: list[int] = []
    parts: list[str] = []
    total = 0
    for clause in clauses:
        if not isinstance(clause, str):
            raise TypeError(f"clauses must be str, got {type(clause).__name__}")
        if clause:
            parts.append(clause)
            total += len(clause)
            boundaries.append(total)
    text = "".join(parts)
    if total <= max_chars and total * 6 <= max_text_bytes:
        return [text] if text else []  # no character can exceed 6 bytes: it fits without measuring
    frames = []
    start = 0
    while start < total:
        limit = start
        size = 0
        while limit < total and limit - start < max_chars:
            size += _json_utf8_size(text[limit])
            if size > max_text_bytes:
                break
            limit += 1
        end = limit if limit == total else _frame_end(text, start, limit, boundaries)
        frames.append(text[start:end])
        start = end
    return frames


def _frame_end(text: str, start: int, limit: int, boundaries: list[int]) -> int:
    """The best place to end a frame that may run from start up to limit (exclusive of later text)."""
    position = bisect_right(boundaries, limit) - 1
    if position >= 0 and boundaries[position] > start:
        return boundaries[position]
    space = max(text.rfind(" ", start + 1, limit + 1), text.rfind("\n", start + 1, limit + 1))
    if space > start + (limit - start) // 2:  # a space early in the window would make a tiny frame
        return space
    end = limit
    while end > start + 1 and _starts_inside_character(text, end):
        end -= 1
    return end if end > start + 1 or not _starts_inside_character(text, end) else limit


# --- speech cleaning ----------------------------------------------------------------------------------

_FENCE = re.compile(r"^[ \t]*(?:```|~~~).*$", re.MULTILINE)
_RULE = re.compile(r"^[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$", re.MULTILINE)
_HEADER = re.compile(r"^[ \t]*#{1,6}[ \t]+", re.MULTILINE)
_BLOCKQUOTE = re.compile(r"^[ \t]*>[ \t]?", re.MULTILINE)
_BULLET = re.compile(r"^[ \t]*[-*+•][ \t]+", re.MULTILINE)
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\([^)\n]*\)")
_LINK = re.compile(r"\[([^\]\n]+)\]\([^)\n]*\)")
_DOUBLE_MARKERS = re.compile(r"\*\*|__|~~|`")
# A single * or _ that opens (before a non-space) or closes (after one) emphasis, but not one inside a
# word ("snake_case", "2*3") or between spaces ("2 * 3").
_SINGLE_MARKER = re.compile(
    r"(?<![\w*])\*(?=[^\s*])|(?<=[^\s*])\*(?![\w*])|(?<!\w)_(?=[^\s_])|(?<=[^\s_])_(?!\w)"
)


def clean_for_speech(text: str) -> str:
    """Strips markdown (headers, bullets, quotes, rules, fences, emphasis, code marks, link targets).

    Punctuation, numbers and numbered lists are left alone. Each rule looks at one line, so it can be
    applied to each chunk as it streams as well as to a whole reply; a link split across chunks keeps its
    brackets.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not text:
        return text
    text = _FENCE.sub("", text)
    text = _RULE.sub("", text)
    text = _HEADER.sub("", text)
    text = _BLOCKQUOTE.sub("", text)
    text = _BULLET.sub("", text)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _DOUBLE_MARKERS.sub("", text)
    return _SINGLE_MARKER.sub("", text)
