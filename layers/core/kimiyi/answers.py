"""How the control-plane functions answer, in one place: JSON bodies, and the API's one error body for an
ApiError, a path no route serves (404, naming what the function does serve) and anything unexpected (500,
logged, saying nothing more). Each function's Powertools resolver gets these with `answer_errors`.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types

from .api_errors import ApiError
from .observability import Log


def json_response(status: int, body: dict, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers=dict(headers or {}),
    )


def error_response(error: ApiError, headers: Mapping[str, str] | None = None) -> Response:
    return json_response(error.status, error.body(), {**error.headers, **(headers or {})})


def answer_errors(
    app: APIGatewayHttpResolver, log: Log, *, serves: str, headers: Mapping[str, str] | None = None
) -> None:
    """Registers the three error answers on `app`; `serves` names its routes ("POST /api/…"), `headers`
    go on every error answer (e.g. Cache-Control)."""

    @app.exception_handler(ApiError)
    def api_error(error: ApiError) -> Response:
        if error.status >= 500:
            log.warning("unavailable", extra={"error": error.code})
        return error_response(error, headers)

    @app.not_found
    def not_found(_: Exception) -> Response:
        event = app.current_event
        message = f"no route {event.http_method} {event.path}; this function serves {serves}"
        return error_response(ApiError(404, "not_found", message), headers)

    @app.exception_handler(Exception)
    def internal_error(_: Exception) -> Response:
        log.exception("the request failed")
        return error_response(ApiError(500, "internal_error", "internal error"), headers)
