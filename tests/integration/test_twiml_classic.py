"""Classic mode under moto: <Gather> turns through the engine, retries, silence, transfer, Cantonese."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from kimiyi.adapters.calls_store import CallsStore
from kimiyi.classic import NO_ANSWER_GOODBYE
from tests.integration.test_twiml_webhook import (
    CALL_SID,
    PUBLIC,
    TRACKING,
    clinic,
    make_webhook,
    parse,
    post_to,
    spoken,
    stage_session,
    twilio_event,
    voice_params,
    workflow_payload,
)


@pytest.fixture
def webhook(store, records):
    return make_webhook(store, records)


def first_webhook(webhook) -> ET.Element:
    return parse(
        webhook.handle(twilio_event("/api/twiml-optimized", {"trackingId": TRACKING}, voice_params()))
    )


def answer(service, root: ET.Element, **said: str) -> tuple[ET.Element, dict]:
    """Posts what the caller said (SpeechResult=…, Digits=… or nothing) to the <Gather action> in `root`."""
    event = post_to(root.find("Gather").get("action"), voice_params(**said))
    response = service.handle(event)
    return parse(response), response


def version(calls: CallsStore) -> int:
    return calls.load_state(TRACKING)[1]


def test_greeting_says_the_opening_and_gathers_turn_one(webhook, store):
    stage_session(store, clinic(), mode="classic")
    root = first_webhook(webhook)
    # welcomeGreetingInterruptible is "none" in the clinic workflow: the greeting is said before listening.
    assert [child.tag for child in root] == ["Say", "Gather"]
    say = root.find("Say")
    assert say.get("voice") == "Polly.Joanna-Neural" and say.get("language") == "en-US"
    assert say.text.startswith("Hi Anna, this is Mia from Bright Smile")
    assert say.text.endswith("tell me if you'd like to reschedule or cancel.")
    gather = root.find("Gather")
    assert gather.attrib == {
        "input": "speech dtmf",
        "action": f"{PUBLIC}/api/twiml-optimized?trackingId={TRACKING}&turn=1",
        "method": "POST",
        "language": "en-US",
        "speechModel": "experimental_conversations",
        "speechTimeout": "2",
        "hints": "reschedule,cancel,front desk,改期,取消",
        "actionOnEmptyResult": "true",
    }
    assert version(store) == 0  # the greeting writes no state


def test_a_call_through_several_turns_to_the_hangup(webhook, store):
    stage_session(store, clinic(), mode="classic")
    root = first_webhook(webhook)

    menu, _ = answer(webhook, root, SpeechResult="No, I can't make it.", Confidence="0.93")
    assert spoken(menu).startswith("No problem. Press 1 to reschedule, press 2 to cancel")
    gather = menu.find("Gather")
    assert gather.get("numDigits") == "1"  # a menu: one key press ends the gather at once
    assert gather.find("Say") is not None  # interruptible "any": the caller may cut the prompt short
    assert gather.get("action").endswith("&turn=2")
    assert version(store) == 1

    check, _ = answer(webhook, menu, Digits="2")
    assert spoken(check) == "Just to be sure: would you like to cancel your appointment tomorrow at 3 pm?"
    assert check.find("Gather").get("numDigits") is None
    assert version(store) == 2

    done, last = answer(webhook, check, SpeechResult="Yes please.")
    retried = webhook.handle(
        post_to(check.find("Gather").get("action"), voice_params(SpeechResult="Yes please."))
    )
    assert retried == last  # the goodbye again, not a bare <Hangup/> for a call that has ended
    assert spoken(done) == (
        "Your appointment is cancelled. Whenever you'd like to book again, just give Bright Smile a call. "
        "Thank you for your time. Goodbye!"
    )
    assert [child.tag for child in done] == ["Say", "Hangup"]
    state, final_version = store.load_state(TRACKING)
    assert final_version == 3 and state["ended"] is True and state["nodeId"] == "goodbye"
    assert [m["content"] for m in state["history"] if m["role"] == "user"] == [
        "No, I can't make it.",
        "(pressed 2)",
        "Yes please.",
    ]


def test_a_retried_turn_is_answered_identically_without_advancing(webhook, store, records):
    stage_session(store, clinic(), mode="classic")
    root = first_webhook(webhook)
    event = post_to(root.find("Gather").get("action"), voice_params(SpeechResult="No."))
    first = webhook.handle(event)
    assert version(store) == 1
    assert records.rendered(TRACKING, "1") == (CALL_SID, first["body"])
    again = webhook.handle(event)
    assert again == first
    assert version(store) == 1
    # The same turn number posted with different words is still that turn: answered as before.
    other = post_to(root.find("Gather").get("action"), voice_params(SpeechResult="Yes."))
    assert webhook.handle(other)["body"] == first["body"]
    assert version(store) == 1


def test_a_turn_applied_but_never_recorded_is_rebuilt_not_rerun(webhook, store, table):
    stage_session(store, clinic(), mode="classic")
    root = first_webhook(webhook)
    event = post_to(root.find("Gather").get("action"), voice_params(SpeechResult="No."))
    first = webhook.handle(event)
    # The first attempt died after saving the state and before storing its TwiML.
    table.delete_item(Key={"pk": f"CALL#{TRACKING}", "sk": "TWIML#1"})
    assert webhook.handle(event)["body"] == first["body"]
    assert version(store) == 1


class RacingStore(CallsStore):
    """Lets a duplicate of the request run to completion between this turn's state read and its write."""

    def __init__(self, calls_table, duplicate) -> None:
        super().__init__(calls_table)
        self.duplicate = duplicate

    def save_state(self, tracking_id, state, expected_version):
        duplicate, self.duplicate = self.duplicate, None
        if duplicate:
            duplicate()
        return super().save_state(tracking_id, state, expected_version)


def test_a_concurrent_duplicate_answers_what_the_winner_answered(records, table):
    plain = CallsStore(table)
    stage_session(plain, clinic(), mode="classic")
    honest = make_webhook(plain, records)
    action = first_webhook(honest).find("Gather").get("action")
    event = post_to(action, voice_params(SpeechResult="No."))
    results = []
    racing = make_webhook(RacingStore(table, lambda: results.append(honest.handle(event))), records)
    loser = racing.handle(event)
    assert loser["body"] == results[0]["body"]
    assert plain.load_state(TRACKING)[1] == 1


def test_transfer_node_says_its_line_then_dials(webhook, store):
    stage_session(store, clinic(), mode="classic")
    menu, _ = answer(webhook, first_webhook(webhook), SpeechResult="No.")
    transfer, _ = answer(webhook, menu, Digits="0")
    assert [child.tag for child in transfer] == ["Say", "Dial"]
    assert spoken(transfer) == "Please hold while I connect you to our front desk."
    assert transfer.find("Dial").text == "+12125550147"


def test_silence_reprompts_once_then_says_goodbye(webhook, store):
    stage_session(store, clinic(), mode="classic")
    reprompt, _ = answer(webhook, first_webhook(webhook))
    assert spoken(reprompt) == (
        "Can you make it tomorrow at 3 pm? You can say yes, or tell me if you'd like to reschedule or cancel."
    )
    assert reprompt.find("Gather").get("action") == (
        f"{PUBLIC}/api/twiml-optimized?trackingId={TRACKING}&turn=1&silence=1"
    )
    goodbye, _ = answer(webhook, reprompt)
    assert spoken(goodbye) == NO_ANSWER_GOODBYE["en"]
    assert [child.tag for child in goodbye] == ["Say", "Hangup"]
    assert version(store) == 0  # silence never advances the conversation


def test_speech_after_a_reprompt_continues_the_call(webhook, store):
    stage_session(store, clinic(), mode="classic")
    reprompt, _ = answer(webhook, first_webhook(webhook))
    menu, _ = answer(webhook, reprompt, SpeechResult="No.")
    assert spoken(menu).startswith("No problem.")
    assert menu.find("Gather").get("action").endswith("&turn=2")  # the silence count starts again
    assert version(store) == 1


def test_a_cantonese_call_uses_the_tables_cantonese_voices(webhook, store):
    stage_session(store, workflow_payload("zh-HK"), mode="classic")
    root = first_webhook(webhook)
    gather = root.find("Gather")
    assert gather.get("language") == "zh-HK" and gather.get("speechModel") == "deepgram_nova-2"
    say = gather.find("Say")  # welcomeGreetingInterruptible defaults to "any": nested
    assert say.get("voice") == "Polly.Hiujin-Neural" and say.get("language") == "yue-CN"
    assert say.text == "你好，呢度係診所。 有咩可以幫到你？"
    bye, _ = answer(webhook, root, SpeechResult="拜拜")
    assert spoken(bye) == "拜拜！"
    assert bye.find("Say").get("voice") == "Polly.Hiujin-Neural"


def test_switching_to_cantonese_changes_the_voice_for_this_and_later_turns(webhook, store):
    stage_session(store, workflow_payload("en-US", ["zh-HK"]), mode="classic")
    root = first_webhook(webhook)
    assert root.find("Gather").get("language") == "en-US"
    reply, _ = answer(webhook, root, SpeechResult="唔該，我想問下你哋幾點開門呀？")
    assert reply.find("Gather/Say").get("voice") == "Polly.Hiujin-Neural"
    assert reply.find("Gather").get("language") == "zh-HK"
    assert store.load_state(TRACKING)[0]["language"] == "zh-HK"
    silence, _ = answer(webhook, reply)
    assert silence.find("Gather/Say").get("language") == "yue-CN"
    assert spoken(silence) == "有咩可以幫到你？"


def test_a_hung_up_conversation_stays_hung_up(webhook, store):
    stage_session(store, workflow_payload("en-US"), mode="classic")
    root = first_webhook(webhook)
    bye, _ = answer(webhook, root, SpeechResult="Goodbye")
    assert spoken(bye) == "Goodbye!"
    late = post_to(
        root.find("Gather").get("action").replace("turn=1", "turn=2"), voice_params(SpeechResult="hi")
    )
    assert [child.tag for child in parse(webhook.handle(late))] == ["Hangup"]


@pytest.mark.parametrize("mode", ["query", "no websocket"])
def test_stream_sessions_fall_back_to_classic(store, records, mode):
    stage_session(store, clinic(), mode="stream")
    service = make_webhook(store, records, websocket_url="" if mode == "no websocket" else "wss://x/dev")
    query = {"trackingId": TRACKING, **({"mode": "classic"} if mode == "query" else {})}
    root = parse(service.handle(twilio_event("/api/twiml-optimized", query, voice_params())))
    assert root.find("Gather") is not None and root.find("Connect") is None


def test_classic_fallback_mid_call_resumes_where_the_call_is(webhook, store):
    """The relay failed after two turns: classic mode picks up at the current node, not the greeting."""
    stage_session(store, clinic(), mode="classic")
    menu, _ = answer(webhook, first_webhook(webhook), SpeechResult="No.")
    resumed = parse(
        webhook.handle(
            twilio_event("/api/twiml-optimized", {"trackingId": TRACKING, "mode": "classic"}, voice_params())
        )
    )
    assert spoken(resumed) == spoken(menu)
    assert resumed.find("Gather").get("action").endswith("&turn=2")
