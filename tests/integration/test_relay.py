"""The relay function under moto: signed handshakes, frames, turns, barge-in and failure handling."""

from __future__ import annotations

import copy
import json
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import boto3
import pytest
from aws_lambda_powertools import Logger
from botocore.stub import Stubber
from twilio.request_validator import RequestValidator

from kimiyi.adapters.calls_store import CallsStore
from kimiyi.adapters.metrics_store import MetricsStore, aggregate_pks
from kimiyi.llm import FailoverChain
from kimiyi.metrics import TurnMetrics
from kimiyi.metrics.window import plan_window
from kimiyi.relay.service import UNKNOWN_CALL_LINE, Relay
from kimiyi.staging import stage
from kimiyi.workflow import parse_workflow
from tests.events import load

ROOT = Path(__file__).resolve().parents[2]
WSS = "wss://abcd1234ef.execute-api.us-east-1.amazonaws.com/dev"
TOKEN = "test-auth-token"
TRACKING = "trk_example_0001"
CONNECTION = "Dc1Y1dH8oAMCJmg="
VARIABLES = {"patientName": "Anna", "clinicName": "Bright Smile", "appointmentTime": "3 pm", "balanceDue": 0}
SAFETY_S = 10  # no wait in these tests comes near it; it only stops a broken build from hanging the run


class Clock:
    """Time that moves only when the test moves it (seconds since the epoch, as the store reads it)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class RecordingConnections:
    """Stands in for the @connections client: records every frame, or answers 410 once the caller is gone."""

    class exceptions:
        GoneException = type("GoneException", (Exception,), {})

    def __init__(self) -> None:
        self.frames: list[dict] = []
        self.gone = False
        self._sent = threading.Condition()

    def post_to_connection(self, ConnectionId: str, Data: bytes) -> None:
        if self.gone:
            raise self.exceptions.GoneException()
        assert len(Data) <= 32 * 1024
        with self._sent:
            self.frames.append(json.loads(Data))
            self._sent.notify_all()

    def wait_for(self, condition) -> None:
        """Returns once `condition(frames)` holds; fails after SAFETY_S."""
        with self._sent:
            assert self._sent.wait_for(lambda: condition(self.frames), SAFETY_S), "never sent"

    def texts(self) -> str:
        return "".join(f["token"] for f in self.frames if f["type"] == "text")


@pytest.fixture
def connections():
    return RecordingConnections()


@pytest.fixture
def relay(store, connections):
    return Relay(
        store=store,
        connections=connections,
        chain=FailoverChain([]),
        auth_token=lambda: TOKEN,
        websocket_url=WSS,
        logger=Logger(service="relay-test"),
    )


def stage_call(store: CallsStore, tracking_id: str = TRACKING) -> None:
    workflow = parse_workflow(json.loads((ROOT / "examples" / "clinic-appointment.json").read_text()))
    store.put_session(tracking_id, stage(workflow, variables=VARIABLES, tracking_id=tracking_id).to_record())


def connect_event(
    signature_url: str | None = None, params: dict | None = None, query: dict | None = None
) -> dict:
    event = copy.deepcopy(load(ROOT / "events" / "websocket" / "connect.json"))
    query = {"trackingId": TRACKING} if query is None else query
    event["queryStringParameters"] = query
    url = signature_url or (f"{WSS}?{urlencode(query)}" if query else WSS)
    event["headers"]["X-Twilio-Signature"] = RequestValidator(TOKEN).compute_signature(url, params or {})
    return event


def frame(body) -> dict:
    event = copy.deepcopy(load(ROOT / "events" / "websocket" / "default--prompt.json"))
    event["body"] = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return event


def connected(relay, store) -> None:
    stage_call(store)
    assert relay.on_connect(connect_event())["statusCode"] == 200
    relay.on_message(load(ROOT / "events" / "websocket" / "default--setup.json"))


def test_signed_handshake_maps_the_connection(relay, store):
    assert relay.on_connect(connect_event())["statusCode"] == 200
    connection = store.connection(CONNECTION)
    assert connection.tracking_id == TRACKING
    relay.on_message(load(ROOT / "events" / "websocket" / "default--setup.json"))
    assert store.connection(CONNECTION).call_sid == "CA00000000000000000000000000000001"


# Forged and malformed handshakes: tests/integration/test_forged_requests.py.


def test_a_yes_is_answered_streamed_then_the_call_ends(relay, store, connections):
    connected(relay, store)
    report = relay.on_message(load(ROOT / "events" / "websocket" / "default--prompt.json"))
    text_frames = [f for f in connections.frames if f["type"] == "text"]
    assert connections.texts().startswith("Great, you're all set for tomorrow at 3 pm.")
    assert [f["last"] for f in text_frames][-1] is True and not any(f["last"] for f in text_frames[:-1])
    end = connections.frames[-1]
    assert end["type"] == "end"
    assert json.loads(end["handoffData"]) == {"reason": "end", "trackingId": TRACKING, "node": "see_you"}
    state, version = store.load_state(TRACKING)
    assert state["ended"] is True and version == 1
    assert report.latency_ms is not None and report.frames == len(text_frames)


def test_cantonese_caller_gets_a_language_frame_then_cantonese(relay, store, connections):
    connected(relay, store)
    relay.on_message(load(ROOT / "events" / "websocket" / "default--prompt-cantonese.json"))
    assert connections.frames[0] == {
        "type": "language",
        "ttsLanguage": "zh-HK",
        "transcriptionLanguage": "zh-HK",
    }
    assert connections.texts().startswith("好，幫你確認咗聽日3 pm嘅預約喇。")


def test_menu_digit_moves_the_call(relay, store, connections):
    connected(relay, store)
    relay.on_message(frame({"type": "prompt", "voicePrompt": "No, I can't", "last": True}))
    assert "Press 1 to reschedule" in connections.texts()
    relay.on_message(frame({"type": "dtmf", "digit": "2"}))
    assert connections.texts().endswith("would you like to cancel your appointment tomorrow at 3 pm?")
    assert store.load_state(TRACKING)[0]["nodeId"] == "cancel_check"


def test_partial_prompts_are_ignored(relay, store, connections):
    connected(relay, store)
    relay.on_message(frame({"type": "prompt", "voicePrompt": "Yes I", "last": False}))
    assert connections.frames == []


@pytest.mark.parametrize(
    "body",
    [
        "",
        "{not json",
        "[]",
        '{"voicePrompt": "hi"}',
        '{"type": "prompt"}',
        '{"type": "prompt", "voicePrompt": 5}',
        '{"type": "dtmf", "digit": "x"}',
        '{"type": "setup"}',
        '{"type": "something-new"}',
        '{"type": "error", "description": "bad"}',
        '{"type": "info", "name": "tokens-played"}',
        json.dumps({"type": "prompt", "voicePrompt": "x" * 100_000, "last": False}),
    ],
)
def test_malformed_and_unknown_frames_never_raise_and_never_end_the_call(relay, store, connections, body):
    connected(relay, store)
    assert relay.on_message(frame(body)) is None
    assert connections.frames == []
    relay.on_message(load(ROOT / "events" / "websocket" / "default--prompt.json"))
    assert connections.texts().startswith("Great")  # the call goes on


def test_unknown_call_is_told_and_ended(relay, store, connections):
    assert relay.on_connect(connect_event())["statusCode"] == 200  # signed, but never staged
    relay.on_message(load(ROOT / "events" / "websocket" / "default--prompt.json"))
    assert connections.frames == [
        {"type": "text", "token": UNKNOWN_CALL_LINE, "last": True, "interruptible": True},
        {"type": "end", "handoffData": json.dumps({"reason": "unknown-call"})},
    ]


def test_interrupt_after_the_reply_cuts_it_to_what_was_heard(relay, store, connections):
    connected(relay, store)
    relay.on_message(frame({"type": "prompt", "voicePrompt": "No, I can't", "last": True}))
    relay.on_message(
        load(ROOT / "events" / "websocket" / "default--interrupt.json")
    )  # "Great, you're all set"
    relay.on_message(frame({"type": "prompt", "voicePrompt": "Sorry, what?", "last": True}))
    history = store.load_state(TRACKING)[0]["history"]
    menu_reply = history[-3]
    assert menu_reply["role"] == "assistant"
    assert menu_reply["content"] == "Great, you're all set"  # Twilio's report replaces the unheard reply


def test_a_failure_inside_a_turn_becomes_the_holding_phrase(relay, store, connections, monkeypatch):
    connected(relay, store)

    def broken(*_args, **_kwargs):
        raise RuntimeError("DynamoDB is having a day")

    monkeypatch.setattr(store, "claim_turn", broken)
    assert relay.on_message(load(ROOT / "events" / "websocket" / "default--prompt.json")) is None
    assert connections.frames == [
        {"type": "text", "token": "One moment, please.", "last": True, "interruptible": True}
    ]


def test_caller_gone_mid_turn_ends_it_quietly(store):
    client = boto3.client("apigatewaymanagementapi", endpoint_url=WSS.replace("wss", "https"))
    relay = Relay(
        store=store,
        connections=client,
        chain=FailoverChain([]),
        auth_token=lambda: TOKEN,
        websocket_url=WSS,
        logger=Logger(service="relay-test"),
    )
    stage_call(store)
    relay.on_connect(connect_event())
    with Stubber(client) as stub:
        stub.add_client_error("post_to_connection", service_error_code="GoneException", http_status_code=410)
        stub.add_client_error("post_to_connection", service_error_code="GoneException", http_status_code=410)
        report = relay.on_message(load(ROOT / "events" / "websocket" / "default--prompt.json"))
    assert report.gone is True and report.frames == 0
    assert store.load_state(TRACKING)[0]["ended"] is True  # the state is kept all the same


def test_handler_wiring_from_the_template(aws, function_env, monkeypatch, lambda_context):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    handler_module_handler = function_env("RelayFunction")
    import relay_handler

    monkeypatch.setattr(relay_handler.relay, "websocket_url", WSS)
    recording = RecordingConnections()
    monkeypatch.setattr(relay_handler.relay, "connections", recording)
    stage_call(relay_handler.relay.store)
    assert handler_module_handler(connect_event(), lambda_context) == {"statusCode": 200}
    for name in ("default--setup.json", "default--prompt.json", "default--error.json"):
        assert handler_module_handler(load(ROOT / "events" / "websocket" / name), lambda_context) == {
            "statusCode": 200
        }
    assert handler_module_handler(
        load(ROOT / "events" / "websocket" / "disconnect.json"), lambda_context
    ) == {"statusCode": 200}
    assert recording.texts().startswith("Great")


class SlowProvider:
    """An LLM that says a reply's first words at once and the rest only once the test lets it (`go_on`),
    so a barge-in lands mid-stream however fast or slow the machine is."""

    name = "slow"
    words = tuple(f" word{i}." for i in range(40))
    said_before_waiting: float = 2  # words said before it waits for go_on: the first is then a clause

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._going_on = False

    def go_on(self) -> None:
        with self._changed:
            self._going_on = True
            self._changed.notify_all()

    class Tokens:
        """A DeltaStream: iterated by the chain's reader thread, closable from another thread. It waits
        (after `said_before_waiting` words) until the provider goes on or it is closed; `said_all`: it
        was read to its end, never cut off."""

        def __init__(self, provider, words, said_before_waiting):
            self._provider = provider
            self._words = iter(words)
            self._said = 0
            self._said_before_waiting = said_before_waiting
            self._closed = threading.Event()
            self.said_all = False

        def __iter__(self):
            return self

        def __next__(self):
            provider = self._provider
            if self._said >= self._said_before_waiting:
                with provider._changed:
                    provider._changed.wait_for(lambda: self._closed.is_set() or provider._going_on, SAFETY_S)
            if self._closed.is_set():
                raise StopIteration
            self._said += 1
            word = next(self._words, None)
            if word is None:
                self.said_all = True
                raise StopIteration
            return word

        def close(self):
            self._closed.set()
            with self._provider._changed:
                self._provider._changed.notify_all()

    def stream(self, messages, **options):
        verdict = options.get("max_tokens") == 3  # on the node's plain-language edges: answered at once
        return self.Tokens(self, self.words, float("inf") if verdict else self.said_before_waiting)

    def describe(self):
        return {"name": self.name, "model": "slow", "host": "none"}


@pytest.fixture
def slow_llm():
    return SlowProvider()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def slow_relay(table, connections, slow_llm, clock):
    """A relay whose LLM waits mid-reply for the test, its store's clock stopped: two frames are as far
    apart as the test says, not as the machine happens to run (the duplicate window), and the relay's own
    clock too, so a wait for another turn's save ends when that turn saves, never at SAVE_WAIT_S."""
    return Relay(
        store=CallsStore(table, clock=clock),
        connections=connections,
        chain=FailoverChain([slow_llm], first_token_timeout_s=SAFETY_S, stall_timeout_s=SAFETY_S),
        auth_token=lambda: TOKEN,
        websocket_url=WSS,
        logger=Logger(service="relay-test"),
        clock=clock,
    )


def in_background(function, *args):
    result = {}
    thread = threading.Thread(target=lambda: result.update(value=function(*args)), daemon=True)
    thread.start()
    return thread, result


def finished(thread) -> bool:
    thread.join(SAFETY_S)
    return not thread.is_alive()


def wait_for_text(connections):
    connections.wait_for(lambda frames: any(f["type"] == "text" for f in frames))


def test_interrupt_mid_stream_stops_the_reply_and_keeps_what_was_heard(slow_relay, connections):
    store = slow_relay.store
    connected(slow_relay, store)
    thread, result = in_background(
        slow_relay.on_message, frame({"type": "prompt", "voicePrompt": "Where are you?", "last": True})
    )
    wait_for_text(connections)
    heard = connections.texts()
    slow_relay.on_message(
        frame({"type": "interrupt", "utteranceUntilInterrupt": heard, "durationUntilInterruptMs": 300})
    )
    assert finished(thread)  # the barge-in ended the reply: the LLM was never let go on
    report = result["value"]
    assert report.outcome.interrupted is True
    assert report.frames < len(SlowProvider.words)  # it stopped sending
    assert not any(f.get("last") for f in connections.frames)  # nothing after the barge-in, not even `last`
    history = store.load_state(TRACKING)[0]["history"]
    assert history[-1] == {"role": "assistant", "content": heard.strip()}
    assert history[-2] == {"role": "user", "content": "Where are you?"}


def test_prompt_while_a_turn_streams_supersedes_it_and_no_turn_is_lost(slow_relay, slow_llm, connections):
    store = slow_relay.store
    connected(slow_relay, store)
    first, first_result = in_background(
        slow_relay.on_message, frame({"type": "prompt", "voicePrompt": "Where are you?", "last": True})
    )
    wait_for_text(connections)
    second, second_result = in_background(
        slow_relay.on_message, frame({"type": "prompt", "voicePrompt": "And your hours?", "last": True})
    )
    assert finished(first)  # superseded: it ended with its reply held mid-stream
    slow_llm.go_on()
    assert finished(second)
    assert first_result["value"].outcome.interrupted is True
    assert second_result["value"].outcome.interrupted is False
    state, version = store.load_state(TRACKING)
    users = [m["content"] for m in state["history"] if m["role"] == "user"]
    assert users == ["Where are you?", "And your hours?"]  # both turns, once each, in order
    assert state["turns"] == 2 and version == 2


def test_a_duplicated_frame_does_not_become_a_second_turn(slow_relay, slow_llm, connections):
    store = slow_relay.store
    connected(slow_relay, store)
    prompt = frame({"type": "prompt", "voicePrompt": "Where are you?", "last": True})
    first, first_result = in_background(slow_relay.on_message, prompt)
    wait_for_text(connections)
    # The same frame again, at the same instant on the store's clock: dropped, however long the first
    # text took to arrive.
    assert slow_relay.on_message(copy.deepcopy(prompt)) is None
    slow_llm.go_on()
    assert finished(first)
    assert first_result["value"].outcome.interrupted is False  # the original turn was not disturbed
    state, version = store.load_state(TRACKING)
    assert [m["content"] for m in state["history"] if m["role"] == "user"] == ["Where are you?"]
    assert state["turns"] == 1 and version == 1


def test_the_same_words_later_are_a_new_turn(relay, store, connections, monkeypatch):
    connected(relay, store)
    prompt = frame({"type": "prompt", "voicePrompt": "Sorry, what?", "last": True})
    relay.on_message(prompt)
    real_clock = store._clock
    monkeypatch.setattr(store, "_clock", lambda: real_clock() + 5)  # five seconds on
    relay.on_message(copy.deepcopy(prompt))
    state, _ = store.load_state(TRACKING)
    assert [m["content"] for m in state["history"] if m["role"] == "user"] == ["Sorry, what?", "Sorry, what?"]


# ---------------------------------------------------------------------------------------------- metrics
class QuickProvider(SlowProvider):
    """A live LLM that answers at once."""

    name = "quick"
    words = (" We are", " on Main Street.")
    said_before_waiting = float("inf")


class EmfSink:
    """Records what the relay emits, as Powertools' add_metric/add_metadata receive it."""

    def __init__(self):
        self.metrics: list[tuple[str, str, float]] = []

    def add_metric(self, name, unit, value):
        self.metrics.append((name, unit, value))

    def add_metadata(self, key, value):
        pass

    def names(self) -> dict[str, float]:
        return {name: value for name, _, value in self.metrics}


@pytest.fixture
def emf():
    return EmfSink()


def metered_relay(store, connections, emf, chain=None, metrics_store=None):
    table = boto3.resource("dynamodb").Table("CallsTable")
    return Relay(
        store=store,
        connections=connections,
        chain=chain or FailoverChain([]),
        auth_token=lambda: TOKEN,
        websocket_url=WSS,
        logger=Logger(service="relay-test"),
        metrics=TurnMetrics(store=metrics_store or MetricsStore(table), emf=emf),
    )


def aggregate_items(at_ms: int) -> list[dict]:
    """The minute's and the hour's aggregate items for the one turn received at `at_ms` (the one shard
    of each bucket it went to)."""
    table = boto3.resource("dynamodb").Table("CallsTable")
    minute = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(at_ms / 1000))
    found = []
    for bucket in (minute, minute[:13]):
        items = [table.get_item(Key={"pk": pk, "sk": "AGG"}).get("Item") for pk in aggregate_pks(bucket)]
        (item,) = [item for item in items if item]
        found.append(item)
    return found


def test_a_turn_records_a_turn_item_bumps_the_minute_and_emits(store, connections, emf):
    relay = metered_relay(store, connections, emf)
    connected(relay, store)
    report = relay.on_message(load(ROOT / "events" / "websocket" / "default--prompt.json"))
    table = boto3.resource("dynamodb").Table("CallsTable")
    item = table.get_item(Key={"pk": f"CALL#{TRACKING}", "sk": "TURN#00001"})["Item"]
    assert float(item["latencyMs"]) == pytest.approx(report.latency_ms, abs=0.001)
    assert item["node"] == "see_you" and item["action"] == "end" and "firstChunk" in item["marks"]
    minute, hour = aggregate_items(int(item["at"]))
    assert minute["turns"] == 1 and minute["latN"] == 1 and hour["turns"] == 1
    assert emf.names()["Turn"] == 1 and emf.names()["TurnError"] == 0
    assert ("TurnLatency", "Milliseconds") in [(name, unit) for name, unit, _ in emf.metrics]
    assert emf.names()["TurnLatency"] == pytest.approx(float(item["latencyMs"]))
    assert "FirstTokenTime" not in emf.names()  # static lines: no LLM was asked


def test_an_llm_turn_records_first_token_time_and_a_cache_miss(store, connections, emf):
    chain = FailoverChain([QuickProvider()], first_token_timeout_s=5)
    relay = metered_relay(store, connections, emf, chain=chain)
    connected(relay, store)
    relay.on_message(frame({"type": "prompt", "voicePrompt": "Where are you?", "last": True}))
    assert "Main Street" in connections.texts()
    names = emf.names()
    assert names["FirstTokenTime"] >= 0 and names["CacheMiss"] == 1 and names["CacheHit"] == 0
    turns = MetricsStore(boto3.resource("dynamodb").Table("CallsTable")).call_turns(TRACKING, "default")
    (turn,) = turns.records
    assert turn.provider == "quick" and turn.first_token_ms is not None and turn.cache_hit is False


def test_a_tenants_turns_are_recorded_as_that_tenants(store, connections, emf):
    chain = FailoverChain([QuickProvider()], first_token_timeout_s=5)
    relay = metered_relay(store, connections, emf, chain=chain)
    workflow = parse_workflow(json.loads((ROOT / "examples" / "clinic-appointment.json").read_text()))
    staged = stage(workflow, variables=VARIABLES, tracking_id=TRACKING, tenant_id="acme")
    store.put_session(TRACKING, staged.to_record())
    assert relay.on_connect(connect_event())["statusCode"] == 200
    relay.on_message(load(ROOT / "events" / "websocket" / "default--setup.json"))
    relay.on_message(frame({"type": "prompt", "voicePrompt": "Where are you?", "last": True}))
    metrics = MetricsStore(boto3.resource("dynamodb").Table("CallsTable"))
    assert metrics.call_turns(TRACKING, "default") is None
    assert len(metrics.call_turns(TRACKING, "acme").records) == 1
    plan = plan_window(int(time.time() * 1000) + 60_000, 5)
    assert metrics.window(plan, "acme").turns == 1 and metrics.window(plan, "default").turns == 0


def test_a_failed_turn_counts_an_error_under_its_call(store, connections, emf, monkeypatch):
    relay = metered_relay(store, connections, emf)
    connected(relay, store)

    def broken(*_args, **_kwargs):
        raise RuntimeError("DynamoDB is having a day")

    monkeypatch.setattr(store, "claim_turn", broken)
    before_ms = int(time.time() * 1000)
    relay.on_message(load(ROOT / "events" / "websocket" / "default--prompt.json"))
    assert connections.texts() == "One moment, please."
    assert emf.names() == {"Turn": 1, "TurnError": 1}
    found = MetricsStore(boto3.resource("dynamodb").Table("CallsTable")).call_turns(TRACKING, "default")
    assert found.errors == 1 and found.records == []
    table = boto3.resource("dynamodb").Table("CallsTable")
    failed_at = int(
        table.get_item(Key={"pk": f"CALL#{TRACKING}", "sk": "TURN#ERRORS"})["Item"]["lastErrorAt"]
    )
    assert failed_at >= before_ms
    minute, hour = aggregate_items(failed_at)
    assert (minute["turns"], minute["errors"]) == (1, 1) and hour["errors"] == 1


def test_metrics_that_cannot_be_written_never_reach_the_caller(store, connections, emf):
    class Unwritable:
        def record_turn(self, record, tenant_id):
            raise RuntimeError("throttled")

        def record_failure(self, tracking_id, at_ms, tenant_id):
            raise RuntimeError("throttled")

    relay = metered_relay(store, connections, emf, metrics_store=Unwritable())
    connected(relay, store)
    report = relay.on_message(load(ROOT / "events" / "websocket" / "default--prompt.json"))
    assert report is not None and connections.texts().startswith("Great")
    assert store.load_state(TRACKING)[0]["ended"] is True
    assert emf.names()["Turn"] == 1  # EMF went out all the same


def test_the_handler_prints_emf_for_turns_only(aws, function_env, monkeypatch, lambda_context, capsys):
    import warnings

    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    handler = function_env("RelayFunction")
    import relay_handler

    monkeypatch.setattr(relay_handler.relay, "websocket_url", WSS)
    monkeypatch.setattr(relay_handler.relay, "connections", RecordingConnections())
    stage_call(relay_handler.relay.store)

    def emf_lines() -> list[dict]:
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        return [line for line in lines if "_aws" in line]

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Powertools' "No application metrics to publish" would raise
        handler(connect_event(), lambda_context)
        handler(load(ROOT / "events" / "websocket" / "default--setup.json"), lambda_context)
        assert emf_lines() == []
        handler(load(ROOT / "events" / "websocket" / "default--prompt.json"), lambda_context)
        (blob,) = emf_lines()
        handler(load(ROOT / "events" / "websocket" / "disconnect.json"), lambda_context)
        assert emf_lines() == []
    directive = blob["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "KimiyiVoice" and directive["Dimensions"] == [["service"]]
    assert blob["service"] == "kimiyi-voice" and blob["trackingId"] == TRACKING
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units["TurnLatency"] == "Milliseconds" and units["Turn"] == "Count"
    table = boto3.resource("dynamodb").Table("CallsTable")
    assert table.get_item(Key={"pk": f"CALL#{TRACKING}", "sk": "TURN#00001"}).get("Item")


def test_words_after_the_call_ended_start_no_turn(relay, store, connections, table):
    connected(relay, store)
    relay.on_message(load(ROOT / "events" / "websocket" / "default--prompt.json"))  # "yes" -> the end node
    frames_at_end = len(connections.frames)
    assert (
        relay.on_message(frame({"type": "prompt", "voicePrompt": "Wait, one more thing", "last": True}))
        is None
    )
    assert len(connections.frames) == frames_at_end
    active = table.get_item(Key={"pk": f"CALL#{TRACKING}", "sk": "ACTIVE"})["Item"]
    assert active["done"] is True  # a later frame would not wait for a turn that never ran


class CountingStore(CallsStore):
    """The calls store, counting conversation-state reads."""

    def __init__(self, table, clock=time.time) -> None:
        super().__init__(table, clock)
        self.state_reads = 0

    def read_state(self, tracking_id):
        self.state_reads += 1
        return super().read_state(tracking_id)


def test_a_warm_environment_reuses_the_state_it_saved_unless_another_saved_since(table, connections):
    store = CountingStore(table)
    here, elsewhere = (
        Relay(
            store=store,
            connections=connections,
            chain=FailoverChain([]),
            auth_token=lambda: TOKEN,
            websocket_url=WSS,
            logger=Logger(service="relay-test"),
        )
        for _ in range(2)
    )
    connected(here, store)
    elsewhere.on_message(load(ROOT / "events" / "websocket" / "default--setup.json"))

    def say(relay, words: str) -> None:
        assert relay.on_message(frame({"type": "prompt", "voicePrompt": words, "last": True})) is not None

    say(here, "Hmm, let me think about it.")
    reads = store.state_reads
    say(here, "Sorry, what was that about?")  # the previous turn saved here: no read
    assert store.state_reads == reads
    say(elsewhere, "Could you say that once more?")  # another environment: it reads
    assert store.state_reads == reads + 1
    say(here, "Thank you, that helps.")  # `here` holds a copy older than what `elsewhere` saved: it reads
    assert store.state_reads == reads + 2
    state, version = store.load_state(TRACKING)
    users = [m["content"] for m in state["history"] if m["role"] == "user"]
    assert users[-4:] == [
        "Hmm, let me think about it.",
        "Sorry, what was that about?",
        "Could you say that once more?",
        "Thank you, that helps.",
    ]
    assert version == 4


class RecordingProvider(QuickProvider):
    """A live LLM that keeps every request and its stream: `requests` all of them, `replies` those that
    are not one-number edge verdicts. A request `hold` picks says nothing until it is closed."""

    name = "recording"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[dict] = []
        self.hold = lambda messages: False

    @property
    def replies(self) -> list[dict]:
        return [r for r in self.requests if r["options"].get("max_tokens") != 3]

    def stream(self, messages, **options):
        held = self.hold(messages)
        tokens = self.Tokens(self, self.words, 0 if held else self.said_before_waiting)
        with self._changed:  # called on the chain's reader thread: the test waits for what it needs
            self.requests.append({"messages": messages, "tokens": tokens, "options": options, "held": held})
            self._changed.notify_all()
        return tokens

    def wait_for(self, condition) -> None:
        """Returns once `condition()` holds, asked at each request and each close; fails after SAFETY_S."""
        with self._changed:
            assert self._changed.wait_for(condition, SAFETY_S), "the LLM never saw it"


class ClaimAfterTheRequestStore(CountingStore):
    """A calls store whose turn claim returns only once the turn's first LLM request has left (the test
    says how many had left before the turn: `requests_before_turn`), or after SAFETY_S when none
    does. `requests_when_claimed`: how many had left as each claim returned."""

    def __init__(self, table, llm) -> None:
        super().__init__(table)
        self.llm = llm
        self.requests_before_turn = 0
        self.requests_when_claimed: list[int] = []

    def claim_turn(self, *args, **kwargs):
        with self.llm._changed:
            self.llm._changed.wait_for(lambda: len(self.llm.requests) > self.requests_before_turn, SAFETY_S)
        try:
            return super().claim_turn(*args, **kwargs)
        finally:
            self.requests_when_claimed.append(len(self.llm.requests))


def recording_relay(store, connections, provider) -> Relay:
    return Relay(
        store=store,
        connections=connections,
        chain=FailoverChain([provider], first_token_timeout_s=5),
        auth_token=lambda: TOKEN,
        websocket_url=WSS,
        logger=Logger(service="relay-test"),
    )


def say(relay, words: str):
    return relay.on_message(frame({"type": "prompt", "voicePrompt": words, "last": True}))


def users_in(messages) -> list[str]:
    return [m["content"] for m in messages if m["role"] == "user"]


def test_the_llm_request_leaves_before_the_turn_claim_returns(table, connections):
    llm = RecordingProvider()
    store = ClaimAfterTheRequestStore(table, llm)
    relay = recording_relay(store, connections, llm)
    connected(relay, store)
    say(relay, "Hmm, let me think about it.")  # the first turn goes on from the opening state
    first_turn_requests = store.requests_before_turn = len(llm.requests)
    report = say(relay, "Sorry, what was that about?")  # the next from the state the first saved
    # Each turn's claim waited for the turn's first request (here the verdict on the node's
    # plain-language edges): it had left while the claim was in flight; the reply follows the verdict.
    assert store.requests_when_claimed == [1, first_turn_requests + 1]
    assert len(llm.replies) == 2 and report.outcome.reply == "We are on Main Street."
    assert store.state_reads == 0
    assert users_in(llm.replies[1]["messages"])[-2:] == [
        "Hmm, let me think about it.",
        "Sorry, what was that about?",
    ]


def test_a_turn_started_on_an_outdated_state_is_abandoned_and_started_again(table, connections):
    store, llm = CountingStore(table), RecordingProvider()
    here, elsewhere = (recording_relay(store, connections, llm) for _ in range(2))
    connected(here, store)
    elsewhere.on_message(load(ROOT / "events" / "websocket" / "default--setup.json"))
    say(here, "Hmm, let me think about it.")
    say(elsewhere, "Sorry, what was that about?")
    replies_before = sum(1 for f in connections.frames if f["type"] == "text" and f["last"])
    asked = len(llm.requests)
    # A request made on the state `here` saved (before "Sorry, ...") never answers: only abandoning it
    # lets the turn go on, however long the claim takes.
    llm.hold = lambda messages: "Sorry, what was that about?" not in json.dumps(messages)
    report = say(here, "Could you say that once more?")
    # The request on the outdated state left from the chain's reader thread: it may be seen, and closed,
    # only after the turn is over.
    llm.wait_for(lambda: any(r["held"] and r["tokens"]._closed.is_set() for r in llm.requests[asked:]))
    (guessed,) = [r for r in llm.requests[asked:] if r["held"]]  # the request on the outdated state
    fresh_requests = [r for r in llm.requests[asked:] if not r["held"]]
    assert not guessed["tokens"].said_all  # abandoned
    assert all(r["tokens"].said_all for r in fresh_requests)  # each read to its end
    (fresh,) = [r for r in fresh_requests if r["options"].get("max_tokens") != 3]
    assert users_in(fresh["messages"])[-2:] == [
        "Sorry, what was that about?",
        "Could you say that once more?",
    ]
    assert sum(1 for f in connections.frames if f["type"] == "text" and f["last"]) == replies_before + 1
    assert report.outcome.reply == "We are on Main Street."


def test_a_repeated_frame_abandons_the_turn_it_started_on_the_saved_state(table, connections):
    store, llm = CountingStore(table, clock=Clock()), RecordingProvider()
    relay = recording_relay(store, connections, llm)
    connected(relay, store)
    say(relay, "Hmm, let me think about it.")
    say(relay, "Sorry, what was that about?")
    frames, asked = len(connections.frames), len(llm.requests)
    llm.hold = lambda messages: True  # the turn's early request answers only if it is never abandoned
    # The same frame again, at the same instant on the store's clock: within the duplicate window.
    assert say(relay, "Sorry, what was that about?") is None
    llm.wait_for(lambda: len(llm.requests) > asked and llm.requests[-1]["tokens"]._closed.is_set())
    assert len(llm.requests) == asked + 1 and not llm.requests[-1]["tokens"].said_all
    assert len(connections.frames) == frames
