"""CORS as an HTTP API with a CorsConfiguration does it, for the local stack.

API Gateway answers a preflight itself (OPTIONS with Origin and Access-Control-Request-Method), before
any route, authorizer or function, even with no OPTIONS route: 204 with the configured headers when the
origin is allowed, without them when it is not. To other requests carrying an Origin it adds
Access-Control-Allow-Origin and -Expose-Headers to the integration's response, ignoring any CORS
headers the integration set. (docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class ResponseHeaders(Protocol):
    """What decorate needs of a response's headers: a dict, or starlette's MutableHeaders."""

    def __iter__(self) -> Iterator[str]: ...

    def __setitem__(self, name: str, value: str, /) -> None: ...

    def __delitem__(self, name: str, /) -> None: ...


@dataclass(frozen=True)
class CorsSpec:
    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    @classmethod
    def from_template(cls, value: Any) -> CorsSpec | None:
        """A resolved `CorsConfiguration` (SAM's HttpApi property); `true` allows every origin."""
        if value is True:
            return cls(allow_origins=("*",), allow_methods=("*",), allow_headers=("*",))
        if not isinstance(value, Mapping):
            return None
        max_age = value.get("MaxAge")
        return cls(
            allow_origins=_names(value.get("AllowOrigins")),
            allow_methods=tuple(method.upper() for method in _names(value.get("AllowMethods"))),
            allow_headers=tuple(name.lower() for name in _names(value.get("AllowHeaders"))),
            expose_headers=tuple(name.lower() for name in _names(value.get("ExposeHeaders"))),
            max_age=None if max_age in (None, "") else int(max_age),
            allow_credentials=str(value.get("AllowCredentials", "false")).lower() == "true",
        )

    def allowed_origin(self, origin: str | None) -> str | None:
        """The Access-Control-Allow-Origin value for `origin`, None when it is not allowed."""
        if not origin:
            return None
        if "*" in self.allow_origins:
            return origin if self.allow_credentials else "*"
        return origin if origin in self.allow_origins else None

    def preflight(self, headers: Mapping[str, str]) -> dict[str, str] | None:
        """The headers of the 204 answering a preflight; None when the request is not one (then it is
        routed like any other request). `headers` are the request's, names in lower case."""
        origin = headers.get("origin")
        if not origin or not headers.get("access-control-request-method"):
            return None
        allowed = self.allowed_origin(origin)
        if allowed is None:
            return {}
        answer = {"access-control-allow-origin": allowed}
        if self.allow_methods:
            answer["access-control-allow-methods"] = ",".join(self.allow_methods)
        if self.allow_headers:
            answer["access-control-allow-headers"] = ",".join(self.allow_headers)
        if self.max_age is not None:
            answer["access-control-max-age"] = str(self.max_age)
        if self.allow_credentials:
            answer["access-control-allow-credentials"] = "true"
        if allowed != "*":
            answer["vary"] = "origin"
        return answer

    def decorate(self, response_headers: ResponseHeaders, origin: str | None) -> None:
        """Replaces the integration's CORS headers with the configured ones for `origin`."""
        for name in [name for name in response_headers if name.lower().startswith("access-control-")]:
            del response_headers[name]
        allowed = self.allowed_origin(origin)
        if allowed is None:
            return
        response_headers["access-control-allow-origin"] = allowed
        if self.expose_headers:
            response_headers["access-control-expose-headers"] = ",".join(self.expose_headers)
        if self.allow_credentials:
            response_headers["access-control-allow-credentials"] = "true"


def _names(value: Any) -> tuple[str, ...]:
    """A list, or a comma-separated string (a CommaDelimitedList parameter resolves to one)."""
    if value is None:
        return ()
    items = value if isinstance(value, list) else str(value).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())
