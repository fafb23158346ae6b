"""The DynamoDB cache store under moto, on the template's own CacheTable."""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import pytest

from kimiyi.adapters.cache_store import CACHE_CLIENT_CONFIG, CacheStore, open_cache_store
from kimiyi.cache import ReplyOutcome, TurnCache, opening_parts, prerender, ttl_for
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
KEY = "reply#" + "ab" * 32


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RecordingTable:
    """The real (moto) table, with every request it receives written down."""

    def __init__(self, table) -> None:
        self._table = table
        self.calls: list[tuple[str, dict]] = []

    def __getattr__(self, name):
        attribute = getattr(self._table, name)
        if not callable(attribute) or name == "batch_writer":
            return attribute

        def call(**kwargs):
            self.calls.append((name, kwargs))
            return attribute(**kwargs)

        return call


@pytest.fixture
def table_name(aws, stack_spec) -> str:
    return next(table.name for table in stack_spec.tables if table.logical_id == "CacheTable")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(table_name, clock) -> CacheStore:
    return open_cache_store(table_name, clock)


def raw_item(table_name: str, key: str) -> dict | None:
    return boto3.resource("dynamodb").Table(table_name).get_item(Key={"pk": key}).get("Item")


def test_put_then_get(store, table_name, clock) -> None:
    meta = {"kind": "reply", "provider": "azure", "language": "zh-HK", "node": "ask_confirm"}
    assert store.put(KEY, "我係Harbour Dental嘅Mia。", 3600, meta=meta)
    found = store.get(KEY)
    assert found is not None
    assert (found.text, found.provider, found.language, found.node, found.kind) == (
        "我係Harbour Dental嘅Mia。",
        "azure",
        "zh-HK",
        "ask_confirm",
        "reply",
    )
    assert found.created_at == 1_700_000_000 and found.expires_at == 1_700_003_600
    item = raw_item(table_name, KEY)
    assert set(item) == {"pk", "text", "createdAt", "expiresAt", "kind", "provider", "language", "node"}
    assert store.stats.hits == 1 and store.stats.writes == 1


def test_expiry_is_checked_on_read(store, table_name, clock) -> None:
    store.put(KEY, "Hello.", 60)
    clock.now += 60
    assert store.get(KEY) is None  # moto still holds it, as DynamoDB may for up to two days
    assert raw_item(table_name, KEY) is not None
    assert store.stats.expired == 1 and store.stats.misses == 1


def test_first_answer_wins_until_it_expires(store, clock) -> None:
    assert store.put(KEY, "First.", 60)
    assert not store.put(KEY, "Second.", 60)
    assert store.get(KEY).text == "First."
    assert store.stats.kept == 1
    clock.now += 61
    assert store.put(KEY, "Third.", 60)  # an expired item is replaced
    assert store.get(KEY).text == "Third."


def test_one_eventually_consistent_get_item_per_read(table_name, clock) -> None:
    recording = RecordingTable(boto3.resource("dynamodb").Table(table_name))
    store = CacheStore(recording, clock)
    store.get(KEY)
    assert recording.calls == [("get_item", {"Key": {"pk": KEY}})]  # no ConsistentRead


def test_prerendered_lines_in_batches(store, table_name) -> None:
    call = {"patientName": "Jamie Lee", "appointmentTime": "9:15 AM"}
    lines = prerender(CLINIC, call)  # four languages: more than one BatchWriteItem of 25
    assert len(lines) == 44
    assert store.put_many(lines, ttl_for("line"), meta={"kind": "line"}) == 44
    for key, text in lines.items():
        assert store.get(key).text == text
    assert store.get(opening_parts(CLINIC, "zh-HK", call).key).text.startswith("你好，Jamie Lee！")
    assert store.put_many({}, 60) == 0


def test_the_table_holds_no_raw_words(store, table_name) -> None:
    cache = TurnCache(store)
    greeting, _ = opening(CLINIC)
    history = [{"role": "assistant", "content": greeting}, {"role": "user", "content": "Who is this?"}]
    messages = build_messages(CLINIC, "ask_confirm", "en-US", {}, history)
    found = cache.find_reply(CLINIC, "ask_confirm", "en-US", {}, messages)
    assert cache.keep_reply(found, ReplyOutcome("This is Mia from Harbour Dental.", "azure", complete=True))
    items = boto3.resource("dynamodb").Table(table_name).scan()["Items"]
    assert len(items) == 1
    assert re.fullmatch(r"reply#[0-9a-f]{64}", items[0]["pk"])
    assert "who is this" not in json.dumps(items, default=str).lower()
    assert "Alex Chan" not in items[0]["pk"]


def test_dynamodb_trouble_is_a_miss_never_an_exception(aws, clock) -> None:
    store = open_cache_store("no-such-table", clock)
    assert store.get(KEY) is None
    assert not store.put(KEY, "Hello.", 60)
    assert store.put_many({KEY: "Hello."}, 60) == 0
    assert store.stats.errors == 3 and store.stats.misses == 1


def test_bad_input_raises_before_any_request(table_name, clock) -> None:
    recording = RecordingTable(boto3.resource("dynamodb").Table(table_name))
    store = CacheStore(recording, clock)
    with pytest.raises(ValueError, match="ttl_s must be between 1"):
        store.put(KEY, "Hello.", -5)
    with pytest.raises(ValueError, match="is empty"):
        store.put_many({KEY: "Hello.", "line#x": " "}, 60)
    with pytest.raises(ValueError, match="unknown cache meta field 'utterance'"):
        store.put(KEY, "Hello.", 60, meta={"utterance": "who is this"})
    with pytest.raises(ValueError, match="is not a cache key"):
        store.get("who is this?\n")
    assert recording.calls == []


def test_short_client_limits() -> None:
    assert CACHE_CLIENT_CONFIG.connect_timeout <= 1 and CACHE_CLIENT_CONFIG.read_timeout <= 1
    assert CACHE_CLIENT_CONFIG.retries["max_attempts"] <= 2
    with pytest.raises(ValueError, match="set CACHE_TABLE"):
        open_cache_store("")
