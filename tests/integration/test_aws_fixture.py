"""The `aws` fixture's moto lives through the run: each test must still find what a new moto holds."""

from __future__ import annotations

import boto3
import pytest

from tests.integration.conftest import fresh_aws


def test_a_test_finds_the_template_tables_empty_and_nothing_else_left_over(aws, stack_spec):
    dynamodb, ssm = boto3.client("dynamodb"), boto3.client("ssm")
    names = sorted(table.name for table in stack_spec.tables)
    for name in names:
        key = {
            k["AttributeName"]: {"S": "x"}
            for k in next(t for t in stack_spec.tables if t.name == name).key_schema
        }
        dynamodb.put_item(TableName=name, Item=key)
    ssm.put_parameter(Name="/left/over", Value="v", Type="String")
    dynamodb.delete_table(TableName="IdempotencyTable")
    dynamodb.create_table(
        TableName="Stray",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    fresh_aws(stack_spec.tables)  # what the next test's `aws` does first

    assert sorted(dynamodb.list_tables()["TableNames"]) == names
    assert all(dynamodb.scan(TableName=name)["Items"] == [] for name in names)
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name="/left/over")
    for table in stack_spec.tables:
        described = dynamodb.describe_table(TableName=table.name)["Table"]
        assert described["KeySchema"] == table.key_schema
        if table.ttl_attribute:
            ttl = dynamodb.describe_time_to_live(TableName=table.name)["TimeToLiveDescription"]
            assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": table.ttl_attribute}
