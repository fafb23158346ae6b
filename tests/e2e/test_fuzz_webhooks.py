"""Twilio's webhooks fuzzed with correctly signed forms against `make dev`'s stack.

The TwiML webhook (a stream call, a classic call's first fetch and its <Gather> actions, an unknown call,
an inbound call), the status callback and the <Connect action> callback each get hypothesis-generated
form posts: Twilio's own fields with odd values (digits that are not ASCII such as '²' or '١٢',
numbers of 39+ digits, huge text, JSON that is not a handoff, empty, NUL), random field names, repeated
fields, and odd query values, every request signed as Twilio signs it (the URL it called, then each
field's name and values, sorted). Invariant: never a 5xx, and nothing the stack logs as a failed
invocation. Derandomized and bounded, so a CI run is the same every time.
"""

from __future__ import annotations

import json
from collections import Counter
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from tests.e2e.test_relay_e2e import LOCAL_TOKEN
from tests.e2e.test_twiml_e2e import stage_call, voice_params

pytestmark = pytest.mark.e2e
EXAMPLES = 120
STREAM, CLASSIC = "trk-fuzz-webhook-stream", "trk-fuzz-webhook-classic"
TWILIO_FIELDS = (
    "AccountSid",
    "CallSid",
    "CallStatus",
    "Direction",
    "From",
    "To",
    "Called",
    "Caller",
    "CallDuration",
    "SipResponseCode",
    "Digits",
    "SpeechResult",
    "Confidence",
    "ErrorCode",
    "ErrorMessage",
    "Timestamp",
    "SessionId",
    "SessionStatus",
    "SessionDuration",
    "HandoffData",
    "AnsweredBy",
    "FinishedOnKey",
)
ODD = (
    "",
    " ",
    "\x00",
    "²",
    "١٢",
    "１２",
    "0" * 39,
    "9" * 40,
    "-1",
    "+5",
    "4.2",
    "1e3",
    "NaN",
    " 42 ",
    "99999999999999999999",
    "completed",
    "in-progress",
    "ringing",
    "#",
    "*",
    "12#",
    "w",
    "{}",
    "[]",
    "null",
    '{"reason": "transfer"}',
    '{"reason": "transfer", "transferTo": "not a number"}',
    '{"reason": "transfer", "transferTo": "+12125550147"}',
    '{"reason": "end"}',
    "\ud7ff\ue000\U0010ffff",
    "係呀，冇問題",
)
# Past DynamoDB's 400 KB item (in ASCII), or long in characters that take 2-3 bytes each.
HUGE = st.one_of(
    st.sampled_from("9a").map(lambda char: char * 420_000),
    st.builds(lambda char, size: char * size, st.sampled_from("字²\u200b"), st.sampled_from((4_000, 40_000))),
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
).map(json.dumps)
VALUES = st.one_of(st.sampled_from(ODD), st.text(max_size=40), JSONISH, HUGE)
NAMES = st.one_of(st.sampled_from(TWILIO_FIELDS), st.text(min_size=1, max_size=12))


class _Form(dict):
    """name -> every value, as Twilio's RequestValidator reads a multi-valued form (getall)."""

    def getall(self, name: str) -> list[str]:
        return self[name]


def _signed(url: str, pairs: list[tuple[str, str]]) -> str:
    form = _Form()
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    return RequestValidator(LOCAL_TOKEN).compute_signature(url, form)


@st.composite
def requests_twilio_could_sign(draw):
    path, query = draw(
        st.sampled_from(
            (
                ("/api/twiml-optimized", {"trackingId": STREAM}),
                ("/api/twiml-optimized", {"trackingId": CLASSIC}),
                ("/api/twiml-optimized", {"trackingId": CLASSIC, "turn": "1"}),
                ("/api/twiml-optimized", {"trackingId": CLASSIC, "turn": "2", "silence": "1"}),
                ("/api/twiml-optimized", {"trackingId": "trk-fuzz-nobody"}),
                ("/api/twiml-optimized", {}),  # inbound: the called number's workflow, or none
                ("/api/call-status", {"trackingId": STREAM}),
                ("/api/call-status", {"trackingId": CLASSIC}),
                ("/api/call-status", {"trackingId": STREAM, "event": "connect-action"}),
                ("/api/call-status", {"trackingId": "trk-fuzz-nobody", "event": "connect-action"}),
            )
        )
    )
    query = dict(query)
    for name in draw(st.lists(st.sampled_from(("turn", "silence", "event", "trackingId", "x")), max_size=2)):
        query[name] = draw(st.one_of(st.sampled_from(ODD[:20]), st.text(max_size=10)))
    base = voice_params("CA" + draw(st.sampled_from("0123456789abcdef")) * 32)
    dropped = draw(st.sets(st.sampled_from(sorted(base)), max_size=1)) if draw(st.booleans()) else set()
    pairs = [(name, value) for name, value in base.items() if name not in dropped]
    extra = draw(st.lists(st.tuples(NAMES, VALUES), max_size=6))
    replace = {name for name, _ in extra if draw(st.integers(0, 3))}  # else (1 in 4) it is sent twice
    pairs = [(name, value) for name, value in pairs if name not in replace] + extra
    return path, query, draw(st.permutations(pairs))


@pytest.fixture(scope="module")
def staged(app_stack):
    stage_call(app_stack, STREAM, "stream")
    stage_call(app_stack, CLASSIC, "classic")
    return app_stack


def test_no_signed_form_gets_a_5xx(staged):
    statuses: Counter[int] = Counter()
    logged_before = len(staged.output)
    client = httpx.Client(timeout=30)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(request=requests_twilio_could_sign())
    def fuzz(request):
        path, query, pairs = request
        url = f"{staged.base_url}{path}" + (f"?{urlencode(query)}" if query else "")
        body = urlencode(pairs).encode("ascii")
        response = client.post(
            url,
            content=body,
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": _signed(url, pairs),
            },
        )
        statuses[response.status_code] += 1
        shown = (
            f"POST {url}\nform={json.dumps(pairs)[:3000]}\n-> {response.status_code} {response.text[:500]}"
        )
        assert response.status_code < 500, shown

    fuzz()
    failures = [line for line in staged.output[logged_before:] if "invocation failed" in line]
    assert not failures, "".join(failures)
    # The signatures were right: most requests were served or refused for their content, not as forged.
    assert statuses[200] + statuses[400] > statuses[403], statuses
