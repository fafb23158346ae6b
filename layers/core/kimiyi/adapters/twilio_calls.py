"""Placing outbound calls with Twilio's REST client, and turning its failures into three clear kinds.

- TwilioRejected: Twilio answered 4xx about this request (an invalid or unreachable number, a caller ID
  the account does not own...), with Twilio's own code and message;
- TwilioRateLimited: 429, with the Retry-After Twilio sent (or one second: the default pace is about
  one call per second per account);
- TwilioUnavailable: no answer, a 5xx, or Twilio refusing our credentials: not the caller's fault.

The transport is the `twilio` package's HttpClient; tests hand in a fake one (tests/fakes/twilio_http.py).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from requests import RequestException
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from ..inputs import JsonInputError, parse_json, whole_number

STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
# Twilio's error codes that mean "this number is wrong", answered as an invalid number.
INVALID_NUMBER_CODES = frozenset({21211, 21212, 21214, 21217, 21401, 21407})
# Lambda gives make-call 15 s; Twilio answers calls.create in well under a second when healthy. No
# retries: a request that timed out may still have placed the call.
HTTP_TIMEOUT_SECONDS = 6.0
DEFAULT_RETRY_AFTER_SECONDS = 1
MAX_RETRY_AFTER_SECONDS = 3600


@dataclass(frozen=True)
class DialRequest:
    to: str
    from_: str
    url: str  # the TwiML webhook Twilio fetches when the call is answered
    status_callback: str
    ring_timeout_seconds: int
    time_limit_seconds: int
    machine_detection: str | None = None  # "Enable" | "DetectMessageEnd"
    record: bool = False


@dataclass(frozen=True)
class PlacedCall:
    sid: str
    status: str


class TwilioCallError(Exception):
    """Twilio did not place the call. `message` is Twilio's own text (it may quote the numbers)."""

    def __init__(self, status: int | None, code: int | None, message: str) -> None:
        super().__init__(f"Twilio {status or 'unreachable'} ({code}): {message}")
        self.status = status
        self.code = code
        self.message = message


class TwilioRejected(TwilioCallError):
    def __init__(self, status: int, code: int | None, message: str, more_info: str = "") -> None:
        super().__init__(status, code, message)
        self.more_info = more_info

    @property
    def invalid_number(self) -> bool:
        return self.code in INVALID_NUMBER_CODES


class TwilioRateLimited(TwilioCallError):
    def __init__(self, retry_after_seconds: int, code: int | None, message: str) -> None:
        super().__init__(429, code, message)
        self.retry_after_seconds = retry_after_seconds


class TwilioUnavailable(TwilioCallError):
    """No answer (status None), a 5xx, or our credentials refused."""


class _LastResponse(HttpClient):
    """Wraps the transport and keeps the last response per thread: TwilioRestException drops the headers
    (Retry-After) and the body's more_info, which the caller should see."""

    def __init__(self, inner: HttpClient) -> None:
        super().__init__(inner.logger, is_async=False, timeout=inner.timeout)
        self.inner = inner
        self._local = threading.local()

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        self._local.response = None
        response = self.inner.request(method, url, *args, **kwargs)
        self._local.response = response
        return response

    @property
    def last(self) -> Response | None:
        return getattr(self._local, "response", None)


def default_http_client() -> HttpClient:
    return TwilioHttpClient(timeout=HTTP_TIMEOUT_SECONDS, max_retries=0)


class TwilioCalls:
    def __init__(self, account_sid: str, auth_token: str, http_client: HttpClient | None = None) -> None:
        self._http = _LastResponse(http_client or default_http_client())
        self._client = Client(account_sid, auth_token, http_client=self._http)

    def place(self, request: DialRequest) -> PlacedCall:
        options: dict[str, Any] = {
            "url": request.url,
            "method": "POST",
            "status_callback": request.status_callback,
            "status_callback_event": list(STATUS_EVENTS),
            "status_callback_method": "POST",
            "timeout": request.ring_timeout_seconds,
            "time_limit": request.time_limit_seconds,
        }
        if request.machine_detection:
            options["machine_detection"] = request.machine_detection
        if request.record:
            options["record"] = True
        try:
            call = self._client.calls.create(to=request.to, from_=request.from_, **options)
        except (TwilioRestException, TwilioServiceException) as error:
            raise self._classify(error) from None
        except RequestException as error:  # refused, reset, DNS, timed out
            raise TwilioUnavailable(None, None, f"could not be reached ({type(error).__name__})") from None
        except TwilioException as error:
            raise TwilioUnavailable(
                None, None, f"answer could not be read ({type(error).__name__})"
            ) from None
        return PlacedCall(sid=call.sid or "", status=call.status or "queued")

    def _classify(self, error: TwilioRestException | TwilioServiceException) -> TwilioCallError:
        status = int(error.status)
        payload = _json(self._http.last)
        code = payload.get("code", getattr(error, "code", None))
        code = code if isinstance(code, int) else None
        message = str(payload.get("message") or payload.get("detail") or _plain(error))
        if status == 429:
            return TwilioRateLimited(_retry_after(self._http.last), code, message)
        if status >= 500 or status in (401, 403, 404):
            # 401/403/404 mean our account SID or token is wrong: the caller cannot fix that.
            return TwilioUnavailable(status, code, message)
        return TwilioRejected(status, code, message, str(payload.get("more_info") or ""))


MAX_ERROR_BODY_CHARS = 64 * 1024  # Twilio's error bodies are a few hundred bytes


def _json(response: Response | None) -> Mapping[str, Any]:
    """Twilio's error body, read like any JSON from outside (kimiyi.inputs.parse_json); {} if unusable."""
    if response is None or not isinstance(response.text, str):
        return {}
    try:
        payload = parse_json(response.text, max_size=MAX_ERROR_BODY_CHARS, what="Twilio's answer")
    except JsonInputError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _plain(error: TwilioRestException | TwilioServiceException) -> str:
    return str(getattr(error, "msg", "") or getattr(error, "detail", "") or getattr(error, "title", ""))


def _retry_after(response: Response | None) -> int:
    """Retry-After in whole seconds (ASCII digits, at most an hour); an HTTP date, a fraction, a negative
    or garbage gives the safe default."""
    headers = {str(k).lower(): v for k, v in dict(response.headers or {}).items()} if response else {}
    seconds = whole_number(str(headers.get("retry-after", "")), high=MAX_RETRY_AFTER_SECONDS)
    return max(DEFAULT_RETRY_AFTER_SECONDS, seconds or 0)
