"""ConversationRelay frames fuzzed over the local stack's WebSocket, on calls staged and signed as Twilio's.

Each example is a call: staged, a signed handshake, `setup`, then 1-6 hypothesis-generated frames
(the six ConversationRelay types with odd values, wrong types, unknown types, JSON nested past the
limit, numbers JSON may hold and Python may not (1e400, 400 digits), lone surrogate escapes, text that is
not JSON, binary and invalid UTF-8 frames, frames of up to 120 KB), then a normal `prompt`.

Invariants: never API Gateway's "Internal server error" frame (the local stack sends it when the handler
raises, as API Gateway does: Twilio reports error 64107), nothing logged as a failed frame or
invocation, and the call still answers: the prompt after the fuzz gets its spoken reply, text frames
ending with `last: true`. The workflow has one conversation node the call never leaves, and one keyword
edge, `pineapple ping`, to a static line, "Pong.", and back (another, never said, to its end), so the reply to that prompt can be told from
any reply a fuzzed prompt got. Derandomized and bounded, so a CI run is the same every time.
"""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from websockets.sync.client import connect

from kimiyi.staging import stage
from kimiyi.workflow import parse_workflow
from tests.e2e.test_relay_e2e import LOCAL_TOKEN, calls_store, relay_url

pytestmark = pytest.mark.e2e
EXAMPLES = 40
PING = {"type": "prompt", "voicePrompt": "pineapple ping", "lang": "en-US", "last": True}
WORKFLOW = {
    "nodes": [
        {
            "id": "hub",
            "type": "conversation",
            "data": {"isStart": True, "prompt": "Chat.", "scriptedLine": "Still here."},
        },
        {"id": "pong", "type": "static", "data": {"text": "Pong."}},
        {"id": "bye", "type": "end", "data": {"text": "Bye."}},  # every workflow must be able to end
    ],
    "edges": [
        {
            "id": "ping",
            "source": "hub",
            "target": "pong",
            "data": {"condition": {"type": "keywords", "keywords": ["pineapple ping"]}},
        },
        {"id": "back", "source": "pong", "target": "hub"},
        {
            "id": "end",
            "source": "hub",
            "target": "bye",
            "data": {"condition": {"type": "keywords", "keywords": ["zebra crossing"]}},
        },
    ],
    "config": {"language": "en-US", "maxTurns": 500},
}
_calls = itertools.count()

ODD_TEXT = st.one_of(
    st.text(max_size=30).filter(lambda text: not {"pineapple", "zebra"} & set(text.lower().split())),
    st.sampled_from(("", " ", "\x00", "²", "１", "係呀", "\u202e", "\ufeff", "🙂" * 50)),
    st.sampled_from(("a", "字")).map(lambda char: char * 30_000),
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ODD_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
ANY_VALUE = st.one_of(ODD_TEXT, JSONISH)


def _frame(kind: str, **fields: st.SearchStrategy) -> st.SearchStrategy[str]:
    """A frame of `kind` with some of its fields (each drawn from its strategy, or any JSON at all)."""
    return st.fixed_dictionaries(
        {"type": st.just(kind)},
        optional={name: st.one_of(strategy, ANY_VALUE) for name, strategy in fields.items()},
    ).map(lambda frame: json.dumps(frame, ensure_ascii=False))


VALID_SHAPED = st.one_of(
    _frame(
        "prompt",
        voicePrompt=ODD_TEXT,
        lang=st.sampled_from(("en-US", "zh-HK", "xx-YY", "", "EN-us", "zh-CN")),
        last=st.booleans(),
    ),
    _frame("dtmf", digit=st.sampled_from(("1", "#", "*", "12", "", "²", "a", "w", "١"))),
    _frame(
        "interrupt",
        utteranceUntilInterrupt=ODD_TEXT,
        durationUntilInterruptMs=st.one_of(
            st.integers(), st.floats(), st.sampled_from(("460", "460.5", "-1", "1e400", "²", ""))
        ),
    ),
    _frame("info", name=ODD_TEXT, value=ANY_VALUE),
    _frame("error", description=ODD_TEXT),
    _frame(
        "setup",
        callSid=ODD_TEXT,
        sessionId=ODD_TEXT,
        customParameters=st.dictionaries(st.text(max_size=8), ANY_VALUE, max_size=3),
    ),
    _frame("partyTime", voicePrompt=ODD_TEXT),
    st.dictionaries(st.text(max_size=8), ANY_VALUE, max_size=4).map(json.dumps),  # no type, or a wrong one
)
RAW = st.one_of(
    st.sampled_from(
        (
            "",
            " ",
            "{not json",
            "null",
            "[]",
            "42",
            '"prompt"',
            '{"type": "prompt", "voicePrompt": "\\ud800", "last": true}',
            '{"type": "prompt", "voicePrompt": "a\\udc00b", "last": true}',
            '{"type": "interrupt", "durationUntilInterruptMs": 1e400}',
            '{"type": "interrupt", "durationUntilInterruptMs": ' + "9" * 400 + "}",
            '{"type": "dtmf", "digit": "1", "digit": "2"}',
            '{"type": "prompt", "voicePrompt": NaN, "last": true}',
            '{"type": "prompt", "voicePrompt": "hi", "last": Infinity}',
            '{"type": "info", "x": -0.0e-400}',
        )
    ),
    st.integers(1, 6000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(30, 3000).map(
        lambda depth: '{"type": "prompt", "voicePrompt": ' + '{"a": ' * depth + "1" + "}" * depth + "}"
    ),
    st.text(max_size=100),
)
BINARY = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(
        (b"\xff\xfe", b'{"type": "prompt", "voicePrompt": "\xff", "last": true}', b"\x00" * 1000)
    ),
    VALID_SHAPED.map(lambda frame: frame.encode("utf-8")),
)
# Under API Gateway's 128 KB message limit: a longer one closes the socket (1009), as it would on AWS.
MAX_FRAME_BYTES = 120 * 1024
FRAMES = st.lists(
    st.one_of(VALID_SHAPED, VALID_SHAPED, RAW, BINARY).filter(
        lambda frame: (
            len(frame if isinstance(frame, bytes) else frame.encode("utf-8", "surrogatepass"))
            <= MAX_FRAME_BYTES
        )
    ),
    min_size=1,
    max_size=6,
)


def _stage(stack) -> str:
    tracking_id = f"trk-fuzz-frames-{next(_calls)}"
    session = stage(parse_workflow(WORKFLOW), tracking_id=tracking_id)
    calls_store(stack).put_session(tracking_id, session.to_record())
    return tracking_id


def _reply_to_ping(ws, sent: list) -> list[dict]:
    """Frames until the ping's reply has been spoken to its end; fails on an error frame."""
    frames: list[dict] = []
    heard_pong = False
    while True:
        raw = ws.recv(timeout=15)
        frame = json.loads(raw)
        frames.append(frame)
        assert frame.get("message") != "Internal server error", f"error frame after {sent!r}: {frame}"
        if frame.get("type") == "text":
            heard_pong = heard_pong or "Pong" in frame.get("token", "")
            if heard_pong and frame.get("last") is True:
                return frames


def test_fuzzed_frames_never_break_the_call(app_stack):
    logged_before = len(app_stack.output)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(frames=FRAMES)
    def fuzz(frames):
        tracking_id = _stage(app_stack)
        url = relay_url(app_stack, tracking_id)
        signature = RequestValidator(LOCAL_TOKEN).compute_signature(url, {})
        with connect(
            url, additional_headers={"X-Twilio-Signature": signature}, open_timeout=10, max_size=None
        ) as ws:
            setup = {
                "type": "setup",
                "callSid": "CA" + "f" * 32,
                "from": "+12125550100",
                "to": "+12125550199",
            }
            ws.send(json.dumps({**setup, "customParameters": {"trackingId": tracking_id}}))
            for frame in frames:
                ws.send(frame)
            ws.send(json.dumps(PING))
            _reply_to_ping(ws, frames)

    fuzz()
    failures = [
        line
        for line in app_stack.output[logged_before:]
        if "invocation failed" in line or "frame handling failed" in line
    ]
    assert not failures, "".join(failures[:5])
