"""kimiyi.inputs: the one reader of untrusted JSON and numbers."""

from __future__ import annotations

import json

import pytest

from kimiyi.inputs import MAX_DEPTH, JsonInputError, parse_json, whole_number


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def kind_of(raw, **limits) -> str:
    with pytest.raises(JsonInputError) as caught:
        parse_json(raw, **{"max_size": 10**7, **limits})
    return caught.value.kind


def test_ordinary_documents_are_read_from_bytes_or_text():
    document = {"a": [1, 2.5, "é", "你好", "😀", None, True], "b": {}}
    text = json.dumps(document, ensure_ascii=False)
    assert parse_json(text, max_size=1000) == document
    assert parse_json(text.encode(), max_size=1000) == document
    assert parse_json(b"\xef\xbb\xbf" + text.encode(), max_size=1000) == document  # a BOM is tolerated
    assert parse_json(json.dumps(document), max_size=1000) == document  # \\u escapes, pairs included


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 990, 1_500, 200_000])
def test_nesting_beyond_the_limit_is_too_deep_whatever_the_depth(levels):
    assert kind_of(nested(levels)) == "too_deep"
    assert kind_of("{" + '"a":{' * (levels - 1) + '"b":1' + "}" * levels) == "too_deep"


def test_nesting_up_to_the_limit_is_read():
    assert parse_json(nested(MAX_DEPTH), max_size=1000) is not None
    assert parse_json(nested(5), max_size=1000, max_depth=5) is not None
    assert kind_of(nested(6), max_depth=5) == "too_deep"


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"\xff\xfe{}", "not_utf8"),
        (b'{"a": "\xed\xa0\x80"}', "not_utf8"),  # a surrogate encoded as UTF-8 bytes is not UTF-8
        ("NaN", "not_json"),
        ('{"a": Infinity}', "not_json"),
        ("1" * 5_000, "not_json"),
        ('{"a": 1,}', "not_json"),
        ("", "not_json"),
    ],
)
def test_what_python_would_misread_or_refuse_later_is_named(raw, kind):
    assert kind_of(raw) == kind


def test_the_size_limit_counts_bytes_or_characters():
    assert kind_of(b"[" + b" " * 100 + b"]", max_size=100) == "too_large"
    with pytest.raises(JsonInputError, match="the frame is 102 characters; the limit is 100"):
        parse_json("[" + " " * 100 + "]", max_size=100, what="the frame")


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (r'"\ud800"', "the body"),
        (r'{"a": "x\udfffy"}', "a"),
        (r'{"a": {"b": [1, "\udc00\ud800"]}}', "a.b[1]"),  # low then high: two lone surrogates
        (r'{"\ud800": 1}', r'["\ud800"]'),
        (r'{"nodes": [{"data": {"two words": "\ud83d"}}]}', 'nodes[0].data["two words"]'),
    ],
)
def test_lone_surrogates_are_refused_with_the_path_of_the_field(text, path):
    with pytest.raises(JsonInputError) as caught:
        parse_json(text, max_size=1000)
    error = caught.value
    assert error.kind == "not_unicode"
    assert [where for where, _ in error.problems] == [path]
    assert "unpaired surrogate" in error.problems[0][1]
    # Everything the error says can be written as UTF-8, whatever it echoes.
    json.dumps({"message": error.message, "problems": error.problems}, ensure_ascii=False).encode()


def test_every_bad_field_is_named_up_to_a_limit():
    many = {f"f{n:02}": "\ud800" for n in range(50)}
    with pytest.raises(JsonInputError) as caught:
        parse_json(json.dumps(many), max_size=10_000)
    assert len(caught.value.problems) == 20
    assert caught.value.message.startswith("f00 is not Unicode text (and 19 more fields)")


def test_a_raw_surrogate_in_text_is_refused_too():
    assert kind_of('{"a": "\ud800"}') == "not_unicode"  # a str holding the character, not the escape


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("74", 74),
        (" 74 ", 74),
        ("007", 7),
        ("100", 100),
        ("101", None),  # above the bound
        ("²", None),  # "²".isdigit() is true; int("²") raises
        ("١٢", None),  # Arabic-Indic digits: int() reads 12
        ("１２", None),  # fullwidth digits: int() reads 12
        ("1" * 39, None),  # past DynamoDB's 38 digits, and never converted
        ("9" * 5_000, None),  # past Python's 4,300-digit conversion limit, and never converted
        ("-5", None),
        ("+5", None),
        ("1e3", None),
        ("1_000", None),
        ("0x10", None),
        ("", None),
        (" ", None),
        (None, None),
    ],
)
def test_whole_numbers_are_ascii_digits_within_bounds(text, expected):
    assert whole_number(text, high=100) == expected


def test_whole_number_low_bound():
    assert whole_number("99", low=100, high=699) is None
    assert whole_number("200", low=100, high=699) == 200
