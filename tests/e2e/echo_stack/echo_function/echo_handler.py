"""Test function for the local stack: reports the events it receives, over HTTP and the WebSocket."""

import json
import os
import time

import boto3

_management = None


def _connections():
    global _management
    if _management is None:
        endpoint = os.environ["WEBSOCKET_URL"].replace(
            "ws", "http", 1
        )  # ws:// -> http://, wss:// -> https://
        _management = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)
    return _management


def _table():
    return boto3.resource("dynamodb").Table(os.environ["ECHO_TABLE"])


def _record(connection_id: str, route: str, **extra: str) -> None:
    _table().put_item(Item={"pk": f"{route}#{connection_id}", "at": str(time.time()), **extra})


def lambda_handler(event, context):
    context_ = event["requestContext"]
    route = context_.get("routeKey")
    if "http" in context_:  # HTTP API
        if context_["http"]["path"] == "/boom":
            raise RuntimeError("boom")
        return {
            "statusCode": 200,
            "headers": {"content-type": "application/json", "x-echo": "1"},
            "body": json.dumps({"event": event, "remainingMs": context.get_remaining_time_in_millis()}),
        }
    connection_id = context_["connectionId"]
    if route == "$connect":
        query = event.get("queryStringParameters") or {}
        if query.get("reject"):
            return {"statusCode": 403}
        # notify=<connection id>: that connection is told once this one's $disconnect has run
        _record(connection_id, "connect", **({"notify": query["notify"]} if "notify" in query else {}))
        return {"statusCode": 200}
    if route == "$disconnect":
        _record(connection_id, "disconnect")
        watcher = (_table().get_item(Key={"pk": f"connect#{connection_id}"}).get("Item") or {}).get("notify")
        if watcher:
            message = json.dumps({"disconnected": connection_id}).encode()
            _connections().post_to_connection(ConnectionId=watcher, Data=message)
        return {"statusCode": 200}
    body = event.get("body")
    if body == "boom":
        raise RuntimeError("boom")
    if body == "close":
        _connections().delete_connection(ConnectionId=connection_id)
        return {"statusCode": 200}
    if body == "describe":
        described = _connections().get_connection(ConnectionId=connection_id)
        body = json.dumps({"sourceIp": described["Identity"]["SourceIp"]})
    reply = {"echo": body, "connectionId": connection_id, "route": route}
    _connections().post_to_connection(ConnectionId=connection_id, Data=json.dumps(reply).encode())
    return {"statusCode": 200, "body": "never sent: no route response is configured"}
