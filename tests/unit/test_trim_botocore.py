"""The layer keeps botocore's models for exactly the services the template lets the functions call."""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path

import pytest

from kimiyi_local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("trim_botocore", ROOT / "scripts" / "trim_botocore.py")
assert spec and spec.loader
trim_botocore = importlib.util.module_from_spec(spec)
spec.loader.exec_module(trim_botocore)


def services_named_in_code() -> set[str]:
    """Every literal service name given to boto3.client / boto3.resource in the layer and the functions."""
    named: set[str] = set()
    for path in [*ROOT.glob("layers/core/kimiyi/**/*.py"), *ROOT.glob("functions/*/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("client", "resource")
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "boto3"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                named.add(node.args[0].value)
    return named


def test_every_client_the_code_creates_is_kept():
    kept = trim_botocore.services_in(load_template())
    named = services_named_in_code()
    assert {"dynamodb", "apigatewaymanagementapi"} <= named  # the scan finds the relay's clients
    assert named <= kept, f"not in the template's IAM actions, so trimmed from the layer: {named - kept}"
    assert "ssm" in kept  # Powertools Parameters reads the secrets through SSM


def test_iam_actions_and_sam_policy_templates_name_their_services():
    template = {
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Policies": [
                        {"SQSSendMessagePolicy": {"QueueName": "q"}},
                        {"Statement": {"Effect": "Allow", "Action": "execute-api:ManageConnections"}},
                        {
                            "Statement": [
                                {"Effect": "Allow", "Action": ["dynamodb:GetItem", "ssm:GetParameters"]}
                            ]
                        },
                    ]
                },
            },
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {"Policies": [{"Statement": {"Action": "s3:*"}}]},
            },
        }
    }
    assert trim_botocore.services_in(template) == {"sqs", "apigatewaymanagementapi", "dynamodb", "ssm", "sts"}


@pytest.mark.parametrize("policy", ["AmazonDynamoDBFullAccess", {"MysteryPolicy": {}}])
def test_a_policy_it_cannot_read_stops_the_build_rather_than_trim_a_service_away(policy):
    template = {
        "Resources": {"Fn": {"Type": "AWS::Serverless::Function", "Properties": {"Policies": [policy]}}}
    }
    with pytest.raises(SystemExit):
        trim_botocore.services_in(template)


def fake_layer(tmp_path: Path, services: list[str]) -> Path:
    data = tmp_path / "python" / "botocore" / "data"
    for name in services:
        (data / name / "2020-01-01").mkdir(parents=True)
    partition = {
        "partition": "aws",
        "services": {name: {"endpoints": {}} for name in [*services, "execute-api"]},
    }
    (data / "endpoints.json").write_text(json.dumps({"partitions": [partition], "version": 3}))
    return tmp_path / "python"


def test_trim_removes_the_other_models_and_their_endpoints(tmp_path):
    layer = fake_layer(tmp_path, ["dynamodb", "s3", "ec2", "apigatewaymanagementapi", "sts"])
    counts = trim_botocore.trim(layer, frozenset({"dynamodb", "apigatewaymanagementapi", "sts"}))
    data = layer / "botocore" / "data"
    assert counts == {"kept": 3, "removed": 2}
    assert sorted(p.name for p in data.iterdir() if p.is_dir()) == [
        "apigatewaymanagementapi",
        "dynamodb",
        "sts",
    ]
    services = json.loads((data / "endpoints.json").read_text())["partitions"][0]["services"]
    assert sorted(services) == ["apigatewaymanagementapi", "dynamodb", "execute-api", "sts"]
    assert (
        trim_botocore.trim(layer, frozenset({"dynamodb", "apigatewaymanagementapi", "sts"}))["removed"] == 0
    )


def test_a_service_botocore_does_not_know_stops_the_build(tmp_path):
    layer = fake_layer(tmp_path, ["dynamodb"])
    with pytest.raises(SystemExit, match="no model for dynamodbx"):
        trim_botocore.trim(layer, frozenset({"dynamodb", "dynamodbx"}))
