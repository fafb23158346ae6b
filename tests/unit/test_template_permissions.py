"""Every function's IAM policy grants exactly what its code uses: the secrets it reads (SSM parameters by
name), the DynamoDB actions it calls on each table, and nothing else. This table is the contract: a
function that starts reading a secret or calling another DynamoDB action fails here until both the
template and this table say so.

Worked out from the code (handlers and the kimiyi modules they call; DynamoDB actions per table):

- authorizer: the tenants' key digests only (GetParametersByPath on `<SECRETS_PATH>/tenants`).
- health: whether secrets are set (DescribeParameters: names, never values; it has no resource scope),
  DescribeTable on each table (the probes), BatchGetItem on the calls table (the current figures).
- make-call: the Twilio token; calls table Put (the session, conditional), Update (the dial), Delete (a
  failed dial); the idempotency table as Powertools' DynamoDB persistence layer uses it.
- twiml: the Twilio token and the LLM keys (classic turns); calls table Get and Put (sessions, inbound
  templates, classic state and rendered TwiML). Never the cache table.
- call-status: the Twilio token; calls table Get (the session) and Update (the status item).
- metrics: calls table Get, Query and BatchGetItem; no secret.
- test-optimization: the LLM keys; no table (its cache is in memory).
- relay: the Twilio token and the LLM keys; calls table Get, Put, Update, Delete and BatchGetItem (state,
  turns, interrupts, connection map, metrics); cache table Get and Put; posting to its own connections.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from kimiyi.settings import SECRET_ENV
from kimiyi_local.template import load_template

LLM_KEYS = {"azure-openai-api-key", "openai-api-key", "llm-api-key"}

EXPECTED: dict[str, dict[str, set[str]]] = {
    "AuthorizerFunction": {"ssm:GetParametersByPath": {"secret:tenants"}},
    "HealthFunction": {
        "ssm:DescribeParameters": {"*"},
        "CallsTable": {"DescribeTable", "BatchGetItem"},
        "CacheTable": {"DescribeTable"},
        "IdempotencyTable": {"DescribeTable"},
    },
    "MakeCallFunction": {
        "secrets": {"twilio-auth-token"},
        "CallsTable": {"PutItem", "UpdateItem", "DeleteItem"},
        "IdempotencyTable": {"GetItem", "PutItem", "UpdateItem", "DeleteItem"},
    },
    "TwimlFunction": {
        "secrets": {"twilio-auth-token"} | LLM_KEYS,
        "CallsTable": {"GetItem", "PutItem"},
    },
    "CallStatusFunction": {
        "secrets": {"twilio-auth-token"},
        "CallsTable": {"GetItem", "UpdateItem"},
    },
    "MetricsFunction": {"CallsTable": {"GetItem", "Query", "BatchGetItem"}},
    "TestOptimizationFunction": {"secrets": LLM_KEYS},
    "RelayFunction": {
        "secrets": {"twilio-auth-token"} | LLM_KEYS,
        "CallsTable": {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchGetItem"},
        "CacheTable": {"GetItem", "PutItem"},
        "execute-api:ManageConnections": {"own connections"},
    },
}

SECRET_ARN = re.compile(
    r"^arn:\$\{AWS::Partition\}:ssm:\$\{AWS::Region\}:\$\{AWS::AccountId\}:parameter/kimiyi/\$\{Stage\}/([a-z-]+)$"
)
CONNECTIONS_ARN = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${Stage}/*/@connections/*"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def functions(template) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def resource_name(resource: Any) -> str:
    """A statement's resource as the table above names it."""
    if resource == "*":
        return "*"
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        logical_id, attribute = resource["Fn::GetAtt"]
        assert attribute == "Arn", resource  # the table itself: no index, no stream, no wildcard
        return logical_id
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        text = resource["Fn::Sub"]
        if match := SECRET_ARN.match(text):
            return f"secret:{match.group(1)}"
        if text == CONNECTIONS_ARN:
            return "own connections"
    raise AssertionError(f"a resource this test does not know how to read: {resource!r}")


def grants(properties: dict[str, Any]) -> dict[str, set[str]]:
    """What a function's policies allow, in the shape of EXPECTED."""
    found: dict[str, set[str]] = {}
    for policy in properties.get("Policies", []):
        # Only inline statements: SAM's policy templates grant more than their names say
        # (SSMParameterReadPolicy adds GetParametersByPath, DynamoDBReadPolicy adds Scan).
        assert isinstance(policy, dict) and set(policy) == {"Statement"}, policy
        for statement in policy["Statement"]:
            assert (
                statement["Effect"] == "Allow"
                and "NotAction" not in statement
                and "NotResource" not in statement
            )
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            for action in actions:
                assert "*" not in action, action
                for resource in map(resource_name, resources):
                    if action == "ssm:GetParameters":
                        assert resource.startswith("secret:"), resource
                        found.setdefault("secrets", set()).add(resource.removeprefix("secret:"))
                    elif action.startswith("dynamodb:"):
                        found.setdefault(resource, set()).add(action.removeprefix("dynamodb:"))
                    else:
                        found.setdefault(action, set()).add(resource)
    return found


def test_every_function_is_in_the_table(template):
    assert set(functions(template)) == set(EXPECTED)


@pytest.mark.parametrize("function", sorted(EXPECTED))
def test_a_function_is_granted_exactly_what_its_code_uses(template, function):
    assert grants(functions(template)[function]) == EXPECTED[function]


def test_the_secrets_named_are_the_ones_the_code_knows():
    for function, expected in EXPECTED.items():
        assert expected.get("secrets", set()) <= set(SECRET_ENV), function


def test_the_secrets_path_the_policies_name_is_the_one_the_functions_read(template):
    assert template["Globals"]["Function"]["Environment"]["Variables"]["SECRETS_PATH"] == {
        "Fn::Sub": "/kimiyi/${Stage}"
    }
