"""ConversationRelay frames: what Twilio sends, parsed and checked; what we send, built."""

import json

import pytest

from kimiyi.relay import protocol
from kimiyi.relay.protocol import Dtmf, Info, Interrupt, Prompt, ProtocolError, RelayError, Setup, Unknown


def test_setup_carries_the_call_and_custom_parameters():
    frame = {
        "type": "setup",
        "sessionId": "VX1",
        "accountSid": "AC1",
        "callSid": "CA1",
        "from": "+15551230000",
        "to": "+15559870000",
        "direction": "outbound-api",
        "customParameters": {"trackingId": "t-1"},
    }
    setup = protocol.parse(json.dumps(frame))
    assert setup == Setup("CA1", "VX1", "+15551230000", "+15559870000", "outbound-api", {"trackingId": "t-1"})


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ({"type": "prompt", "voicePrompt": "Hi", "lang": "en-US", "last": True}, Prompt("Hi", "en-US", True)),
        ({"type": "prompt", "voicePrompt": "Hi", "last": False}, Prompt("Hi", None, False)),
        ({"type": "dtmf", "digit": "#"}, Dtmf("#")),
        (
            {"type": "interrupt", "utteranceUntilInterrupt": "Our", "durationUntilInterruptMs": 460},
            Interrupt("Our", 460),
        ),
        (
            {"type": "interrupt", "utteranceUntilInterrupt": "Our", "durationUntilInterruptMs": "460"},
            Interrupt("Our", 460),
        ),
        ({"type": "interrupt", "durationUntilInterruptMs": "soon"}, Interrupt("", None)),
        ({"type": "error", "description": "bad voice"}, RelayError("bad voice")),
        ({"type": "info", "name": "x"}, Info({"type": "info", "name": "x"})),
        ({"type": "novel", "x": 1}, Unknown("novel", {"type": "novel", "x": 1})),
    ],
)
def test_each_message_type(frame, expected):
    assert protocol.parse(json.dumps(frame)) == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "empty frame"),
        (None, "empty frame"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON list, not an object"),
        ('{"voicePrompt": "hi"}', "no 'type'"),
        ('{"type": "prompt"}', "'voicePrompt' is missing"),
        ('{"type": "prompt", "voicePrompt": 5}', "'voicePrompt' is a int, not a string"),
        ('{"type": "prompt", "voicePrompt": "x", "last": "yes"}', "'last' is not a boolean"),
        ('{"type": "dtmf", "digit": "12"}', "not a key on a phone keypad"),
        ('{"type": "setup"}', "'callSid' is missing"),
        ('{"type": "setup", "callSid": "CA1", "customParameters": [1]}', "not an object"),
        (b"\xff\xfe", "not UTF-8"),
        ("x" * 200_000, "the limit is 131,072"),
        ('{"type": "prompt", "voicePrompt": "x", "n": ' + "[" * 40 + "]" * 40 + "}", "more than 32 levels"),
        (
            '{"type": "prompt", "voicePrompt": "x", "n": ' + "[" * 3000 + "]" * 3000 + "}",
            "more than 32 levels",
        ),
        ('{"type": "prompt", "voicePrompt": "\\ud800"}', "voicePrompt is not Unicode text"),
        ('{"type": "prompt", "voicePrompt": "x", "last": NaN}', "NaN is not JSON"),
    ],
)
def test_malformed_frames_say_what_is_wrong(body, message):
    with pytest.raises(ProtocolError, match=message):
        protocol.parse(body)


def test_outbound_frames():
    assert json.loads(protocol.dumps(protocol.text("你好，", last=False, language="zh-HK"))) == {
        "type": "text",
        "token": "你好，",
        "last": False,
        "interruptible": True,
        "lang": "zh-HK",
    }
    assert (
        "你好" in protocol.dumps(protocol.text("你好", last=True)).decode()
    )  # not \\u-escaped: smaller frames
    end = protocol.end({"reason": "transfer", "to": "+15550001111"})
    assert json.loads(end["handoffData"]) == {"reason": "transfer", "to": "+15550001111"}
    assert protocol.switch_language("zh-HK") == {
        "type": "language",
        "ttsLanguage": "zh-HK",
        "transcriptionLanguage": "zh-HK",
    }
    assert protocol.send_digits("9ww1234#") == {"type": "sendDigits", "digits": "9ww1234#"}
    with pytest.raises(ValueError, match="0-9, w, # and \\* only"):
        protocol.send_digits("12a")


def test_a_voice_prompt_over_the_limit_is_cut_and_logged(caplog):
    words = "please " * 2_000  # 14,000 characters: no caller says that in one breath
    with caplog.at_level("WARNING"):
        prompt = protocol.parse(json.dumps({"type": "prompt", "voicePrompt": words, "last": True}))
    assert len(prompt.text) <= protocol.MAX_VOICE_PROMPT_CHARS
    assert words.startswith(prompt.text) and prompt.text.endswith("please")
    assert "voicePrompt of 14,000 characters cut to" in caplog.text


def test_a_voice_prompt_within_the_limit_is_kept_as_it_is():
    said = "x" * protocol.MAX_VOICE_PROMPT_CHARS
    assert protocol.parse(json.dumps({"type": "prompt", "voicePrompt": said})).text == said
