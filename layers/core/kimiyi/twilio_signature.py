"""Checks X-Twilio-Signature on webhooks and on the ConversationRelay WebSocket handshake.

Twilio signs the exact public URL it called, so the URL is rebuilt from the configured public base URL,
never from the Lambda event's host (a custom domain or a stage mapping would not show there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlencode, urlsplit, urlunsplit

from twilio.request_validator import RequestValidator


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """Case-insensitive header lookup (HTTP API lower-cases names, the WebSocket API does not)."""
    wanted = name.lower()
    for key, value in (headers or {}).items():
        if key.lower() == wanted:
            return value
    return None


def webhook_is_valid(auth_token: str, url: str, form: Mapping[str, str], signature: str | None) -> bool:
    """A form-encoded voice webhook: the URL Twilio called plus the POST parameters."""
    if not auth_token or not signature:
        return False
    return RequestValidator(auth_token).validate(url, dict(form), signature)


def handshake_is_valid(
    auth_token: str,
    url: str,
    query: Mapping[str, str] | Sequence[tuple[str, str]],
    signature: str | None,
    *,
    issued: str = "trackingId",
) -> bool:
    """The WebSocket handshake, signed over the wss:// URL; `query` as it arrived (pairs, so a repeated
    name shows).

    Which form Twilio signs is not documented beyond doubt: the query string inside the URL, or the query
    parameters passed as the parameter dict (as Twilio's own Python library does), each with or without
    a trailing slash on the path. Exactly these forms are accepted, nothing else.

    The query must be the one we issue, the single parameter `issued` (the relay's URL carries just the
    trackingId) or nothing: the parameter form joins every name and value with no separator, so with
    more names, or another name, one signature stands for several queries (trackingId=T&x= is signed as
    "trackingIdTx", like trackingId=Tx; trackingI=dT like trackingId=T).
    """
    if not auth_token or not signature:
        return False
    pairs = list(query.items()) if isinstance(query, Mapping) else list(query)
    if [name for name, _ in pairs] not in ([], [issued]):
        return False
    validator = RequestValidator(auth_token)
    scheme, netloc, path, _, _ = urlsplit(url)
    query_string = urlencode(pairs)
    for candidate_path in {path, path.rstrip("/") or "/", path.rstrip("/") + "/"}:
        with_query = urlunsplit((scheme, netloc, candidate_path, query_string, ""))
        without_query = urlunsplit((scheme, netloc, candidate_path, "", ""))
        if validator.validate(with_query, {}, signature):
            return True
        if pairs and validator.validate(without_query, dict(pairs), signature):
            return True
    return False
