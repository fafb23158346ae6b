"""Every log the stack writes has a declared group with a retention, and the two APIs' access logs are
JSON lines of request metadata only: never bodies, headers, query strings or paths, which carry phone
numbers (Twilio's form bodies), the API key and Twilio's signature (headers) and call identifiers."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from kimiyi_local.template import load_template

# What each access log may record: request metadata, nothing a caller typed or sent.
HTTP_ALLOWED = {
    "$context.requestId",
    "$context.requestTime",
    "$context.identity.sourceIp",
    "$context.httpMethod",
    "$context.routeKey",  # the route template (/api/performance-metrics/{trackingId}), not the path
    "$context.status",
    "$context.protocol",
    "$context.responseLength",
    "$context.responseLatency",
    "$context.integration.status",
    "$context.integration.latency",
    "$context.integrationErrorMessage",
    "$context.error.message",
    "$context.authorizer.error",
    "$context.authorizer.tenantId",  # whose request (kimiyi.api_keys)
    "$context.authorizer.keyId",  # the authorizer's short hash of the key (kimiyi.api_keys.key_id)
}
WEBSOCKET_ALLOWED = {
    "$context.requestId",
    "$context.requestTime",
    "$context.identity.sourceIp",
    "$context.connectionId",
    "$context.eventType",
    "$context.routeKey",
    "$context.status",
    "$context.integrationStatus",
    "$context.integrationLatency",
    "$context.error.message",
}
NEVER = re.compile(r"body|header|querystring|query|path|apikey|signature|user", re.IGNORECASE)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def resources(template, kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def test_every_log_group_keeps_logs_for_the_retention_parameter(template):
    groups = resources(template, "AWS::Logs::LogGroup")
    assert groups
    for name, group in groups.items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    parameter = template["Parameters"]["LogRetentionDays"]
    assert parameter["Default"] == 30 and parameter["Default"] in parameter["AllowedValues"]


def test_every_function_logs_to_its_own_declared_group(template):
    groups = resources(template, "AWS::Logs::LogGroup")
    used = []
    for name, function in resources(template, "AWS::Serverless::Function").items():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert group in groups, name
        used.append(group)
    assert len(used) == len(set(used)), "two functions share a log group"


def access_log(settings: dict[str, Any], template) -> dict[str, str]:
    destination = settings["DestinationArn"]["Fn::GetAtt"]
    assert destination[1] == "Arn" and destination[0] in resources(template, "AWS::Logs::LogGroup")
    line = settings["Format"]
    assert "\n" not in line, "an access log format must be one line"
    return json.loads(line)


def test_the_http_api_access_log_is_request_metadata_only(template):
    fields = access_log(template["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"], template)
    assert set(fields.values()) <= HTTP_ALLOWED
    assert {"$context.requestId", "$context.routeKey", "$context.status"} <= set(fields.values())
    for value in fields.values():
        assert not NEVER.search(value.removeprefix("$context.")), value


def test_the_websocket_access_log_is_request_metadata_only(template):
    stage = resources(template, "AWS::ApiGatewayV2::Stage")["WebSocketStage"]["Properties"]
    fields = access_log(stage["AccessLogSettings"], template)
    assert set(fields.values()) <= WEBSOCKET_ALLOWED
    assert {"$context.requestId", "$context.connectionId", "$context.eventType"} <= set(fields.values())
    for value in fields.values():
        assert not NEVER.search(value.removeprefix("$context.")), value


def test_the_websocket_stage_waits_for_the_account_log_role_when_the_stack_makes_it(template):
    """API Gateway refuses WebSocket access logging until the account has a CloudWatch role."""
    description = template["Resources"]["WebSocketStage"]["Properties"]["Description"]["Fn::If"]
    assert description[0] == "CreatesApiGatewayLogRole"
    assert "${ApiGatewayAccount}" in description[1]["Fn::Sub"]
    account = template["Resources"]["ApiGatewayAccount"]
    role = template["Resources"]["ApiGatewayLogRole"]
    for resource in (account, role):
        assert resource["Condition"] == "CreatesApiGatewayLogRole"
        assert resource["DeletionPolicy"] == "Retain"  # the account setting outlives the stack
