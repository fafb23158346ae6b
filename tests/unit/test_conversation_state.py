"""The call's conversation state stays small enough to store, whatever the caller says."""

from __future__ import annotations

import json

import pytest

from kimiyi.conversation.state import (
    MAX_HISTORY_BYTES,
    MAX_HISTORY_MESSAGES,
    MAX_MESSAGE_CHARS,
    CallState,
    with_exchange,
)

DYNAMODB_ITEM_LIMIT = 400 * 1024


def stored_bytes(history) -> int:
    return len(json.dumps(list(history), ensure_ascii=False).encode("utf-8"))


def test_an_ordinary_exchange_is_kept_word_for_word():
    state = CallState("ask", "en-US", history=({"role": "assistant", "content": "Hello, who's calling?"},))
    history = with_exchange(state, "It's Anna.", "Hi Anna, how can I help?")
    assert [m["content"] for m in history] == [
        "Hello, who's calling?",
        "It's Anna.",
        "Hi Anna, how can I help?",
    ]


def test_a_message_longer_than_the_limit_is_cut_at_a_word():
    long_words = "word " * 2_000  # 10,000 characters
    history = with_exchange(CallState("ask", "en-US"), long_words, "ok")
    said = history[0]["content"]
    assert len(said) <= MAX_MESSAGE_CHARS and said.endswith("word")
    assert long_words.startswith(said)


def test_text_without_spaces_is_cut_at_the_limit():
    cantonese = "我想改期" * 2_000
    history = with_exchange(CallState("ask", "zh-HK"), cantonese, "好")
    assert history[0]["content"] == cantonese[:MAX_MESSAGE_CHARS]


@pytest.mark.parametrize("text", ["x" * 4_000, "你" * 4_000, "😀" * 4_000, "\x01" * 4_000])
def test_the_history_stays_within_its_byte_budget_whatever_it_holds(text):
    state = CallState("ask", "en-US")
    for _ in range(MAX_HISTORY_MESSAGES):
        state = CallState("ask", "en-US", history=with_exchange(state, text, text))
        assert stored_bytes(state.history) <= MAX_HISTORY_BYTES
    assert state.history[-1] == {"role": "assistant", "content": text}  # the latest are kept
    assert len(json.dumps(state.to_dict(), ensure_ascii=False).encode()) < DYNAMODB_ITEM_LIMIT


def test_the_budget_leaves_room_for_the_calls_variables():
    # The state item holds the call's variables too; make-call's body (which carries them) is at most
    # 256 KB, and the history's budget leaves the rest of DynamoDB's 400 KB item for them.
    assert MAX_HISTORY_BYTES + 256 * 1024 + 4 * 1024 < DYNAMODB_ITEM_LIMIT
