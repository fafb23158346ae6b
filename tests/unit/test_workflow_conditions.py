"""Conditions: comparisons, keywords (spaced and CJK), DTMF and the built-in intents."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kimiyi.workflow import INTENT_NAMES, compare, matches_intent
from kimiyi.workflow.conditions import parse_condition
from kimiyi.workflow.errors import Problems
from kimiyi.workflow.text import tokenize


def condition(raw: object):
    problems = Problems()
    parsed = parse_condition(raw, "c", problems)
    assert not problems.errors, problems.errors
    return parsed


def said(raw: object, utterance: str) -> bool:
    return condition(raw).matches(tokenize(utterance), None, {})


# --- variable comparisons -----------------------------------------------------------------------

COMPARISONS = [
    # numbers compare as numbers when both sides parse
    (10, ">", 9, True),
    ("10", ">", "9", True),
    ("10", ">", 9, True),
    (" 2.50 ", "==", "2.5", True),
    ("2.5", "!=", 2.5, False),
    (3, ">=", 3, True),
    (3, "<", 3.5, True),
    ("-1", "<=", 0, True),
    (Decimal("7"), "==", 7, True),
    ("１０", ">", 9, True),  # full-width digits
    ("1e3", "==", 1000, True),
    # text otherwise: case- and width-insensitive, ordered as text
    ("10", ">", "9a", False),
    ("Alice", "==", "alice", True),
    ("ＡＬＩＣＥ", "==", "alice", True),
    ("alice", "!=", "bob", True),
    ("2024-05-01", "<", "2024-06-01", True),
    ("b", ">", "a", True),
    ("b", "<=", "a", False),
    ("nan", "==", "NaN", True),  # not a number here: compared as text
    (True, "==", "true", True),
    (True, "==", True, True),
    (False, "!=", True, True),
    (True, "==", 1, False),  # a boolean is not the number 1
    ("Gold member", "contains", "GOLD", True),
    ("Gold member", "contains", "silver", False),
    (12345, "contains", 234, True),
    ("anything", "exists", None, True),
    (False, "exists", None, True),
    (0, "exists", None, True),
    ("   ", "exists", None, False),
    ("", "exists", None, False),
]


@pytest.mark.parametrize(("left", "operator", "right", "expected"), COMPARISONS)
def test_compare(left, operator: str, right, expected: bool) -> None:
    assert compare(left, operator, right) is expected


@pytest.mark.parametrize("operator", ["==", "!=", ">", ">=", "<", "<=", "contains", "exists"])
def test_a_missing_variable_satisfies_no_operator(operator: str) -> None:
    assert compare(None, operator, 1) is False


def test_variable_condition_reads_the_calls_variables() -> None:
    rule = condition({"type": "variable", "variable": "visits", "operator": ">=", "value": 3})
    assert rule.matches((), None, {"visits": "4"}) is True
    assert rule.matches((), None, {"visits": 2}) is False
    assert rule.matches((), None, {}) is False
    assert rule.deterministic and not rule.needs_caller


def test_exists_ignores_a_value_and_keeps_none_in_its_shape() -> None:
    rule = condition({"type": "variable", "variable": "vip", "operator": "exists", "value": "ignored"})
    assert rule.to_json() == {"type": "variable", "variable": "vip", "operator": "exists"}


# --- keywords --------------------------------------------------------------------------------------

KEYWORDS = [
    (["cancel"], "I need to CANCEL my appointment", True),
    (["cancel"], "ＣＡＮＣＥＬ", True),  # full-width
    (["cancel"], "cancellation fee?", False),  # whole words only
    (["yes"], "yesterday was fine", False),
    (["another day"], "Can we do another   day?", True),
    (["another day"], "another, day", True),  # punctuation between words still matches
    (["don't"], "I dont know", True),  # apostrophes are dropped on both sides
    (["sure"], "I'm not sure", False),  # negated
    (["sure"], "Not now. Sure, go ahead", True),  # the negation was in another clause
    (["係"], "係呀", True),
    (["係"], "我係陳生", True),  # keywords match anywhere; the yes intent is stricter
    (["係"], "唔係", False),  # 唔 negates it
    (["好"], "好呀，冇問題", True),
    (["好"], "唔好", False),
    (["好"], "好唔好呀？", False),  # an A-not-A question, not an answer
    (["取消"], "我想取消個預約", True),
    (["取消"], "取 消", True),  # speech-to-text sometimes spaces CJK characters
    (["取消"], "唔使取消", False),  # a modal may stand between: "no need to cancel"
    (["取消"], "不想取消", False),
    (["cancel"], "I don't want to cancel", False),
    (["cancel"], "Don't wait, cancel it", True),
    (["改期"], "可唔可以改期呀", True),
    (["予約"], "予約をキャンセルしたい", True),  # Japanese, no spaces
    (["예약"], "예약 취소", True),  # Korean uses spaces: matched as words
    (["예"], "예약 취소", False),
    (["mañana"], "¿Puede ser MAÑANA?", True),
    (["cancel", "取消"], "ok 取消啦", True),
]


@pytest.mark.parametrize(("keywords", "utterance", "expected"), KEYWORDS)
def test_keywords(keywords: list[str], utterance: str, expected: bool) -> None:
    assert said({"type": "keywords", "keywords": keywords}, utterance) is expected


def test_keywords_need_an_utterance() -> None:
    assert condition({"type": "keywords", "keywords": ["hi"]}).matches((), "1", {}) is False


# --- DTMF ------------------------------------------------------------------------------------------


def test_dtmf_matches_only_its_key() -> None:
    rule = condition({"type": "dtmf", "digit": "#"})
    assert rule.matches((), "#", {}) is True
    assert rule.matches((), "1", {}) is False
    assert rule.matches(tokenize("#"), None, {}) is False  # saying it is not pressing it


def test_dtmf_accepts_a_number_from_the_builder() -> None:
    assert condition({"type": "dtmf", "digit": 0}).digit == "0"


@pytest.mark.parametrize("digit", ["10", "a", "", " ", -1, 10, True, 1.5, ["1"]])
def test_dtmf_rejects_anything_that_is_not_one_key(digit: object) -> None:
    problems = Problems()
    assert parse_condition({"type": "dtmf", "digit": digit}, "c", problems) is None
    assert [p.path for p in problems.errors] == ["c.digit"]


# --- shapes ----------------------------------------------------------------------------------------


def test_missing_condition_means_always_and_else_is_an_alias() -> None:
    assert condition(None).kind == "always"
    assert condition({"type": "else"}).kind == "always"


def test_a_plain_string_is_an_llm_condition() -> None:
    rule = condition("the caller wants to reschedule")
    assert (rule.kind, rule.prompt) == ("llm", "the caller wants to reschedule")
    assert not rule.deterministic and rule.needs_caller


def test_intent_names_are_case_insensitive() -> None:
    assert condition({"type": "intent", "intent": "YES"}).intent == "yes"


def test_intent_with_no_utterance_does_not_match() -> None:
    assert condition({"type": "intent", "intent": "yes"}).matches((), None, {}) is False


# --- built-in intents --------------------------------------------------------------------------------

INTENT_CASES = [
    # English
    ("yes", "Yes, that works", True),
    ("yes", "Yeah sure", True),
    ("yes", "That's right.", True),
    ("yes", "Okay.", True),
    ("yes", "um okay", True),
    ("yes", "Okay, but can I move it?", False),  # a contrast takes it back
    ("yes", "I'm not sure", False),
    ("yes", "yesterday", False),
    ("yes", "No problem!", True),
    ("no", "No problem!", False),
    ("no", "Nope", True),
    ("no", "No, I can't make it", True),
    ("repeat", "Sorry, what did you say?", True),
    ("repeat", "What?", True),
    ("repeat", "What time is it?", False),
    ("goodbye", "OK bye!", True),
    ("human", "Can I talk to a real person?", True),
    ("human", "put me through to the front desk", True),
    # Cantonese
    ("yes", "係", True),
    ("yes", "係呀，我會嚟", True),
    ("yes", "係呀我會嚟", True),
    ("yes", "嗯，好呀", True),
    ("yes", "好好好", True),
    ("yes", "得", True),
    ("yes", "冇問題", True),
    ("yes", "我係陳生", False),  # 係 as "am", not "yes"
    ("yes", "好忙呀", False),  # 好 as "very"
    ("yes", "係唔係呀？", False),  # asking, not answering
    ("yes", "唔係", False),
    ("yes", "唔好", False),
    ("yes", "好，但係我想改期", False),
    ("no", "唔係", True),
    ("no", "唔得呀", True),
    ("no", "唔使喇，唔該", True),
    ("no", "冇呀", True),
    ("no", "冇問題", False),
    ("no", "唔好意思，我想問下", False),  # "excuse me", not "no"
    ("no", "係唔係呀", False),
    ("repeat", "吓？", True),
    ("repeat", "唔該再講一次", True),
    ("goodbye", "拜拜", True),
    ("human", "我想同真人講", True),
    # Mandarin
    ("yes", "是的", True),
    ("yes", "好的，谢谢", True),
    ("yes", "可以", True),
    ("yes", "可以改期吗", False),
    ("yes", "是不是", False),
    ("yes", "不是", False),
    ("yes", "没问题", True),
    ("no", "不是", True),
    ("no", "不要", True),
    ("no", "不了", True),
    ("no", "不好意思", False),
    ("no", "没有问题", False),
    ("repeat", "你说什么？", True),
    ("human", "转人工", True),
    # other languages
    ("yes", "Sí, claro", True),
    ("no", "No, gracias", True),
    ("no", "No hay problema", False),
    ("yes", "Oui, d'accord", True),
    ("no", "Nein", True),
    ("yes", "はい、お願いします", True),
    ("no", "いいえ", True),
    ("yes", "네, 맞아요", True),
    ("no", "아니요", True),
]


@pytest.mark.parametrize(("intent", "utterance", "expected"), INTENT_CASES)
def test_builtin_intents(intent: str, utterance: str, expected: bool) -> None:
    assert matches_intent(intent, utterance) is expected


def test_the_intents_are_the_documented_five() -> None:
    assert INTENT_NAMES == ("yes", "no", "repeat", "goodbye", "human")


def test_an_unknown_intent_name_raises_key_error() -> None:
    with pytest.raises(KeyError):
        matches_intent("maybe", "yes")
