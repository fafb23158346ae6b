"""TurnCache (the turn pipeline's entry points) and the in-memory store it is tested with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kimiyi.cache import MemoryCacheStore, ReplyOutcome, TurnCache
from kimiyi.conversation import build_messages
from kimiyi.conversation.turn import opening
from kimiyi.workflow import parse_workflow

CLINIC = parse_workflow(
    json.loads(
        (Path(__file__).resolve().parents[2] / "examples" / "clinic-appointment.json").read_text(
            encoding="utf-8"
        )
    )
)
GREETING, _ = opening(CLINIC)
CANDIDATES = CLINIC.next_step("ask_confirm", utterance="who is this").llm_candidates


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def messages(*caller_lines: str, node: str = "ask_confirm", after: str | None = None) -> list[dict]:
    history = [{"role": "assistant", "content": GREETING}]
    for index, line in enumerate(caller_lines):
        history.append({"role": "user", "content": line})
        if index < len(caller_lines) - 1:
            history.append({"role": "assistant", "content": f"reply {index}"})
    if after:
        history.append({"role": "assistant", "content": after})  # a static line spoken in this turn
    return build_messages(CLINIC, node, "en-US", {}, history)


def good(text: str = "This is Mia from Harbour Dental.") -> ReplyOutcome:
    return ReplyOutcome(text, "azure", complete=True)


def test_miss_keep_then_hit_in_full() -> None:
    cache = TurnCache(MemoryCacheStore())
    first = cache.find_reply(CLINIC, "ask_confirm", "en-US", {}, messages("Who is this?"))
    assert first.status == "miss" and first.text is None
    assert cache.keep_reply(first, good())
    again = cache.find_reply(CLINIC, "ask_confirm", "en-US", {}, messages("um, WHO IS THIS"))
    assert again.hit and again.text == "This is Mia from Harbour Dental."
    assert again.entry is not None and again.entry.provider == "azure" and again.entry.node == "ask_confirm"


def test_free_text_is_skipped_without_a_read() -> None:
    store = MemoryCacheStore()
    found = TurnCache(store).find_reply(
        CLINIC, "ask_confirm", "en-US", {}, messages("Can you move it to Friday at 4?")
    )
    assert found.status == "skipped" and found.key is None
    assert store.stats.hits == store.stats.misses == 0
    assert not TurnCache(store).keep_reply(found, good())
    assert len(store) == 0


def test_a_static_line_after_the_caller_words_still_finds_them() -> None:
    cache = TurnCache(MemoryCacheStore())
    found = cache.find_reply(CLINIC, "ask_confirm", "en-US", {}, messages("yes", after="Great."))
    assert found.status == "miss"


def test_incomplete_replies_are_not_kept() -> None:
    store = MemoryCacheStore()
    cache = TurnCache(store)
    first = cache.find_reply(CLINIC, "ask_confirm", "en-US", {}, messages("Who is this?"))
    refused = cache.keep_reply(first, ReplyOutcome("This is", "azure", complete=True, dropped=True))
    assert not refused and "dropped" in refused.reason
    assert len(store) == 0


def test_a_hit_is_not_stored_again_and_the_first_answer_wins() -> None:
    store = MemoryCacheStore()
    cache = TurnCache(store)
    one = cache.find_reply(CLINIC, "ask_confirm", "en-US", {}, messages("Who is this?"))
    two = cache.find_reply(CLINIC, "ask_confirm", "en-US", {}, messages("who is this"))  # a concurrent call
    assert cache.keep_reply(one, good("First."))
    lost = cache.keep_reply(two, good("Second."))
    assert not lost and "already cached" in lost.reason
    hit = cache.find_reply(CLINIC, "ask_confirm", "en-US", {}, messages("Who is this?"))
    assert hit.text == "First."
    assert cache.keep_reply(hit, good("Third.")).reason == "lookup was hit"
    assert store.stats.kept == 1


def test_the_conversation_so_far_is_part_of_the_context() -> None:
    cache = TurnCache(MemoryCacheStore())
    first = cache.find_reply(CLINIC, "ask_confirm", "en-US", {}, messages("Hello?", "Who is this?"))
    cache.keep_reply(first, good())
    other_path = cache.find_reply(CLINIC, "ask_confirm", "en-US", {}, messages("Who is this?"))
    assert other_path.status == "miss"


def test_verdicts_round_trip() -> None:
    cache = TurnCache(MemoryCacheStore())
    history = [{"role": "assistant", "content": GREETING}]
    found = cache.find_verdict(CLINIC, "ask_confirm", "en-US", "Who is this?", {}, history, CANDIDATES)
    assert found.status == "miss"
    assert cache.keep_verdict(found, None, provider="azure", scripted_name="scripted")
    hit = cache.find_verdict(CLINIC, "ask_confirm", "en-US", "who is this", {}, history, CANDIDATES)
    assert hit.hit and hit.verdict is None
    found = cache.find_verdict(CLINIC, "ask_confirm", "en-US", "Yes please", {}, history, CANDIDATES)
    assert cache.keep_verdict(found, "ask-llm-confirm", provider="openai", scripted_name="scripted")
    assert cache.find_verdict(
        CLINIC, "ask_confirm", "en-US", "yes please", {}, history, CANDIDATES
    ).verdict == ("ask-llm-confirm")


def test_scripted_verdicts_are_not_kept_and_stale_ones_not_used() -> None:
    store = MemoryCacheStore()
    cache = TurnCache(store)
    history = [{"role": "assistant", "content": GREETING}]
    found = cache.find_verdict(CLINIC, "ask_confirm", "en-US", "Hello?", {}, history, CANDIDATES)
    assert not cache.keep_verdict(found, None, provider="scripted", scripted_name="scripted")
    assert len(store) == 0
    store.put(found.key, "an-edge-that-is-gone", 60)
    stale = cache.find_verdict(CLINIC, "ask_confirm", "en-US", "Hello?", {}, history, CANDIDATES)
    assert stale.status == "miss" and stale.reason == "stored edge is not a candidate"
    skipped = cache.find_verdict(CLINIC, "ask_confirm", "en-US", "tomorrow is bad", {}, history, CANDIDATES)
    assert skipped.status == "skipped"


# --- the in-memory store ----------------------------------------------------------------------------------


def test_memory_store_expires_on_read() -> None:
    clock = Clock()
    store = MemoryCacheStore(clock)
    assert store.put("reply#abc", "Hello.", 60, meta={"kind": "reply", "language": "en-US"})
    clock.now += 59
    assert store.get("reply#abc") is not None
    clock.now += 1
    assert store.get("reply#abc") is None
    assert store.stats.as_dict() == {
        "hits": 1,
        "misses": 1,
        "expired": 1,
        "errors": 0,
        "writes": 1,
        "kept": 0,
        "hitRate": 0.5,
    }
    assert store.put("reply#abc", "Hello again.", 60)  # an expired entry may be replaced
    assert store.get("reply#abc").text == "Hello again."


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda s: s.put("", "x", 60), ValueError, "is not a cache key"),
        (lambda s: s.put("reply#ä", "x", 60), ValueError, "is not a cache key"),
        (lambda s: s.put(7, "x", 60), TypeError, "a cache key must be a str"),
        (lambda s: s.put("k", "", 60), ValueError, "is empty"),
        (lambda s: s.put("k", b"x", 60), TypeError, "cache text must be a str"),
        (lambda s: s.put("k", "x" * 16_001, 60), ValueError, "the limit is 16000"),
        (lambda s: s.put("k", "x", 0), ValueError, "ttl_s must be between 1"),
        (lambda s: s.put("k", "x", True), TypeError, "whole number of seconds"),
        (lambda s: s.put("k", "x", 60.5), TypeError, "whole number of seconds"),
        (lambda s: s.put("k", "x", 60, meta={"utterance": "hi"}), ValueError, "unknown cache meta field"),
        (lambda s: s.put("k", "x", 60, meta={"node": 3}), ValueError, "must be a string"),
        (lambda s: s.put_many({"k": "x", "j": ""}, 60), ValueError, "'j' is empty"),
        (lambda s: s.get(""), ValueError, "is not a cache key"),
    ],
)
def test_memory_store_names_bad_input(call, error, message) -> None:
    store = MemoryCacheStore()
    with pytest.raises(error, match=message):
        call(store)
    assert len(store) == 0
