"""TwiML builders (kimiyi.twiml) and classic-mode helpers, rendered and parsed back as XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from kimiyi.classic import join_spoken, no_answer_goodbye, reprompt_line
from kimiyi.conversation import CallState
from kimiyi.twiml import (
    conversation_relay,
    gather,
    relay_attributes,
    say_and_dial,
    say_and_hangup,
)
from kimiyi.workflow import WorkflowConfig, parse_workflow

WSS = "wss://abcd1234ef.execute-api.us-east-1.amazonaws.com/dev"
ACTION = "https://voice.example.com/api/call-status?trackingId=trk_1&event=connect-action"


def relay_twiml(config: WorkflowConfig, greeting: str = "Hello!") -> ET.Element:
    xml = conversation_relay(
        config=config, greeting=greeting, tracking_id="trk_1", websocket_url=WSS, action_url=ACTION
    )
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(xml)


def test_conversation_relay_for_an_english_call():
    root = relay_twiml(WorkflowConfig(hints=("reschedule", "cancel"), interrupt_sensitivity="high"))
    connect = root.find("Connect")
    assert connect.attrib == {"action": ACTION, "method": "POST"}
    relay = connect.find("ConversationRelay")
    assert relay.attrib == {
        "url": f"{WSS}?trackingId=trk_1",
        "welcomeGreeting": "Hello!",
        "language": "en-US",
        "ttsProvider": "Google",
        "voice": "en-US-Chirp3-HD-Aoede",
        "transcriptionProvider": "Deepgram",
        "speechModel": "nova-3-general",
        "interruptible": "any",
        "welcomeGreetingInterruptible": "any",
        "interruptSensitivity": "high",
        "dtmfDetection": "true",
        "hints": "reschedule,cancel",
    }
    assert [child.tag for child in relay] == ["Language", "Parameter"]
    assert relay.find("Parameter").attrib == {"name": "trackingId", "value": "trk_1"}


def test_cantonese_relay_uses_google_yue_hk_voice_and_deepgram_zh_hk():
    relay = relay_twiml(WorkflowConfig(language="zh-HK", languages=("en-US",))).find(
        "Connect/ConversationRelay"
    )
    assert relay.get("language") == "zh-HK"
    assert relay.get("ttsProvider") == "Google" and relay.get("voice").startswith("yue-HK-")
    assert relay.get("transcriptionProvider") == "Deepgram"
    assert [lang.get("code") for lang in relay.findall("Language")] == ["zh-HK", "en-US"]


def test_language_aliases_are_declared_once_under_the_tables_code():
    relay = relay_twiml(WorkflowConfig(language="yue-HK", languages=("zh-HK",))).find(
        "Connect/ConversationRelay"
    )
    assert relay.get("language") == "zh-HK"
    assert [lang.get("code") for lang in relay.findall("Language")] == ["zh-HK"]


def test_an_empty_greeting_is_left_out_and_dtmf_off_is_false():
    relay = relay_twiml(WorkflowConfig(dtmf_detection=False), greeting="").find("Connect/ConversationRelay")
    assert "welcomeGreeting" not in relay.attrib
    assert relay.get("dtmfDetection") == "false"
    assert "hints" not in relay.attrib


def test_a_tts_provider_override_without_a_voice_drops_the_tables_voice():
    attributes = relay_attributes(WorkflowConfig(tts_provider="ElevenLabs"), "en-US")
    assert attributes["tts_provider"] == "ElevenLabs" and "voice" not in attributes
    attributes = relay_attributes(
        WorkflowConfig(transcription_provider="Google", speech_model="telephony"), "en-US"
    )
    assert attributes["transcription_provider"] == "Google" and attributes["speech_model"] == "telephony"
    # Overrides are for the main language only.
    assert relay_attributes(WorkflowConfig(tts_provider="ElevenLabs"), "zh-HK")["tts_provider"] == "Google"


def test_gather_nests_the_say_for_barge_in():
    root = ET.fromstring(
        gather(
            text="Press 1.", language="en-US", action_url="https://x/a?turn=1", hints=("one",), num_digits=1
        )
    )
    assert [child.tag for child in root] == ["Gather"]
    listen = root.find("Gather")
    assert listen.attrib == {
        "input": "speech dtmf",
        "action": "https://x/a?turn=1",
        "method": "POST",
        "language": "en-US",
        "speechModel": "experimental_conversations",
        "speechTimeout": "2",
        "hints": "one",
        "numDigits": "1",
        "actionOnEmptyResult": "true",
    }
    assert listen.find("Say").attrib == {"voice": "Polly.Joanna-Neural", "language": "en-US"}


def test_gather_without_barge_in_says_first_and_speech_only_without_dtmf():
    root = ET.fromstring(
        gather(text="Hello.", language="en-US", action_url="https://x/a", dtmf=False, barge_in=False)
    )
    assert [child.tag for child in root] == ["Say", "Gather"]
    assert root.find("Gather").get("input") == "speech"
    assert len(root.find("Gather")) == 0


def test_cantonese_gather_and_say():
    root = ET.fromstring(gather(text="你好！", language="zh-HK", action_url="https://x/a"))
    assert root.find("Gather").get("language") == "zh-HK"
    assert root.find("Gather/Say").attrib == {"voice": "Polly.Hiujin-Neural", "language": "yue-CN"}
    assert root.find("Gather/Say").text == "你好！"


def test_hangup_and_dial_say_their_line_first():
    hangup = ET.fromstring(say_and_hangup("Bye.", "en-US"))
    assert [(c.tag, c.text) for c in hangup] == [("Say", "Bye."), ("Hangup", None)]
    dial = ET.fromstring(say_and_dial("Hold on.", "+12125550147", "zh-HK"))
    assert [(c.tag, c.text) for c in dial] == [("Say", "Hold on."), ("Dial", "+12125550147")]
    assert [c.tag for c in ET.fromstring(say_and_hangup("  ", "en-US"))] == ["Hangup"]


def test_an_unknown_language_still_speaks_with_an_english_voice():
    say = ET.fromstring(say_and_hangup("Goodbye.", "tlh-QO")).find("Say")
    assert say.get("voice") == "Polly.Joanna-Neural"


def test_xml_special_characters_are_escaped_by_the_helper():
    root = ET.fromstring(say_and_hangup('Tom & Jerry say "<hi>"', "en-US"))
    assert root.find("Say").text == 'Tom & Jerry say "<hi>"'


# ------------------------------------------------------------------------------------------ classic helpers
WORKFLOW = parse_workflow(
    {
        "globalPrompt": "",
        "nodes": [
            {
                "id": "menu",
                "type": "menu",
                "data": {
                    "isStart": True,
                    "prompt": {"en-US": "Press 1.", "zh-HK": "請按1。"},
                    "options": [{"digit": "1"}],
                },
            },
            {
                "id": "talk",
                "type": "conversation",
                "data": {"prompt": "Chat.", "scriptedLine": "Tell me more."},
            },
            {"id": "free", "type": "conversation", "data": {"prompt": "Chat."}},
            {"id": "bye", "type": "end", "data": {"text": "Bye."}},
        ],
        "edges": [
            {
                "id": "m1",
                "source": "menu",
                "target": "talk",
                "data": {"condition": {"type": "dtmf", "digit": "1"}},
            },
            {
                "id": "t1",
                "source": "talk",
                "target": "free",
                "data": {"condition": {"type": "intent", "intent": "yes"}},
            },
            {
                "id": "f1",
                "source": "free",
                "target": "bye",
                "data": {"condition": {"type": "intent", "intent": "goodbye"}},
            },
        ],
        "config": {"language": "en-US", "languages": ["zh-HK"]},
    }
)


@pytest.mark.parametrize(
    ("node", "language", "history", "line"),
    [
        ("menu", "en-US", (), "Press 1."),
        ("menu", "zh-HK", (), "請按1。"),
        ("talk", "en-US", (), "Tell me more."),
        ("free", "en-US", ({"role": "assistant", "content": "What else?"},), "What else?"),
        ("free", "en-US", (), ""),
    ],
)
def test_reprompt_line(node, language, history, line):
    assert reprompt_line(WORKFLOW, CallState(node, language, history=history)) == line


@pytest.mark.parametrize(
    ("code", "start"),
    [
        ("en-GB", "Sorry"),
        ("zh-HK", "唔好意思"),
        ("yue", "唔好意思"),
        ("zh-CN", "抱歉，我没有"),
        ("zh-TW", "抱歉，我沒有"),
        ("sv-SE", "Sorry"),
        ("tlh-QO", "Sorry"),
    ],
)
def test_no_answer_goodbye_is_in_the_callers_language(code, start):
    assert no_answer_goodbye(code).startswith(start)


@pytest.mark.parametrize(
    ("chunks", "text"),
    [
        (
            ["Your appointment is cancelled.", " Whenever.", "Thank you."],
            "Your appointment is cancelled. Whenever. Thank you.",
        ),
        (["好，確認咗。", "多謝你！"], "好，確認咗。多謝你！"),
        (["Hello, ", "world."], "Hello, world."),
        ([], ""),
    ],
)
def test_join_spoken(chunks, text):
    assert join_spoken(chunks) == text
