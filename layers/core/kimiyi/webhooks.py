"""Twilio's webhooks on the HTTP API: the signed form body in, TwiML out (the call records they keep are
kimiyi.adapters.call_records).

Twilio signs the exact public URL it called plus every POST parameter. An HTTP API event carries the
form base64-encoded and the path without any custom-domain mapping, so the URL is rebuilt from the
configured public base URL (PUBLIC_BASE_URL) + rawPath + rawQueryString; only without one does it fall
back to https://<requestContext.domainName>.

Order of checks, shared by both endpoints: an unreadable body is a 400 (there is nothing to check a
signature over); then the signature (403 with an empty body, saying nothing else); then the fields.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode

from twilio.twiml.voice_response import VoiceResponse

from .inputs import JsonInputError, is_text, parse_json, printable, whole_number
from .observability import KeyedLog, Log, mask_phone
from .twilio_signature import header, webhook_is_valid

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 200  # Twilio's voice webhooks send about 30


class BadRequest(ValueError):
    """The request cannot be served as sent; the message names what is wrong."""


@dataclass(frozen=True)
class TwilioRequest:
    url: str  # the public URL Twilio called: what it signed
    base_url: str  # the public base URL, plus any stage prefix of rawPath: for URLs handed to Twilio
    query: Mapping[str, str]
    form: Mapping[str, str]
    signature: str | None

    def required(self, name: str) -> str:
        value = self.form.get(name, "").strip()
        if not value:
            raise BadRequest(f"{name} is missing from the form body")
        return value

    def url_for(self, path: str, **query: str | int) -> str:
        """A public URL on this API; query values in a fixed order, so Twilio signs what we rebuild."""
        return f"{self.base_url}{path}?{urlencode(query)}" if query else f"{self.base_url}{path}"


def public_base_url(configured: str, event: Mapping[str, Any]) -> str:
    if configured.strip():
        return configured.strip().rstrip("/")
    domain = (event.get("requestContext") or {}).get("domainName")
    if not domain:
        raise BadRequest("PUBLIC_BASE_URL is not set and the event has no requestContext.domainName")
    return f"https://{domain}"


def read_request(event: Mapping[str, Any], configured_base_url: str) -> TwilioRequest:
    """Parses an HTTP API v2 event carrying a Twilio form post; BadRequest names what is malformed."""
    content_type = (header(event.get("headers"), "content-type") or "").split(";")[0].strip().lower()
    if content_type and content_type != FORM_CONTENT_TYPE:
        raise BadRequest(f"the body must be {FORM_CONTENT_TYPE}, not {content_type}")
    base = public_base_url(configured_base_url, event)
    raw_path = event.get("rawPath") or ""
    raw_query = event.get("rawQueryString") or ""
    # A named stage shows in rawPath ("/dev/api/…"): the URLs we hand out need it too.
    route_path = str(event.get("routeKey") or "").partition(" ")[2]
    prefix = raw_path[: -len(route_path)] if route_path and raw_path.endswith(route_path) else ""
    return TwilioRequest(
        url=f"{base}{raw_path}" + (f"?{raw_query}" if raw_query else ""),
        base_url=base + prefix,
        query=_form(raw_query, "the query string"),
        form=_form(_body_text(event), "the body"),
        signature=header(event.get("headers"), "X-Twilio-Signature"),
    )


def _body_text(event: Mapping[str, Any]) -> str:
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise BadRequest("the body must be a string")
    if not event.get("isBase64Encoded"):
        return body
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise BadRequest("the body is marked base64-encoded but is not valid base64 of UTF-8 text") from None


def _form(text: str, where: str) -> dict[str, str]:
    if not is_text(text):  # only a hand-made event holds a lone surrogate: it is no UTF-8 a client sent
        raise BadRequest(f"{where} is not Unicode text (it holds a lone surrogate)")
    return _pairs(text, where)


def _pairs(text: str, where: str) -> dict[str, str]:
    """name=value pairs, each name once. Twilio never sends an empty name or a name twice, and the
    signature cannot tell them apart from the form it signed: an empty name with an empty value adds
    nothing to what is signed, and dict() would keep the last of two values, so a forger could put
    another one first. Such a form is a 400, before anything else."""
    try:
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=True, errors="strict", max_num_fields=MAX_FORM_FIELDS
        )
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(f"{where} is not form-encoded (name=value&…): {error}") from None
    form = dict(pairs)
    if "" in form:
        raise BadRequest(f"{where} is not a form Twilio sends: a field has no name")
    if len(form) != len(pairs):
        repeated = sorted({name for name, _ in pairs if sum(1 for other, _ in pairs if other == name) > 1})
        raise BadRequest(
            f"{where} is not a form Twilio sends: {', '.join(repeated)[:200]} given more than once"
        )
    return form


def is_signed(request: TwilioRequest, auth_token: str) -> bool:
    return webhook_is_valid(auth_token, request.url, request.form, request.signature)


def signature_refusal(
    request: TwilioRequest, auth_token: Callable[[], str], logger: Log
) -> dict[str, Any] | None:
    """None for a validly signed request, else the response to give: 403, or 503 when the auth token
    cannot be read (nothing can be verified, so nothing is served)."""
    try:
        token = auth_token()
    except Exception:
        logger.exception("could not read the Twilio auth token")
        return {"statusCode": 503, "body": ""}
    if is_signed(request, token):
        return None
    logger.warning("refused a request without a valid Twilio signature")
    return forbidden()


# ---------------------------------------------------------------------------------------------- responses
TWIML_CONTENT_TYPE = "text/xml; charset=utf-8"


def xml(twiml: str) -> dict[str, Any]:
    """Every TwiML answer (voice webhook, classic turns, status and <Connect action> callbacks). The
    charset is declared: without it HTTP's default for text/* is ISO-8859-1, and a client that follows it
    reads UTF-8 greetings and hints as mojibake."""
    return {"statusCode": 200, "headers": {"content-type": TWIML_CONTENT_TYPE}, "body": twiml}


def forbidden() -> dict[str, Any]:
    """A failed signature: nothing about the call, not even whether it exists."""
    return {"statusCode": 403, "body": ""}


def bad_request(message: str) -> dict[str, Any]:
    return {
        "statusCode": 400,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"message": message}),
    }


# ---------------------------------------------------------------------------------------------- records
# Call statuses in the order a call moves through them; a callback never moves a call backwards.
STATUS_RANK = {
    "queued": 0,
    "initiated": 1,
    "ringing": 2,
    "in-progress": 3,
    "answered": 3,
    "completed": 4,
    "busy": 4,
    "no-answer": 4,
    "canceled": 4,
    "failed": 4,
}


def inbound_tracking_id(call_sid: str) -> str:
    """An inbound call's trackingId, derived from its CallSid: a retried webhook stages nothing twice, and
    callbacks configured on the number (without a trackingId) still find the call."""
    return f"trk_in_{call_sid}"


# ---------------------------------------------------------------------------------------------- call-status
CONNECT_ACTION = "connect-action"  # ?event=… on the <Connect action> URL; status callbacks carry none
E164 = re.compile(r"\+[1-9]\d{6,14}")
# Twilio's form fields -> STATUS attributes (numbers where Twilio sends numbers).
_STATUS_FIELDS = {
    "CallDuration": "duration",
    "ErrorCode": "errorCode",
    "ErrorMessage": "errorMessage",
    "SipResponseCode": "sipResponseCode",
    "Timestamp": "twilioTimestamp",
}
_SESSION_FIELDS = {
    "SessionId": "sessionId",
    "SessionStatus": "sessionStatus",
    "SessionDuration": "sessionDuration",
    "HandoffData": "handoffData",
    "ErrorCode": "errorCode",
    "ErrorMessage": "errorMessage",
}
MAX_CALL_SECONDS = 7 * 24 * 3600  # a week: past any call Twilio lets last, far within DynamoDB's 38 digits
# Attributes stored as numbers, with their bounds; a value that is not a whole number of ASCII digits
# within them (kimiyi.inputs.whole_number) is left out of the record and logged, the rest still applies.
_NUMERIC = {
    "duration": (0, MAX_CALL_SECONDS),
    "sessionDuration": (0, MAX_CALL_SECONDS),
    "sipResponseCode": (100, 699),
}


def _pick(form: Mapping[str, str], names: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The form's fields as record attributes, and the names of numeric fields left out as unreadable."""
    picked: dict[str, Any] = {}
    refused: list[str] = []
    for field, attribute in names.items():
        value = form.get(field, "")
        if attribute in _NUMERIC:
            if value == "":
                continue
            low, high = _NUMERIC[attribute]
            number = whole_number(value, low=low, high=high)
            if number is None:
                refused.append(field)
            else:
                picked[attribute] = number
        elif value.strip():
            picked[attribute] = value.strip()
    return picked, refused


MAX_HANDOFF_CHARS = 32 * 1024  # the `end` frame it came in is at most 32 KB


def handoff_data(raw: str) -> dict[str, Any]:
    """HandoffData is the relay's `end` message payload, a JSON string; anything else (not JSON, not an
    object, too deep, not Unicode: kimiyi.inputs) means no handoff."""
    try:
        data = parse_json(raw, max_size=MAX_HANDOFF_CHARS, what="HandoffData") if raw else {}
    except JsonInputError:
        return {}
    return data if isinstance(data, dict) else {}


class StatusRecords(Protocol):
    """Where a call's STATUS is kept (kimiyi.adapters.call_records.CallRecords)."""

    def record_status(self, tracking_id: str, status: str, fields: Mapping[str, Any]) -> bool: ...

    def record_fields(self, tracking_id: str, fields: Mapping[str, Any]) -> None: ...


class Sessions(Protocol):
    def get_session(self, tracking_id: str) -> dict[str, Any] | None: ...


class CallStatusWebhook:
    """POST /api/call-status?trackingId=…: Twilio's status callbacks and the <Connect action> callback.

    Status callbacks move the STATUS record forward (never backwards) and answer an empty <Response/>.
    The <Connect action> callback records how the ConversationRelay session ended and answers the TwiML
    that runs next: <Dial> for a transfer handoff; a <Redirect> to the classic <Gather> path when the
    session failed (the call goes on without the WebSocket); else <Hangup/>.
    """

    def __init__(
        self,
        *,
        store: Sessions,
        records: StatusRecords,
        auth_token: Callable[[], str],
        public_base_url: str,
        logger: KeyedLog,
    ) -> None:
        self.store = store
        self.records = records
        self.auth_token = auth_token
        self.public_base_url = public_base_url
        self.log = logger

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        try:
            request = read_request(event, self.public_base_url)
        except BadRequest as error:
            self.log.warning("refused a malformed callback", extra={"problem": str(error)})
            return bad_request(str(error))
        refusal = signature_refusal(request, self.auth_token, self.log)
        if refusal is not None:
            return refusal
        try:
            return xml(self._serve(request))
        except BadRequest as error:
            self.log.warning("refused a signed callback", extra={"problem": str(error)})
            return bad_request(str(error))
        except Exception:
            self.log.exception("the call-status callback failed")
            if request.query.get("event") != CONNECT_ACTION:
                raise  # a status Twilio could not deliver is logged on both sides; nobody waits for it
            # The caller is waiting on this answer: the signed handoff alone decides it.
            return xml(self._next_twiml(request, request.query.get("trackingId", "")))

    def _serve(self, request: TwilioRequest) -> str:
        call_sid = request.required("CallSid")
        tracking_id = request.query.get("trackingId") or inbound_tracking_id(call_sid)
        if self.store.get_session(tracking_id) is None:
            raise BadRequest(f"no call is staged under trackingId {tracking_id!r} (unknown or expired)")
        self.log.append_keys(trackingId=tracking_id, callSid=call_sid)
        if request.query.get("event") == CONNECT_ACTION:
            return self._session_ended(request, tracking_id, call_sid)
        self._status_changed(request, tracking_id, call_sid)
        return VoiceResponse().to_xml()

    def _status_changed(self, request: TwilioRequest, tracking_id: str, call_sid: str) -> None:
        status = request.form.get("CallStatus", "").strip()
        answered_by = request.form.get("AnsweredBy", "").strip()
        if not status and not answered_by:
            raise BadRequest("CallStatus is missing from the form body")
        if status and status not in STATUS_RANK:
            raise BadRequest(f"unknown CallStatus {status!r}; expected one of {', '.join(STATUS_RANK)}")
        if answered_by:  # answering-machine detection may report after later statuses
            self.records.record_fields(tracking_id, {"answeredBy": answered_by, "callSid": call_sid})
        if status:
            picked, refused = _pick(request.form, _STATUS_FIELDS)
            self._refused(refused, request.form)
            fields = {**picked, "callSid": call_sid}
            applied = self.records.record_status(tracking_id, status, fields)
            self.log.info("call status", extra={"status": status, "applied": applied})

    def _refused(self, fields: list[str], form: Mapping[str, str]) -> None:
        if fields:
            self.log.warning(
                "left out numbers that are not whole numbers within bounds",
                extra={"fields": {name: printable(form[name][:64]) for name in fields}},
            )

    def _session_ended(self, request: TwilioRequest, tracking_id: str, call_sid: str) -> str:
        fields, refused = _pick(request.form, _SESSION_FIELDS)
        self._refused(refused, request.form)
        self.records.record_fields(
            tracking_id, {**fields, "callSid": call_sid, "sessionEndedAt": int(time.time() * 1000)}
        )
        self.log.info("ConversationRelay session ended", extra={"sessionStatus": fields.get("sessionStatus")})
        return self._next_twiml(request, tracking_id)

    def _next_twiml(self, request: TwilioRequest, tracking_id: str) -> str:
        """What runs after the ConversationRelay session: a transfer, the classic fallback, or the end."""
        handoff = handoff_data(request.form.get("HandoffData", ""))
        response = VoiceResponse()
        target = handoff.get("transferTo") if handoff.get("reason") == "transfer" else None
        if isinstance(target, str) and E164.fullmatch(target):
            response.dial(target)
        elif target:
            self.log.error(
                "refused to dial a transfer target that is not E.164", extra={"to": mask_phone(str(target))}
            )
            response.hangup()
        elif request.form.get("SessionStatus") == "failed" and tracking_id:
            self.log.warning("ConversationRelay failed; the call goes on in classic mode")
            response.redirect(
                request.url_for("/api/twiml-optimized", trackingId=tracking_id, mode="classic"), method="POST"
            )
        else:
            response.hangup()
        return response.to_xml()
