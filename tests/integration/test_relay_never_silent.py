"""No caller waits in silence: a caller who speaks the instant the agent finishes, a barge-in followed by
words, two prompts close together, and LLM streams that stall, drop, turn malformed or stop on a content
filter mid-reply. Each test counts what happened (state reads, LLM requests, frames, what was heard);
none asserts a time."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import pytest
from aws_lambda_powertools import Logger

from kimiyi.adapters.calls_store import CallsStore
from kimiyi.llm import FailoverChain, MalformedChunkError
from kimiyi.relay import service
from kimiyi.relay.service import Relay
from kimiyi.staging import stage
from kimiyi.workflow import parse_workflow
from tests.events import load
from tests.integration.test_relay import (
    ROOT,
    TOKEN,
    TRACKING,
    WSS,
    RecordingConnections,
    connect_event,
    frame,
)

SAFETY_S = 10  # no wait in these tests comes near it; it only stops a broken build from hanging the run

# One conversation node that loops on itself: every caller turn is exactly one streamed LLM reply.
WORKFLOW = {
    "workflowId": "never-silent",
    "globalPrompt": "You are the phone assistant of a small shop.",
    "nodes": [
        {
            "id": "talk",
            "type": "conversation",
            "data": {"isStart": True, "prompt": "Answer briefly.", "scriptedLine": "How can I help you?"},
        },
        {"id": "bye", "type": "end", "data": {"text": "Goodbye!"}},
    ],
    "edges": [
        {
            "id": "talk-bye",
            "source": "talk",
            "target": "bye",
            "data": {"condition": {"type": "intent", "intent": "goodbye"}},
        },
        {"id": "talk-talk", "source": "talk", "target": "talk", "data": {"condition": {"type": "always"}}},
    ],
    "config": {"language": "en-US"},
}


# ---------------------------------------------------------------------------------------------- fakes
@dataclass(frozen=True)
class Plan:
    """What one request to a FakeLLM gets: tokens, then an ending — "end", "hang" (nothing more until
    the request is abandoned), or an exception raised mid-stream. `wait_first` holds the first token
    until the request is abandoned (an LLM slow to its first token)."""

    tokens: tuple[str, ...] = ("We are open", " until six.", " Anything else?")
    then: str | BaseException = "end"
    wait_first: bool = False


class FakeLLM:
    """A provider whose replies the test plans; it keeps every request. The last plan repeats."""

    def __init__(self, name: str, *plans: Plan) -> None:
        self.name = name
        self.requests: list[list[dict]] = []
        self.streams: list[_Tokens] = []
        self._plans = list(plans) or [Plan()]

    def stream(self, messages, **options):
        plan = self._plans[min(len(self.requests), len(self._plans) - 1)]
        self.requests.append(list(messages))
        self.streams.append(_Tokens(plan))
        return self.streams[-1]

    def describe(self):
        return {"name": self.name, "model": "fake", "host": "none"}


class _Tokens:
    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._tokens = iter(plan.tokens)
        self.closed = threading.Event()
        self._first = True

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self._first and self._plan.wait_first:
            self.closed.wait(SAFETY_S)
        self._first = False
        if self.closed.is_set():
            raise StopIteration
        token = next(self._tokens, None)
        if token is not None:
            return token
        if isinstance(self._plan.then, BaseException):
            raise self._plan.then
        if self._plan.then == "hang":
            self.closed.wait(SAFETY_S)
        raise StopIteration

    def close(self) -> None:
        self.closed.set()


class CountingTable:
    """The calls table, counting reads of a call's conversation state."""

    def __init__(self, table) -> None:
        self._table = table
        self.state_reads = 0

    def get_item(self, **kwargs):
        if kwargs["Key"]["sk"] == "STATE":
            self.state_reads += 1
        return self._table.get_item(**kwargs)

    def __getattr__(self, name):
        return getattr(self._table, name)


class Caller(RecordingConnections):
    """The @connections client as the caller hears it: frames, and an event per `last: true` frame."""

    def __init__(self) -> None:
        super().__init__()
        self.replies_ended = threading.Semaphore(0)
        self.first_text = threading.Event()

    def post_to_connection(self, ConnectionId: str, Data: bytes) -> None:
        super().post_to_connection(ConnectionId, Data)
        sent = json.loads(Data)
        if sent["type"] == "text":
            self.first_text.set()
            if sent["last"]:
                self.replies_ended.release()


def make_relay(store: CallsStore, caller: Caller, *providers, **chain_options) -> Relay:
    chain_options.setdefault("first_token_timeout_s", SAFETY_S)
    return Relay(
        store=store,
        connections=caller,
        chain=FailoverChain(list(providers), **chain_options),
        auth_token=lambda: TOKEN,
        websocket_url=WSS,
        logger=Logger(service="relay-test"),
    )


def open_call(relay: Relay, store: CallsStore) -> None:
    workflow = parse_workflow(WORKFLOW)
    store.put_session(TRACKING, stage(workflow, variables={}, tracking_id=TRACKING).to_record())
    assert relay.on_connect(connect_event())["statusCode"] == 200
    relay.on_message(load(ROOT / "events" / "websocket" / "default--setup.json"))


def say(relay: Relay, words: str):
    return relay.on_message(frame({"type": "prompt", "voicePrompt": words, "last": True}))


def in_background(function, *args) -> tuple[threading.Thread, dict]:
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(value=function(*args)), daemon=True)
    thread.start()
    return thread, result


def users(messages) -> list[str]:
    return [m["content"] for m in messages if m["role"] == "user"]


@pytest.fixture
def counting(table) -> CountingTable:
    return CountingTable(table)


@pytest.fixture
def caller() -> Caller:
    return Caller()


@pytest.fixture(autouse=True)
def check_every_time(monkeypatch):
    """A turn's watch asks the store whether it was superseded every 10 ms, not every 100 ms."""
    monkeypatch.setattr(service, "CANCEL_CHECK_S", 0.01)


# ---------------------------------------------------------------------------------------------- 1. races
def test_a_caller_who_speaks_the_instant_the_reply_ends_finds_the_turn_saved(counting, caller):
    llm = FakeLLM("primary")
    relay = make_relay(CallsStore(counting), caller, llm)
    open_call(relay, relay.store)
    first, _ = in_background(say, relay, "When do you open?")
    assert caller.replies_ended.acquire(timeout=SAFETY_S)  # the first reply's `last` frame went out
    reads_before = counting.state_reads
    report = say(relay, "And on Sunday?")  # at once: the first turn may still be recording its metrics
    first.join(SAFETY_S)
    assert counting.state_reads == reads_before  # it started from the state the first turn saved here
    assert len(llm.requests) == 2  # one LLM request per turn, none abandoned
    assert users(llm.requests[1]) == ["When do you open?", "And on Sunday?"]
    assert report.outcome.reply == "We are open until six. Anything else?"
    state, version = relay.store.load_state(TRACKING)
    assert users(state["history"]) == ["When do you open?", "And on Sunday?"] and version == 2


class SavesWhileReplacedStore(CallsStore):
    """The first turn is saving when the second arrives, and the second turn's claim returns only once
    that save is done: the second finds the first still going, with its save already made."""

    def __init__(self, table) -> None:
        super().__init__(table)
        self.first_saving = threading.Event()
        self.second_claimed = threading.Event()
        self.first_saved = threading.Event()
        self._claims = 0

    def claim_turn(self, *args, **kwargs):
        self._claims += 1
        number = self._claims
        replaced = super().claim_turn(*args, **kwargs)
        if number == 2:
            self.second_claimed.set()
            assert self.first_saved.wait(SAFETY_S)
        return replaced

    def save_state(self, *args, **kwargs):
        first = not self.first_saved.is_set()
        if first:
            self.first_saving.set()
            assert self.second_claimed.wait(SAFETY_S)
        try:
            return super().save_state(*args, **kwargs)
        finally:
            self.first_saved.set()


def test_a_turn_that_replaced_one_already_saved_reads_its_save_once_and_waits_no_more(counting, caller):
    store = SavesWhileReplacedStore(counting)
    llm = FakeLLM("primary")
    relay = make_relay(store, caller, llm)
    open_call(relay, store)
    first, _ = in_background(say, relay, "When do you open?")
    assert store.first_saving.wait(SAFETY_S)
    reads_before = counting.state_reads
    report = say(relay, "And on Sunday?")
    first.join(SAFETY_S)
    assert counting.state_reads - reads_before == 1  # the first turn's save, read once: no waiting for more
    assert len(llm.requests) == 2  # no request started on a state about to change
    assert users(llm.requests[1]) == ["When do you open?", "And on Sunday?"]
    assert report.outcome.reply == "We are open until six. Anything else?"
    state, version = store.load_state(TRACKING)
    assert users(state["history"]) == ["When do you open?", "And on Sunday?"] and version == 2


def test_words_right_after_a_barge_in_follow_the_cut_reply(counting, caller):
    store = CallsStore(counting)
    llm = FakeLLM("primary", Plan(("Of course,", " we"), then="hang"), Plan())
    relay = make_relay(store, caller, llm)
    open_call(relay, store)
    first, first_result = in_background(say, relay, "When do you open?")
    assert caller.first_text.wait(SAFETY_S)
    heard = caller.texts()
    relay.on_message(
        frame({"type": "interrupt", "utteranceUntilInterrupt": heard, "durationUntilInterruptMs": 300})
    )
    report = say(relay, "Sorry, on Sunday?")
    first.join(SAFETY_S)
    assert first_result["value"].outcome.interrupted is True
    assert len(llm.requests) == 2
    assert llm.requests[1][-3:] == [
        {"role": "user", "content": "When do you open?"},
        {"role": "assistant", "content": "Of course,"},  # what the caller heard of the cut reply
        {"role": "user", "content": "Sorry, on Sunday?"},
    ]
    assert report.outcome.reply == "We are open until six. Anything else?"
    assert "One moment" not in caller.texts()  # no holding phrase: the caller was answered
    assert [f["last"] for f in caller.frames if f["type"] == "text"].count(True) == 1  # only the answer ends


def test_two_prompts_close_together_get_one_answer_to_both(counting, caller):
    store = CallsStore(counting)
    llm = FakeLLM("primary", Plan(wait_first=True), Plan())  # the first request is still thinking
    relay = make_relay(store, caller, llm)
    open_call(relay, store)
    first, first_result = in_background(say, relay, "I would like to book")
    while not llm.requests:  # the first turn's request is out; the caller goes on speaking
        assert first.is_alive()
        first.join(0.005)
    say(relay, "a table for two.")
    first.join(SAFETY_S)
    assert first_result["value"].outcome.interrupted is True and first_result["value"].frames == 0
    assert len(llm.requests) == 2 and llm.streams[0].closed.is_set()
    assert users(llm.requests[1]) == ["I would like to book", "a table for two."]
    assert caller.texts() == "We are open until six. Anything else?"  # one answer, nothing before it


# ------------------------------------------------------------------------------ 2-4. replies cut short
CUT_SHORT = {
    "stall": Plan(("Hi!", " How"), then="hang"),
    "drop": Plan(("Hi!", " How"), then=ConnectionResetError("connection reset by peer")),
    "malformed": Plan(("Hi!", " How"), then=MalformedChunkError("a chunk that is not JSON")),
}


@pytest.mark.parametrize("fault", sorted(CUT_SHORT))
def test_a_reply_cut_short_is_spoken_to_its_last_clause_and_continued_by_the_next_provider(
    store, caller, fault
):
    primary = FakeLLM("primary", CUT_SHORT[fault])
    secondary = FakeLLM(
        "secondary",
        Plan(
            (" We are open", " until six."),
        ),
    )
    relay = make_relay(store, caller, primary, secondary, stall_timeout_s=0.05)
    open_call(relay, store)
    report = say(relay, "When do you open?")
    assert caller.texts() == "Hi! We are open until six."  # " How" was never spoken
    (request,) = secondary.requests
    assert request[-2] == {"role": "assistant", "content": "Hi!"}  # it goes on from what was heard
    assert request[-1]["role"] == "system" and "Continue" in request[-1]["content"]
    (recovery,) = report.outcome.recoveries
    assert (
        recovery.fault.startswith("primary:dropped") and recovery.kept == "Hi!" and recovery.by == "secondary"
    )
    assert report.outcome.reply == "Hi! We are open until six."
    assert store.load_state(TRACKING)[0]["history"][-1] == {
        "role": "assistant",
        "content": report.outcome.reply,
    }


@pytest.mark.parametrize("fault", sorted(CUT_SHORT))
def test_with_no_provider_left_the_caller_is_asked_to_say_it_again(store, caller, fault):
    relay = make_relay(store, caller, FakeLLM("primary", CUT_SHORT[fault]), stall_timeout_s=0.05)
    open_call(relay, store)
    report = say(relay, "When do you open?")
    assert caller.texts() == "Hi! Sorry, could you say that again?"
    (recovery,) = report.outcome.recoveries
    assert recovery.by == "repeat-request" and recovery.kept == "Hi!"
    frames = [f for f in caller.frames if f["type"] == "text"]
    assert frames[-1]["last"] is True


def test_a_fault_before_any_whole_clause_is_a_plain_failover(store, caller):
    primary = FakeLLM("primary", Plan(("We are", " open"), then=ConnectionResetError()))
    secondary = FakeLLM("secondary", Plan(("We are open until six.",)))
    relay = make_relay(store, caller, primary, secondary)
    open_call(relay, store)
    say(relay, "When do you open?")
    assert caller.texts() == "We are open until six."
    assert secondary.requests[0] == primary.requests[0]  # nothing was heard: the same request
