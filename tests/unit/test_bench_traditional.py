"""bench/traditional_vs_optimized.py's pure helpers: the ratios, the TwiML text, the arguments."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from bench.traditional_vs_optimized import (
    CACHED,
    LLM,
    QUESTIONS,
    SCRIPT,
    BenchError,
    PlayedCall,
    check_llm_requests,
    check_stream_paths,
    kind_of,
    of_kind,
    paired_ratios,
    parse_args,
    ratios_of,
    same_words,
    say_text,
    sum_ratio,
)


def test_the_common_phrases_come_first_in_the_script_so_they_stay_context_free():
    kinds = [kind_of(utterance) for utterance in SCRIPT]
    assert kinds == sorted(kinds, key=lambda kind: kind != CACHED)
    assert CACHED in kinds and LLM in kinds


def test_say_text_joins_every_say_in_the_twiml_nested_or_not():
    root = ET.fromstring(
        "<Response><Say>Of course,</Say><Gather action='x'><Say> we are open. </Say></Gather></Response>"
    )
    assert say_text(root) == "Of course, we are open."
    assert say_text(ET.fromstring("<Response><Hangup/></Response>")) == ""


def test_same_words_ignores_only_whitespace():
    assert same_words("Of course,  we are\nopen.", "Of course, we are open.")
    assert not same_words("Of course, we are open", "Of course, we are open.")


def test_sum_ratio_is_total_classic_over_total_stream():
    assert sum_ratio([500, 500], [10, 240]) == 4.0
    with pytest.raises(ValueError):
        sum_ratio([500], [10, 240])
    with pytest.raises(ValueError):
        sum_ratio([], [])


def test_paired_ratios_pair_calls_in_order_and_turns_by_position():
    assert paired_ratios([[100, 200], [300, 400]], [[10, 100], [30, 200]]) == [10, 2, 10, 2]
    with pytest.raises(ValueError):
        paired_ratios([[100]], [[10], [20]])


def test_ratios_split_by_turn_kind():
    kinds = [CACHED, LLM]
    classic = [[500.0, 500.0], [500.0, 500.0]]
    stream = [[10.0, 250.0], [10.0, 250.0]]
    assert of_kind(stream, kinds, LLM) == [[250.0], [250.0]]
    assert ratios_of(classic, stream, kinds) == {
        "overall": 3.846,
        "median": 26.0,
        CACHED: 50.0,
        f"{CACHED}Median": 50.0,
        LLM: 2.0,
        f"{LLM}Median": 2.0,
    }


@pytest.mark.parametrize(
    "argv",
    [
        ["--calls", "1"],
        ["--first-token-ms", "-1"],
        ["--token-ms", "-0.5"],
        ["--reply", " "],
        ["--reply", " ".join(["word"] * 70)],
    ],
)
def test_bad_arguments_are_refused(argv):
    with pytest.raises(SystemExit):
        parse_args(argv)


def test_the_defaults_are_valid():
    settings = parse_args([])
    assert (settings.calls, settings.first_token_ms, settings.token_ms) == (6, 200.0, 10.0)


def test_a_stream_turn_off_its_expected_path_stops_the_benchmark():
    hits = [kind_of(utterance) == CACHED for utterance in SCRIPT]
    check_stream_paths([PlayedCall("stream", "trk-ok", cache_hits=hits)])
    missed = [False, *hits[1:]]  # the first common phrase went to the LLM: not a cached turn
    with pytest.raises(BenchError, match="cacheHit is False"):
        check_stream_paths([PlayedCall("stream", "trk-miss", cache_hits=missed)])


def test_the_llm_request_count_must_match_the_turns_that_need_the_llm():
    calls = 3
    expected = calls * len(SCRIPT) + len(SCRIPT) + (calls - 1) * len(QUESTIONS)
    check_llm_requests(expected, calls)
    with pytest.raises(BenchError):
        check_llm_requests(expected + 1, calls)
