"""API Gateway's @connections API: posts one WebSocket message to a connection.

What the message says (ConversationRelay's frames) is the relay's business (kimiyi.relay.protocol); this
adapter only delivers text and tells a hung-up caller (410 Gone) from other failures.
"""

from __future__ import annotations

from typing import Protocol


class ConnectionGone(Exception):
    """The caller hung up: API Gateway answered 410 for the connection."""


class _GoneErrors(Protocol):
    @property
    def GoneException(self) -> type[Exception]: ...


class ConnectionsClient(Protocol):
    """The part of boto3's apigatewaymanagementapi client the relay uses."""

    @property
    def exceptions(self) -> _GoneErrors: ...

    def post_to_connection(self, *, ConnectionId: str, Data: str | bytes) -> object: ...


def post(client: ConnectionsClient, connection_id: str, data: str | bytes) -> None:
    """Posts one message; raises ConnectionGone when the connection no longer exists."""
    try:
        client.post_to_connection(ConnectionId=connection_id, Data=data)
    except client.exceptions.GoneException as error:  # a ClientError subclass; other errors propagate
        raise ConnectionGone(connection_id) from error
