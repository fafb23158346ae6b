"""The clause chunker: where speakable clauses end, frames for the sender, and markdown cleaning."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kimiyi.chunking import (
    DEFAULT_DELIMITERS,
    MAX_FRAME_CHARS,
    MAX_FRAME_TEXT_BYTES,
    ClauseChunker,
    clean_for_speech,
    coalesce,
    complete_clauses,
    split_clauses,
)


def stream(tokens: list[str], chunker: ClauseChunker | None = None) -> list[tuple[int, str]]:
    """Feeds the tokens; returns (index of the token that released it, chunk), the flush as index -1."""
    chunker = chunker or ClauseChunker()
    released = [(index, chunk) for index, token in enumerate(tokens) for chunk in chunker.feed(token)]
    rest = chunker.flush()
    return [*released, (-1, rest)] if rest else released


def chunks_of(tokens: list[str], chunker: ClauseChunker | None = None) -> list[str]:
    return [chunk for _, chunk in stream(tokens, chunker)]


def boundaries(chunks: list[str]) -> set[int]:
    """Offsets in the joined text where one chunk ends and the next begins."""
    offsets, total = set(), 0
    for chunk in chunks[:-1]:
        total += len(chunk)
        offsets.add(total)
    return offsets


def all_two_token_splits(text: str) -> list[list[str]]:
    return [[text[:cut], text[cut:]] for cut in range(1, len(text))]


# --- whole texts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sure! I can help.", ["Sure!", " I can help."]),
        ("It costs $12.50 today. Anything else?", ["It costs $12.50 today.", " Anything else?"]),
        ("We have 1,000 seats and 3.5 stars. Great.", ["We have 1,000 seats and 3.5 stars.", " Great."]),
        ("Step 3. Then stop.", ["Step 3.", " Then stop."]),
        ("Dr. Smith and Mrs. Jones will see you. Bye.", ["Dr. Smith and Mrs. Jones will see you.", " Bye."]),
        ("Ms. Lee lives on Oak St. near the park.", ["Ms. Lee lives on Oak St. near the park."]),
        ("Bring ID, e.g. a passport, i.e. photo ID.", ["Bring ID,", " e.g. a passport, i.e. photo ID."]),
        ("J. Smith called. He left.", ["J. Smith called.", " He left."]),
        ("The U.S. team won.", ["The U.S. team won."]),
        ("Meet at 10:30 a.m. on Monday. See you.", ["Meet at 10:30 a.m. on Monday.", " See you."]),
        ("Meet at 4 p.m. Bring snacks.", ["Meet at 4 p.m.", " Bring snacks."]),
        ("Apples, pears, etc. are fine.", ["Apples,", " pears, etc. are fine."]),
        ("Apples, pears, etc. All fine.", ["Apples,", " pears, etc.", " All fine."]),
        (
            "Visit example.com today. Or www.example.org.",
            ["Visit example.com today.", " Or www.example.org."],
        ),
        ("Email anna@example.com. Thanks.", ["Email anna@example.com.", " Thanks."]),
        ("See https://example.com/a?b=1 now.", ["See https://example.com/a?b=1 now."]),
        ("Well... maybe. Wait...what?", ["Well...", " maybe.", " Wait...what?"]),
        ("Really?! Yes.", ["Really?!", " Yes."]),
        ('He said "yes." Then left.', ['He said "yes."', " Then left."]),
        ("(See the note.) Done.", ["(See the note.)", " Done."]),
        ("Hi Anna, how are you today?", ["Hi Anna,", " how are you today?"]),
        ("Line one\nLine two\n\nLine three", ["Line one", "\nLine two", "\n\nLine three"]),
        ("I don't. Sorry.", ["I don't.", " Sorry."]),
        ("OK.好的。", ["OK.", "好的。"]),
    ],
)
def test_english_and_mixed_text_splits_at_true_clause_ends_only(text, expected):
    assert split_clauses(text) == expected


@pytest.mark.parametrize(
    ("text", "delimiters", "expected"),
    [
        ("好呀，聽日下晝三點見。", "，。！？；：、", ["好呀，", "聽日下晝三點見。"]),
        (
            "好的，我明白了。请问还有什么需要帮忙的吗？",
            "，。！？；：、",
            ["好的，", "我明白了。", "请问还有什么需要帮忙的吗？"],
        ),
        (
            "はい、承知しました。明日の三時に伺います。",
            "、。！？",
            ["はい、", "承知しました。", "明日の三時に伺います。"],
        ),
        ("नमस्ते। आप कैसे हैं?", "।?", ["नमस्ते।", " आप कैसे हैं?"]),
        ("مرحبا، كيف حالك؟ أنا بخير.", "؟،.", ["مرحبا،", " كيف حالك؟", " أنا بخير."]),
        ("ሰላም። እንዴት ነህ?", "።?", ["ሰላም።", " እንዴት ነህ?"]),
        ("我哋三點見，OK? See you then.", DEFAULT_DELIMITERS, ["我哋三點見，", "OK?", " See you then."]),
        ("價錢係$3.5，好平。", DEFAULT_DELIMITERS, ["價錢係$3.5，", "好平。"]),
    ],
)
def test_other_scripts_split_at_their_own_punctuation(text, delimiters, expected):
    assert split_clauses(text, delimiters) == expected


def test_delimiters_outside_the_language_table_are_ordinary_text():
    assert split_clauses("Version 2. Next. नमस्ते।", "।") == ["Version 2. Next. नमस्ते।"]


def test_trailing_whitespace_stays_on_the_last_clause_of_a_whole_text():
    assert split_clauses("Hi. ") == ["Hi. "]
    assert split_clauses("") == []
    assert split_clauses("   ") == ["   "]


# --- streaming: when a clause is released ------------------------------------------------------------


def test_the_first_clause_is_released_by_the_token_that_completes_it():
    assert stream(["Sure", "!", " I", " can", "."]) == [(1, "Sure!"), (4, " I can.")]


def test_a_plain_full_stop_does_not_wait_for_the_next_token():
    assert stream(["Hello", " there", "."]) == [(2, "Hello there.")]


def test_cantonese_one_character_per_token_releases_at_each_mark():
    text = "好呀，聽日下晝三點見。"
    assert stream(list(text)) == [(2, "好呀，"), (10, "聽日下晝三點見。")]


def test_a_cjk_closing_quote_inside_an_open_quote_waits_one_token_to_stay_with_its_clause():
    text = "「好呀，聽日下晝三點見。」"
    assert stream(list(text)) == [(3, "「好呀，"), (12, "聽日下晝三點見。」")]


def test_a_decimal_point_at_the_end_of_a_token_waits_for_the_next_token():
    assert stream(["It is", " 3", ".", "5", " km", "."]) == [(5, "It is 3.5 km.")]
    assert stream(["Step", " 3", ".", " Done", "."]) == [(3, "Step 3."), (4, " Done.")]


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        (["Call", " 1", ",", "000", " people", "."], [(5, "Call 1,000 people.")]),
        (["At", " 10", ":", "30", ".", " Ok"], [(5, "At 10:30."), (-1, " Ok")]),
        (["Cost", ": $", "12", ".", "50", " now", "."], [(1, "Cost:"), (6, " $12.50 now.")]),
        (["See", " Dr", ".", " Smith", "."], [(4, "See Dr. Smith.")]),
        (["Ask", " J", ".", " Smith", "."], [(4, "Ask J. Smith.")]),
        (["At", " 3", " p", ".", "m", ".", " on", " Sunday", "."], [(8, "At 3 p.m. on Sunday.")]),
        (["At", " 3", " p", ".m", ".", " Bye", "."], [(5, "At 3 p.m."), (6, " Bye.")]),
        (["Pens", " etc", ".", " Then", "."], [(3, "Pens etc."), (4, " Then.")]),
        (["Ok", ".", " Pens", " etc", ".", ",", " ink", "."], [(1, "Ok."), (7, " Pens etc., ink.")]),
        (
            ["Mail", " anna", "@example", ".com", ".", " Bye", "."],
            [(5, "Mail anna@example.com."), (6, " Bye.")],
        ),
        (["Go", " to", " example", ".com", " now", "."], [(5, "Go to example.com now.")]),
        (["Hmm", "...", " yes", "."], [(2, "Hmm..."), (3, " yes.")]),
        (["Hmm", "...", "yes", ".", " Ok"], [(4, "Hmm...yes."), (-1, " Ok")]),
        (["Really", "?!", " Yes", "."], [(1, "Really?!"), (3, " Yes.")]),
        (["Really", "?", "!", " Yes", "."], [(1, "Really?"), (4, "! Yes.")]),
        (["Open", " https", ":", "//x.io", " now", "."], [(5, "Open https://x.io now.")]),
    ],
)
def test_streamed_tokens_release_clauses_exactly_when_the_text_decides(tokens, expected):
    assert stream(tokens) == expected


def test_a_closing_quote_in_a_later_token_is_kept_when_a_quote_is_open():
    assert stream(["He", ' said "', "yes", ".", '"', " Then", "."]) == [(4, 'He said "yes."'), (6, " Then.")]


def test_without_an_open_quote_a_late_closer_leads_the_next_chunk():
    # the trade-off: no wait at every full stop for a quote that almost never comes
    assert stream(["Yes", ".", ")", " Then", "."]) == [(1, "Yes."), (4, ") Then.")]


def test_an_ellipsis_at_the_end_of_the_buffer_waits_for_what_follows():
    assert stream(["Well", "...", " yes", "."]) == [(2, "Well..."), (3, " yes.")]
    assert stream(["Well", "..."]) == [(-1, "Well...")]


# --- comma minimums -----------------------------------------------------------------------------------


def test_a_short_comma_clause_is_released_first_but_not_later():
    chunks = chunks_of(["Yes", ",", " I", " see", ".", " Ok", ",", " fine", "."])
    assert chunks == ["Yes,", " I see.", " Ok, fine."]


def test_a_long_comma_clause_after_the_first_is_released_at_the_comma():
    tokens = ["Hi", ".", " The", " appointment", " is", " confirmed", ",", " see", " you", "."]
    assert stream(tokens) == [(1, "Hi."), (6, " The appointment is confirmed,"), (9, " see you.")]


def test_min_chars_after_first_is_configurable():
    chunker = ClauseChunker(min_chars_after_first=0)
    assert chunks_of(["Hi", ".", " Ok", ",", " fine", "."], chunker) == ["Hi.", " Ok,", " fine."]


def test_fullwidth_commas_always_end_a_clause_but_the_enumeration_comma_needs_length():
    assert split_clauses("好。一、二、三，係咁。") == ["好。", "一、二、三，", "係咁。"]
    long_list = "我哋有蘋果橙同埋香蕉雪梨、提子。"
    assert split_clauses("好。" + long_list) == ["好。", "我哋有蘋果橙同埋香蕉雪梨、", "提子。"]
    assert split_clauses("はい、わかりました。") == ["はい、", "わかりました。"]


# --- newlines, caps, reset ----------------------------------------------------------------------------


def test_newlines_end_clauses_and_blank_lines_do_not_make_chunks():
    tokens = ["Options", ":\n", "-", " one", "\n", "\n", "-", " two"]
    assert chunks_of(tokens) == ["Options:", "\n- one", "\n\n- two"]


def test_a_clause_without_punctuation_is_cut_at_its_last_space_when_too_long():
    words = [f" word{i}" for i in range(40)]
    chunks = chunks_of(words, ClauseChunker(max_clause_chars=50))
    assert "".join(chunks) == "".join(words)
    assert all(len(chunk) <= 50 for chunk in chunks[:-1])
    assert all(chunk.startswith(" word") for chunk in chunks)


def test_a_long_clause_without_spaces_is_cut_between_letters_but_not_inside_a_number():
    text = "好" * 30 + "1234567890" + "好" * 30
    chunks = chunks_of(list(text), ClauseChunker(max_clause_chars=25))
    assert "".join(chunks) == text
    assert len(chunks) > 2
    digits = range(text.index("1") + 1, text.index("0") + 1)
    assert not boundaries(chunks) & set(digits)


def test_the_length_cap_never_cuts_inside_a_time_or_a_decimal():
    text = "好好好10:30好好3.5好好"
    for cap in range(2, 12):
        chunks = chunks_of(list(text), ClauseChunker(max_clause_chars=cap))
        assert "".join(chunks) == text
        assert any("10:30" in chunk for chunk in chunks), (cap, chunks)
        assert any("3.5" in chunk for chunk in chunks), (cap, chunks)


def test_flush_returns_the_rest_and_the_next_reply_starts_fresh():
    chunker = ClauseChunker()
    assert chunker.feed("Hello there, friend") == ["Hello there,"]
    assert chunker.pending == " friend"
    assert chunker.flush() == " friend"
    assert chunker.pending == ""
    assert chunker.flush() == ""
    assert chunker.feed("Yes,") == ["Yes,"]  # the first clause of the next reply is fast again


def test_pending_holds_an_undecided_decimal_point():
    chunker = ClauseChunker()
    assert chunker.feed("It is 3.") == []
    assert chunker.pending == "It is 3."
    assert chunker.feed(" Done") == ["It is 3."]
    assert chunker.pending == " Done"


def test_a_held_decimal_at_the_end_of_the_stream_comes_out_in_flush():
    chunker = ClauseChunker()
    assert chunker.feed("Total 3.") == []
    assert chunker.flush() == "Total 3."


def test_punctuation_alone_is_never_a_chunk():
    assert chunks_of(["...", "?", "\n", "Hi", "."]) == ["...?\nHi."]
    assert chunks_of(["Hi", ".", "\n", '"', "\n", "Yo", "."]) == ["Hi.", '\n"\nYo.']


# --- every split ---------------------------------------------------------------------------------------

PROTECTED_TEXT = (
    "Dr. Smith paid $12.50 for 1,000 pens at 10:30 a.m. on Monday, i.e. early. "
    "J. Smith and the U.S. team said 3.5 is fine, e.g. now! Ok."
)
PROTECTED_SPANS = [
    "Dr. Smith",
    "$12.50",
    "1,000",
    "10:30",
    "a.m. on",
    "i.e. early",
    "J. Smith",
    "U.S. team",
    "3.5",
    "e.g. now",
]


def protected_offsets(text: str, spans: list[str]) -> set[int]:
    inside = set()
    for span in spans:
        start = text.index(span)
        inside.update(range(start + 1, start + len(span)))
    return inside


def test_every_two_token_split_keeps_the_text_and_never_splits_a_protected_span():
    inside = protected_offsets(PROTECTED_TEXT, PROTECTED_SPANS)
    for tokens in all_two_token_splits(PROTECTED_TEXT):
        chunks = chunks_of(tokens)
        assert "".join(chunks) == PROTECTED_TEXT
        assert not boundaries(chunks) & inside, (tokens, chunks)


def test_one_character_per_token_gives_the_same_clauses_as_the_whole_text():
    assert chunks_of(list(PROTECTED_TEXT)) == split_clauses(PROTECTED_TEXT)
    assert split_clauses(PROTECTED_TEXT) == [
        "Dr. Smith paid $12.50 for 1,000 pens at 10:30 a.m. on Monday,",
        " i.e. early.",
        " J. Smith and the U.S. team said 3.5 is fine,",
        " e.g. now!",
        " Ok.",
    ]


def test_every_split_of_three_point_five_keeps_the_number_whole():
    for tokens in (["3", ".", "5"], ["It is 3", ".", "5 km."], ["It is 3.", "5 km."], ["It is 3", ".5 km."]):
        chunks = chunks_of(tokens)
        assert "".join(chunks) == "".join(tokens)
        assert any("3.5" in chunk for chunk in chunks), chunks


# --- properties ----------------------------------------------------------------------------------------

TRICKY = st.sampled_from(
    [*"aZ9 .,!?;:…\n\"'()「」。，、！？ा\u0301", "3.5", "Dr.", "e.g.", " ", "好", "😀", "1,000", "।", "؟"]
)


@st.composite
def text_and_tokens(draw, alphabet=TRICKY):
    text = "".join(draw(st.lists(alphabet, max_size=60)))
    cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=20)))
    edges = [0, *cuts, len(text)]
    return text, [text[a:b] for a, b in pairwise(edges)]


@settings(max_examples=300, deadline=None)
@given(text_and_tokens(), st.integers(0, 30), st.integers(2, 40))
def test_any_text_in_any_tokens_comes_back_whole_with_no_empty_chunk(pair, min_after_first, max_clause):
    text, tokens = pair
    chunker = ClauseChunker(min_chars_after_first=min_after_first, max_clause_chars=max_clause)
    emitted: list[str] = []
    fed = ""
    for token in tokens:
        ready = chunker.feed(token)
        fed += token
        for chunk in ready:
            assert chunk
            assert any(c.isalnum() for c in chunk)
        emitted.extend(ready)
        assert "".join(emitted) + chunker.pending == fed
    rest = chunker.flush()
    assert "".join(emitted) + rest == text


@settings(max_examples=200, deadline=None)
@given(
    text_and_tokens(
        st.sampled_from(["Pay", " $", "3.5", "12.50", "1,000", "10:30", ".", ",", "!", " ", "ok"])
    ),
    st.integers(2, 300),
)
def test_numbers_are_never_split_whatever_the_tokens(pair, max_clause):
    text, tokens = pair
    chunks = chunks_of(tokens, ClauseChunker(max_clause_chars=max_clause))
    assert "".join(chunks) == text
    for cut in boundaries(chunks):
        before, after = text[cut - 1], text[cut]
        assert not (before.isdigit() and after in ".,:"), (tokens, chunks)
        assert not (before in ".,:" and after.isdigit() and cut >= 2 and text[cut - 2].isdigit()), (
            tokens,
            chunks,
        )


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80))
def test_split_clauses_keeps_any_text(text):
    clauses = split_clauses(text)
    assert "".join(clauses) == text
    assert all(clauses)


# --- bad input -----------------------------------------------------------------------------------------


def test_bad_input_is_rejected_with_a_message_naming_it():
    with pytest.raises(TypeError, match="token must be a str, got bytes"):
        ClauseChunker().feed(b"hi")
    with pytest.raises(TypeError, match="token must be a str, got NoneType"):
        ClauseChunker().feed(None)
    with pytest.raises(ValueError, match=r"delimiters must be punctuation.*'a'"):
        ClauseChunker(".a")
    with pytest.raises(ValueError, match="delimiters must be punctuation"):
        ClauseChunker(". ")
    with pytest.raises(TypeError, match="delimiters must be a str"):
        ClauseChunker([".", ","])
    with pytest.raises(ValueError, match="min_chars_after_first must be at least 0, got -1"):
        ClauseChunker(min_chars_after_first=-1)
    with pytest.raises(TypeError, match="max_clause_chars must be an int, got bool"):
        ClauseChunker(max_clause_chars=True)
    with pytest.raises(TypeError, match="text must be a str"):
        split_clauses(None)


def test_an_empty_token_releases_nothing():
    chunker = ClauseChunker()
    assert chunker.feed("") == []
    assert chunker.pending == ""


# --- frames --------------------------------------------------------------------------------------------


def json_bytes(text: str) -> int:
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8")) - 2  # without the quotes


def test_waiting_clauses_become_one_frame():
    assert coalesce([" I can help,", " of course.", ""]) == [" I can help, of course."]
    assert coalesce([]) == []
    assert coalesce(["", ""]) == []


def test_frames_break_at_clause_boundaries_when_the_text_is_too_big():
    clauses = ["a" * 6000 + ".", " " + "b" * 5000 + "."]
    assert coalesce(clauses) == clauses
    assert MAX_FRAME_CHARS == 8000


def test_a_clause_bigger_than_a_frame_breaks_at_a_space():
    clause = " ".join(["word"] * 3000)
    frames = coalesce([clause])
    assert "".join(frames) == clause
    assert all(len(frame) <= MAX_FRAME_CHARS for frame in frames)
    assert all(frame.startswith((" word", "word")) and frame.endswith("word") for frame in frames)


def test_multibyte_text_is_capped_by_its_encoded_size():
    text = "好" * 20_000  # 60 KB of UTF-8, no spaces
    assert [len(frame) for frame in coalesce([text])] == [8000, 8000, 4000]
    frames = coalesce([text], max_chars=20_000)
    assert "".join(frames) == text
    assert all(json_bytes(frame) <= MAX_FRAME_TEXT_BYTES for frame in frames)
    assert [len(frame) for frame in frames] == [10_000, 10_000]  # 30,000 bytes of 3-byte characters
    emoji = "😀" * 10_000
    frames = coalesce([emoji])
    assert "".join(frames) == emoji
    assert all(json_bytes(frame) <= MAX_FRAME_TEXT_BYTES for frame in frames)


def test_json_escapes_count_towards_the_cap():
    text = '"\\' * 10
    frames = coalesce([text], max_chars=100, max_text_bytes=10)
    assert "".join(frames) == text
    assert all(json_bytes(frame) <= 10 for frame in frames)


def test_a_frame_never_ends_inside_a_character():
    combining = "e\u0301" * 10  # é as e + combining acute
    frames = coalesce([combining], max_chars=5)
    assert "".join(frames) == combining
    assert all(not frame.startswith("\u0301") for frame in frames)
    family = "👨\u200d👩\u200d👧" * 4
    frames = coalesce([family], max_chars=6)
    assert "".join(frames) == family
    assert frames == ["👨\u200d👩\u200d👧"] * 4
    pairs = "\ud83d\ude00" * 6  # a surrogate pair kept as two code points
    frames = coalesce([pairs], max_chars=3)
    assert "".join(frames) == pairs
    assert all(not frame.startswith("\ude00") for frame in frames)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.text(max_size=40), max_size=8),
    st.integers(1, 30),
    st.integers(6, 60),
)
def test_frames_always_reassemble_and_fit(clauses, max_chars, max_bytes):
    frames = coalesce(clauses, max_chars=max_chars, max_text_bytes=max_bytes)
    assert "".join(frames) == "".join(clauses)
    assert all(frames)
    for frame in frames:
        assert len(frame) <= max_chars
        assert len(json.dumps(frame, ensure_ascii=False).encode("utf-8", "surrogatepass")) - 2 <= max_bytes


def test_coalesce_rejects_bad_input():
    with pytest.raises(TypeError, match="clauses must be str, got int"):
        coalesce(["ok", 3])
    with pytest.raises(ValueError, match="max_chars must be at least 1, got 0"):
        coalesce(["ok"], max_chars=0)
    with pytest.raises(ValueError, match="max_text_bytes must be at least 6"):
        coalesce(["ok"], max_text_bytes=5)


# --- clean_for_speech ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("**Note**: call us at 3.5 p.m.!", "Note: call us at 3.5 p.m.!"),
        (
            "# Opening hours\n- Monday: 9 to 5\n* Tuesday: closed",
            "Opening hours\nMonday: 9 to 5\nTuesday: closed",
        ),
        ("  + nested item", "nested item"),
        ("1. First, 2. second.", "1. First, 2. second."),
        ("This is *really* _very_ ~~not~~ good.", "This is really very not good."),
        ("Use `snake_case` and 2 * 3 = 6, or 2*3.", "Use snake_case and 2 * 3 = 6, or 2*3."),
        ("See [our site](https://example.com) or ![logo](x.png).", "See our site or logo."),
        ("> quoted line\nnormal", "quoted line\nnormal"),
        ("before\n---\nafter", "before\n\nafter"),
        ("```python\nprint(1)\n```", "\nprint(1)\n"),
        ("Hello, world! (Really?) Yes; no: maybe.", "Hello, world! (Really?) Yes; no: maybe."),
        ("價錢係 **$3.5**，好平。", "價錢係 $3.5，好平。"),
        ("-5 degrees, #1 choice", "-5 degrees, #1 choice"),
        ("", ""),
    ],
)
def test_clean_for_speech_strips_markdown_and_keeps_punctuation(text, expected):
    assert clean_for_speech(text) == expected


def test_clean_for_speech_works_chunk_by_chunk():
    chunks = split_clauses("**Sure**, here is the *plan*.\n- Call *Anna*.\n- Book the **room**.")
    assert (
        "".join(clean_for_speech(chunk) for chunk in chunks)
        == "Sure, here is the plan.\nCall Anna.\nBook the room."
    )


def test_clean_for_speech_rejects_non_text():
    with pytest.raises(TypeError, match="text must be a str, got NoneType"):
        clean_for_speech(None)


def test_an_undecided_mark_followed_by_endless_filler_is_eventually_decided():
    chunker = ClauseChunker()
    assert chunker.feed("Pens etc.") == []
    released = [chunk for _ in range(40) for chunk in chunker.feed(" ")]
    assert released == ["Pens etc."]
    assert chunker.pending == " " * 40


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Hi! How", "Hi!"),
        ("We open at 9. On Sat", "We open at 9."),
        ("It costs 3.5", ""),  # a decimal point is no boundary
        ("Sure, we", "Sure,"),
        ("Done.", "Done."),  # a mark at the very end: the stream stopped right after it
        ("no boundary at all", ""),
        ("冇問題。我哋", "冇問題。"),  # CJK marks need no space after them
        ("好，聽日", "好，"),
        ("First line\nsecond", "First line\n"),
    ],
)
def test_complete_clauses_keeps_text_up_to_its_last_boundary(text, kept):
    assert complete_clauses(text, ".!?,;:。！？，；：") == kept
