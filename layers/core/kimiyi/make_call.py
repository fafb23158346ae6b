"""make-call: check the request, guard the destination, stage the session, dial (once per key).

Order matters: everything that can be refused is refused before anything is written; the session is
stored before dialing (Twilio may fetch the TwiML webhook as soon as the call is created); a failed
dial removes the session again, so a session exists only for a placed call or a dry run. No FastAPI
here: the handler turns ApiError and Reply into HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

from .adapters.idempotency import KeyInProgress, KeyReused, StoreUnavailable
from .adapters.twilio_calls import (
    DialRequest,
    PlacedCall,
    TwilioCallError,
    TwilioRateLimited,
    TwilioRejected,
)
from .api_errors import ApiError, FieldProblem
from .make_call_request import CallRequest, check_idempotency_key, parse_call_request
from .observability import Log, mask_phone, mask_phones_in
from .phone_numbers import CountryAllowList
from .staging import Session, stage
from .targets import TARGETS

TWIML_PATH = "/api/twiml-optimized"
STATUS_PATH = "/api/call-status"
# Twilio error codes about the caller ID rather than the destination.
_FROM_CODES = {21210, 21212}


class Sessions(Protocol):
    def put(self, tracking_id: str, session: dict[str, Any]) -> None: ...
    def record_dial(self, tracking_id: str, call_sid: str, status: str) -> None: ...
    def discard(self, tracking_id: str) -> None: ...


class Dialer(Protocol):
    def place(self, request: DialRequest) -> PlacedCall: ...


class Runner(Protocol):
    def run(
        self, key: list[str], body: dict[str, Any], action: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class CallSettings:
    """What the deployment decides, read per request (environment and secrets)."""

    allowed_country_codes: str
    public_base_url: str
    default_from: str = ""


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def public_base_url(configured: str, domain_name: str) -> str:
    """PUBLIC_BASE_URL when set (a custom domain: Twilio signs the URL it calls), else the API's own."""
    base = configured.strip() or (f"https://{domain_name}" if domain_name else "")
    return base.rstrip("/")


class MakeCall:
    def __init__(
        self,
        sessions: Sessions,
        dialer: Callable[[], Dialer | None],  # None when Twilio is not configured
        once: Runner | None,
        logger: Log,
    ) -> None:
        self._sessions = sessions
        self._dialer = dialer
        self._once = once
        self._log = logger

    def __call__(
        self, raw_body: bytes, settings: CallSettings, *, idempotency_key: str | None, tenant_id: str
    ) -> Reply:
        request = parse_call_request(raw_body, default_from=settings.default_from)
        key = check_idempotency_key(idempotency_key)
        _guard_destination(request.to, settings.allowed_country_codes)
        dialer = None if request.dry_run else self._dialer()
        if not request.dry_run and dialer is None:
            raise ApiError(
                503,
                "twilio_not_configured",
                "Twilio is not configured: set TWILIO_ACCOUNT_SID and the twilio-auth-token secret, "
                "or send dryRun: true to stage the call without dialing",
            )
        if not settings.public_base_url:
            raise ApiError(503, "not_configured", "no public base URL: set PUBLIC_BASE_URL")

        def action() -> dict[str, Any]:
            return self._stage_and_dial(request, dialer, settings.public_base_url, tenant_id)

        if key is None or self._once is None:
            outcome = action()
        else:
            # A key is the tenant's: another tenant's identical key is another request.
            outcome = self._run_once([tenant_id, key], request, action)
        headers = {"Idempotency-Replayed": "true"} if outcome.get("replayed") else {}
        return Reply(outcome["status"], outcome["body"], headers)

    def _run_once(
        self, key: list[str], request: CallRequest, action: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        assert self._once is not None
        try:
            return self._once.run(key, request.body, action)
        except KeyReused:
            raise ApiError(
                422,
                "idempotency_key_reused",
                "this Idempotency-Key was already used with a different body; use a new key for a new call",
                [FieldProblem("headers.Idempotency-Key", "was used before with a different request body")],
            ) from None
        except KeyInProgress:
            raise ApiError(
                409,
                "idempotency_key_in_progress",
                "a request with this Idempotency-Key is still being processed; retry shortly",
                headers={"Retry-After": "1"},
            ) from None
        except StoreUnavailable:
            self._log.exception("idempotency table unavailable; nothing was dialed")
            raise ApiError(
                503,
                "idempotency_unavailable",
                "the idempotency store could not be reached; nothing was dialed, retry with the same key",
                headers={"Retry-After": "1"},
            ) from None

    def _stage_and_dial(
        self, request: CallRequest, dialer: Dialer | None, base_url: str, tenant_id: str
    ) -> dict[str, Any]:
        session = stage(
            request.workflow,
            variables=request.variables,
            mode=request.mode,
            to=request.to,
            from_=request.from_,
            workflow_id=request.workflow_id,
            tenant_id=tenant_id,
        )
        tracking_id = session.tracking_id
        twiml_url = f"{base_url}{TWIML_PATH}?trackingId={quote(tracking_id)}"
        self._sessions.put(tracking_id, session.to_record())
        log = {
            "trackingId": tracking_id,
            "to": mask_phone(request.to),
            "from": mask_phone(request.from_),
            "mode": request.mode,
            "dryRun": request.dry_run,
        }
        body: dict[str, Any] = {"success": True, "trackingId": tracking_id}
        if request.dry_run or dialer is None:
            self._log.info("call staged (dry run)", extra=log)
            body |= {"dryRun": True, "twimlUrl": twiml_url, "mode": request.mode}
            return {"status": 201, "body": _with_optimization(body, session, request)}

        try:
            placed = dialer.place(_dial_request(request, session, twiml_url, base_url))
        except TwilioCallError as error:
            self._discard(tracking_id)
            failure = {"error": type(error).__name__, "twilioStatus": error.status, "twilioCode": error.code}
            self._log.warning(
                "dial failed", extra={**log, **failure, "detail": mask_phones_in(error.message)}
            )
            raise _twilio_error(error) from None
        try:
            self._sessions.record_dial(tracking_id, placed.sid, placed.status)
        except Exception:  # the call is placed: never fail the request now, a retry would dial again
            self._log.exception("could not store the callSid", extra={**log, "callSid": placed.sid})
        self._log.info("call placed", extra={**log, "callSid": placed.sid, "status": placed.status})
        body |= {"callSid": placed.sid, "status": placed.status, "mode": request.mode, "twimlUrl": twiml_url}
        return {"status": 201, "body": _with_optimization(body, session, request)}

    def _discard(self, tracking_id: str) -> None:
        try:
            self._sessions.discard(tracking_id)
        except Exception:  # the item still expires with its TTL; the dial error is what the caller needs
            self._log.exception("could not remove the staged session", extra={"trackingId": tracking_id})


def _guard_destination(to: str, allowed_country_codes: str) -> None:
    try:
        allow_list = CountryAllowList.parse(allowed_country_codes)
    except ValueError as error:
        raise ApiError(503, "not_configured", f"the country allow-list is misconfigured: {error}") from None
    verdict = allow_list.check(to)
    if not verdict.allowed:
        raise ApiError(
            403,
            "destination_not_allowed",
            f"calls to {mask_phone(to)} are not allowed: {verdict.reason}",
            [FieldProblem("to", f"destination not allowed: {verdict.reason}")],
        )


def _dial_request(request: CallRequest, session: Session, twiml_url: str, base_url: str) -> DialRequest:
    config = request.workflow.config
    return DialRequest(
        to=request.to,
        from_=request.from_,
        url=twiml_url,
        status_callback=f"{base_url}{STATUS_PATH}?trackingId={quote(session.tracking_id)}",
        ring_timeout_seconds=config.ring_timeout_seconds,
        time_limit_seconds=config.max_call_seconds,
        machine_detection=None if config.machine_detection == "off" else config.machine_detection,
        record=config.record_call,
    )


def _twilio_error(error: TwilioCallError) -> ApiError:
    if isinstance(error, TwilioRateLimited):
        return ApiError(
            429,
            "rate_limited",
            f"Twilio is rate limiting calls; retry after {error.retry_after_seconds} s",
            headers={"Retry-After": str(error.retry_after_seconds)},
            extra={"twilio": {"code": error.code, "message": error.message}},
        )
    if isinstance(error, TwilioRejected):
        twilio = {"code": error.code, "message": error.message, "moreInfo": error.more_info}
        if error.invalid_number:
            path = "from" if error.code in _FROM_CODES else "to"
            return ApiError(
                400,
                "invalid_number",
                f"Twilio refused the number: {error.message}",
                [FieldProblem(path, error.message)],
                extra={"twilio": twilio},
            )
        return ApiError(
            400, "twilio_rejected", f"Twilio refused the call: {error.message}", extra={"twilio": twilio}
        )
    answered = f"answered {error.status} ({error.code}): " if error.status else ""
    return ApiError(
        502,
        "twilio_unavailable",
        f"Twilio could not place the call: {answered}{error.message}",
        extra={"twilio": {"status": error.status, "code": error.code, "message": error.message}},
    )


def _with_optimization(body: dict[str, Any], session: Session, request: CallRequest) -> dict[str, Any]:
    body["optimization"] = {"expectedLatency": expected_latency(), "features": features(request)}
    if request.warnings:
        body["warnings"] = [w.to_dict() for w in request.warnings]
    return body


def expected_latency() -> dict[str, Any]:
    """Server-side targets (kimiyi.targets), as promised figures; measured ones are in performance-metrics."""
    return {
        "turnP50Ms": TARGETS["turnLatencyMs"]["p50"],
        "turnP90Ms": TARGETS["turnLatencyMs"]["p90"],
        "cacheHitTurnMs": TARGETS["cacheHitTurnMs"]["p99"],
        "failoverRecoveryMs": TARGETS["failoverRecoveryMs"]["max"],
        "greetingLlmMs": 0,  # pre-rendered at staging, spoken by Twilio with no LLM call
    }


def features(request: CallRequest) -> list[str]:
    config = request.workflow.config
    found = ["pre-rendered-greeting", "deterministic-edges", "llm-failover"]
    if request.mode == "stream":
        found[:0] = ["conversation-relay-streaming", "clause-streaming"]
        if config.interruptible != "none":
            found.append("barge-in")
    else:
        found.insert(0, "gather-turns")
    if config.cache_responses and request.mode == "stream":  # classic <Gather> turns do not use the cache
        found.append("predictive-cache")
    if len(config.all_languages) > 1:
        found.append("language-switching")
    if config.machine_detection != "off":
        found.append("answering-machine-detection")
    if config.record_call:
        found.append("call-recording")
    return found
