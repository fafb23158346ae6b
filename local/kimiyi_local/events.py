"""API Gateway events as AWS delivers them: HTTP API payload v2.0 and WebSocket proxy events."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from .template import ACCOUNT_ID

LOCAL_API_ID = "localapi01"
# HTTP API passes these content types through as text; every other body arrives base64-encoded
# (form posts from Twilio among them), and so does a text-typed body that is not UTF-8.
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")


def _request_time(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


def _join_duplicates(pairs: Iterable[tuple[str, str]], lower: bool) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower() if lower else name
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


def http_event(
    *,
    method: str,
    path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    route_key: str,
    path_parameters: dict[str, str],
    domain_name: str,
    source_ip: str,
) -> dict:
    """An HTTP API payload format 2.0 event for the $default stage."""
    now = time.time()
    header_map = _join_duplicates((h for h in headers if h[0].lower() != "cookie"), lower=True)
    cookies = [c.strip() for n, v in headers if n.lower() == "cookie" for c in v.split(";") if c.strip()]
    content_type = header_map.get("content-type", "")
    text = _text_body(body) if not body or content_type.startswith(_TEXT_TYPES) else None
    is_text = text is not None
    event: dict = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": header_map,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": LOCAL_API_ID,
            "domainName": domain_name,
            "domainPrefix": domain_name.split(".", 1)[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": header_map.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": route_key,
            "stage": "$default",
            "time": _request_time(now),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": not is_text,
    }
    if cookies:
        event["cookies"] = cookies
    if raw_query:
        event["queryStringParameters"] = _join_duplicates(parse_qsl(raw_query, keep_blank_values=True), False)
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        event["body"] = text if text is not None else base64.b64encode(body).decode("ascii")
    return event


def _text_body(body: bytes) -> str | None:
    """A text-typed body as text; None when it is not UTF-8, so it goes base64-encoded like any binary
    body (the handler then sees the bytes, and says what is wrong with them)."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def websocket_event(
    *,
    route_key: str,
    connection_id: str,
    stage: str,
    domain_name: str,
    source_ip: str,
    user_agent: str,
    connected_at_ms: int,
    headers: list[tuple[str, str]] | None = None,
    raw_query: str = "",
    body: str | bytes | None = None,
) -> dict:
    """A WebSocket API proxy event: $connect carries the handshake, $default the message."""
    now = time.time()
    event_type = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route_key, "MESSAGE")
    context: dict = {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": uuid.uuid4().hex[:16],
        "requestTime": _request_time(now),
        "messageDirection": "IN",
        "stage": stage,
        "connectedAt": connected_at_ms,
        "requestTimeEpoch": int(now * 1000),
        "identity": {"sourceIp": source_ip, "userAgent": user_agent},
        "requestId": uuid.uuid4().hex[:16],
        "domainName": domain_name,
        "connectionId": connection_id,
        "apiId": LOCAL_API_ID,
    }
    event: dict = {"requestContext": context, "isBase64Encoded": False}
    if event_type == "MESSAGE":
        context["messageId"] = uuid.uuid4().hex[:16]
        if isinstance(body, bytes):
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
        else:
            event["body"] = body or ""
    if headers is not None:
        # API Gateway hands WebSocket handshake headers over in their canonical capitalisation.
        canonical = [("-".join(p.capitalize() for p in n.split("-")), v) for n, v in headers]
        event["headers"] = _join_duplicates(canonical, lower=False)
        event["multiValueHeaders"] = {}
        for name, value in canonical:
            event["multiValueHeaders"].setdefault(name, []).append(value)
    if route_key == "$connect" and raw_query:
        pairs = parse_qsl(raw_query, keep_blank_values=True)
        event["queryStringParameters"] = dict(pairs)
        event["multiValueQueryStringParameters"] = {}
        for name, value in pairs:
            event["multiValueQueryStringParameters"].setdefault(name, []).append(value)
    return event


def authorizer_event(request_event: dict, identity: list[str]) -> dict:
    """The REQUEST authorizer payload 2.0 for an HTTP API request."""
    context = request_event["requestContext"]
    method, path = request_event["routeKey"].split(" ", 1)
    event = {k: v for k, v in request_event.items() if k not in ("body", "isBase64Encoded")}
    event.update(
        {
            "type": "REQUEST",
            "routeArn": f"arn:aws:execute-api:us-east-1:{ACCOUNT_ID}:{context['apiId']}/{context['stage']}/{method}{path}",
            "identitySource": identity,
        }
    )
    return event
