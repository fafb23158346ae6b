"""A fake Twilio REST API at the `twilio` package's HTTP layer.

`FakeTwilioHttp` is an `twilio.http.HttpClient`: hand it to `twilio.rest.Client(..., http_client=...)` and
the real client builds, signs and parses requests as usual, while this answers them as Twilio's REST API
would (201 with a call resource, Twilio's JSON errors) and records what was sent. It can be told to
answer the next request with an invalid number (21211), a rate limit (429 with Retry-After), a server
error, or to fail the connection as `requests` does.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from requests.exceptions import ConnectionError as RequestsConnectionError
from twilio.http import HttpClient
from twilio.http.response import Response

CALLS_URL = re.compile(r"^https://api\.twilio\.com/2010-04-01/Accounts/(?P<sid>AC\w+)/Calls\.json$")
JSON = {"Content-Type": "application/json"}


@dataclass
class RecordedRequest:
    method: str
    url: str
    params: dict[str, Any] | None
    data: dict[str, Any]
    headers: dict[str, str]
    auth: tuple[str, str] | None
    timeout: float | None


@dataclass(eq=False)  # compared and hashed by identity, as the real client is
class FakeTwilioHttp(HttpClient):
    account_sid: str = "AC" + "0" * 32
    auth_token: str = "test-auth-token"
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(logging.getLogger("fake-twilio"), is_async=False)
        self._scripted: deque[Callable[[RecordedRequest], Response]] = deque()
        self._sids = (f"CA{n:032x}" for n in itertools.count(1))

    # ------------------------------------------------------------------ telling it what to answer
    def answer_invalid_number(self, code: int = 21211, message: str | None = None) -> None:
        def invalid(request: RecordedRequest) -> Response:
            text = message or f"The 'To' number {request.data.get('To')} is not a valid phone number."
            return _error(400, code, text)

        self._scripted.append(invalid)

    def answer_rate_limited(self, retry_after: str | None = "3") -> None:
        headers = {**JSON, "Retry-After": retry_after} if retry_after is not None else JSON
        self._scripted.append(lambda _: _error(429, 20429, "Too Many Requests", headers))

    def answer_server_error(self, status: int = 503) -> None:
        self.answer_error(status, 20500, "Service Unavailable")

    def answer_error(self, status: int, code: int, message: str) -> None:
        """Any other Twilio error, e.g. 400 / 21215 (geographic permission)."""
        self._scripted.append(lambda _: _error(status, code, message))

    def fail_connection(self) -> None:
        def refuse(request: RecordedRequest) -> Response:
            raise RequestsConnectionError(f"Failed to establish a new connection to {request.url}")

        self._scripted.append(refuse)

    # ------------------------------------------------------------------ what the tests read
    @property
    def calls_created(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and CALLS_URL.match(r.url)]

    # ------------------------------------------------------------------ the HttpClient interface
    def request(
        self,
        method: str,
        url: str,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        recorded = RecordedRequest(
            method.upper(), url, params, dict(data or {}), dict(headers or {}), auth, timeout
        )
        self.requests.append(recorded)
        if self._scripted:
            return self._scripted.popleft()(recorded)
        found = CALLS_URL.match(url)
        if recorded.method != "POST" or not found:
            return _error(404, 20404, f"The requested resource {url} was not found")
        if auth != (self.account_sid, self.auth_token) or found["sid"] != self.account_sid:
            return _error(401, 20003, "Authenticate")
        for required in ("To", "From"):
            if not recorded.data.get(required):
                return _error(
                    400, 21201 if required == "To" else 21603, f"No '{required}' number is specified"
                )
        if not recorded.data.get("Url") and not recorded.data.get("Twiml"):
            return _error(400, 21205, "Url parameter is required.")
        return Response(201, json.dumps(self._call(recorded)), JSON)

    def _call(self, request: RecordedRequest) -> dict[str, Any]:
        sid = next(self._sids)
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": request.data["To"],
            "to_formatted": request.data["To"],
            "from": request.data["From"],
            "from_formatted": request.data["From"],
            "status": "queued",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": None,
            "price_unit": "USD",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{sid}.json",
            "subresource_uris": {},
        }


def _error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return Response(status, json.dumps(body), headers or JSON)
