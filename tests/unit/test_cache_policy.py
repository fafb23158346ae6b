"""The cache policy: which turns are looked up, which answers are kept, for how long."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from kimiyi.cache import (
    LINE_TTL_S,
    REPLY_TTL_S,
    VERDICT_TTL_S,
    ReplyOutcome,
    context_free_group,
    decode_verdict,
    encode_verdict,
    reply_storable,
    ttl_for,
    turn_eligibility,
    verdict_storable,
)
from kimiyi.cache.policy import PHRASES_PATH, _phrase_table
from kimiyi.llm.failover import FailedAttempt, FailureReason, StreamResult
from kimiyi.workflow import parse_workflow

PAYLOAD = json.loads(
    (Path(__file__).resolve().parents[2] / "examples" / "clinic-appointment.json").read_text(encoding="utf-8")
)
CLINIC = parse_workflow(PAYLOAD)
_off = copy.deepcopy(PAYLOAD)
_off["config"]["cacheResponses"] = False
NO_CACHE = parse_workflow(_off)
OPENING = [{"role": "assistant", "content": "Hi Alex, this is Mia. Can you make it tomorrow?"}]
GOOD = ReplyOutcome("This is Mia from Harbour Dental.", "azure", complete=True)


def test_ttls() -> None:
    assert ttl_for("opening") == ttl_for("line") == LINE_TTL_S == 24 * 3600
    assert ttl_for("reply") == REPLY_TTL_S == 7 * 24 * 3600
    assert ttl_for("verdict") == VERDICT_TTL_S
    with pytest.raises(ValueError, match="unknown cache entry kind 'greeting'"):
        ttl_for("greeting")


@pytest.mark.parametrize(
    ("words", "language", "group"),
    [
        ("Who is this?", "en-US", "identity"),
        ("um, WHO'S CALLING?", "en-US", "identity"),
        ("Sorry, can you repeat that?", "en-US", "repeat"),
        ("Hello?", "en-US", "greeting"),
        ("What is this about?", "en-US", "purpose"),
        ("Yes.", "en-US", "answer"),
        ("Are you a robot?", "en-US", "agent"),
        ("¿Quién habla?", "es-US", "identity"),
        ("¿Me puede repetir?", "es-US", "repeat"),
        ("你係邊個呀？", "zh-HK", "identity"),
        ("喂，你係邊個？", "zh-HK", "identity"),
        ("唔該講多次", "zh-HK", "repeat"),
        ("你系边个", "zh-HK", "identity"),  # Simplified transcript of Cantonese
        ("你是誰？", "zh-CN", "identity"),  # Traditional transcript of Mandarin
        ("请再说一遍", "zh-CN", "repeat"),
        ("もしもし、どちら様ですか？", "ja-JP", "identity"),
        ("여보세요?", "ko-KR", "greeting"),
        ("Hello?", "zh-HK", "greeting"),  # an English phrase in a Cantonese call is still context-free
        ("(pressed 1)", "en-US", "keypress"),
        ("(pressed #)", "zh-HK", "keypress"),
    ],
)
def test_context_free_phrases(words: str, language: str, group: str) -> None:
    assert context_free_group(words, language) == group


@pytest.mark.parametrize(
    ("words", "language"),
    [
        ("I'm driving right now, can you call me back?", "en-US"),
        ("Can I move it to Thursday at 3?", "en-US"),
        ("My name is Jamie Lee", "en-US"),
        ("who is this and why do you have my number", "en-US"),
        ("我想改去星期四", "zh-HK"),
        ("(pressed 12)", "en-US"),
        ("", "en-US"),
    ],
)
def test_anything_else_is_not_context_free(words: str, language: str) -> None:
    assert context_free_group(words, language) is None


def test_phrase_table_is_sane() -> None:
    table = _phrase_table()
    assert {"en", "es", "yue", "zh", "ja"} <= set(table)
    data = json.loads(PHRASES_PATH.read_text(encoding="utf-8"))["phrases"]
    for family, groups in data.items():
        for phrases in groups.values():
            assert len(phrases) == len(set(phrases)), f"{family} lists a phrase twice"


def test_turn_eligibility() -> None:
    assert turn_eligibility(CLINIC, "en-US", "Who is this?", OPENING)
    refused = turn_eligibility(NO_CACHE, "en-US", "Who is this?", OPENING)
    assert not refused and refused.reason == "caching is off for this workflow"
    assert turn_eligibility(CLINIC, "en-US", None, OPENING).reason == "no caller words"
    assert turn_eligibility(CLINIC, "en-US", "   ", OPENING).reason == "no caller words"
    assert not turn_eligibility(CLINIC, "en-US", "Thursday at 3 works", OPENING)
    free_text_before = [
        *OPENING,
        {"role": "user", "content": "I'm in a meeting"},
        {"role": "assistant", "content": "Ok"},
    ]
    assert turn_eligibility(CLINIC, "en-US", "Who is this?", free_text_before).reason == (
        "an earlier caller line is not context-free"
    )
    only_phrases_before = [
        *OPENING,
        {"role": "user", "content": "Hello?"},
        {"role": "assistant", "content": "Hi"},
    ]
    assert turn_eligibility(CLINIC, "en-US", "Who is this?", only_phrases_before)


@pytest.mark.parametrize("node_id", ["greeting", "confirmed", "options_menu", "front_desk", "see_you"])
def test_only_conversation_nodes_have_llm_replies_to_keep(node_id: str) -> None:
    refused = reply_storable(CLINIC, node_id, GOOD)
    assert not refused and refused.reason == "only conversation nodes have LLM replies"


@pytest.mark.parametrize("node_id", ["ask_confirm", "reschedule"])
def test_a_complete_live_reply_at_a_conversation_node_is_kept(node_id: str) -> None:
    assert reply_storable(CLINIC, node_id, GOOD)


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        (ReplyOutcome("This is Mia", "azure", complete=False), "the reply was cut off"),
        (ReplyOutcome("Can you make it?", "scripted", complete=True, scripted=True), "the scripted fallback"),
        (ReplyOutcome("This is Mia", None, complete=True), "the scripted fallback"),
        (ReplyOutcome("This is", "azure", complete=True, dropped=True), "dropped mid-reply"),
        (
            ReplyOutcome("This is One moment, please.", "azure", complete=True, holding_phrase=True),
            "holding phrase",
        ),
        (ReplyOutcome("  ", "azure", complete=True), "the reply is empty"),
    ],
)
def test_incomplete_or_fallback_replies_are_never_kept(outcome: ReplyOutcome, reason: str) -> None:
    refused = reply_storable(CLINIC, "ask_confirm", outcome)
    assert not refused and reason in refused.reason


def test_nothing_is_kept_when_the_workflow_turns_caching_off() -> None:
    assert reply_storable(NO_CACHE, "ask_confirm", GOOD).reason == "caching is off for this workflow"
    assert not verdict_storable(NO_CACHE, "azure", scripted_name="scripted")


def test_outcome_from_a_stream_result() -> None:
    clean = StreamResult(provider="openai", finished=True, chunks_sent=True)
    assert reply_storable(
        CLINIC, "ask_confirm", ReplyOutcome.from_stream(clean, "Hi.", scripted_name="scripted")
    )
    after_failover = StreamResult(
        provider="openai", failures=[FailedAttempt("azure", FailureReason.TIMEOUT, "deadline", 1500.0)]
    )
    outcome = ReplyOutcome.from_stream(after_failover, "Hi.", scripted_name="scripted")
    assert reply_storable(CLINIC, "ask_confirm", outcome)  # the secondary's complete answer is an answer
    dropped = StreamResult(provider="azure", dropped=True, holding_phrase_added=True)
    outcome = ReplyOutcome.from_stream(dropped, "Hi. One moment, please.", scripted_name="scripted")
    assert outcome.dropped and outcome.holding_phrase and not reply_storable(CLINIC, "ask_confirm", outcome)
    scripted = StreamResult(provider="scripted")
    assert ReplyOutcome.from_stream(scripted, "Can you make it?", scripted_name="scripted").scripted
    cancelled = ReplyOutcome.from_stream(clean, "Hi", scripted_name="scripted", complete=False)
    assert not reply_storable(CLINIC, "ask_confirm", cancelled)


def test_verdicts() -> None:
    assert verdict_storable(CLINIC, "azure", scripted_name="scripted")
    assert not verdict_storable(CLINIC, "scripted", scripted_name="scripted")
    assert not verdict_storable(CLINIC, None, scripted_name="scripted")
    candidates = CLINIC.next_step("ask_confirm", utterance="who is this").llm_candidates
    assert encode_verdict(None) == "-"
    assert decode_verdict(encode_verdict(None), candidates) == (True, None)
    assert decode_verdict(encode_verdict("ask-llm-cancel"), candidates) == (True, "ask-llm-cancel")
    assert decode_verdict("edge-from-an-old-version", candidates) == (False, None)


def test_bad_input_is_named() -> None:
    with pytest.raises(TypeError, match="caller words must be a str"):
        context_free_group(42, "en-US")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a BCP-47"):
        context_free_group("hello", "??")
    with pytest.raises(KeyError, match="no node 'nowhere'"):
        reply_storable(CLINIC, "nowhere", GOOD)
