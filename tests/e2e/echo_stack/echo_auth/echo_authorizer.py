"""Test authorizer: the key "good" is allowed; every invocation is counted in the echo table."""

import os
import uuid

import boto3


def lambda_handler(event, context):
    table = boto3.resource("dynamodb").Table(os.environ["ECHO_TABLE"])
    table.put_item(Item={"pk": f"auth#{uuid.uuid4()}", "routeArn": event["routeArn"]})
    allowed = event["identitySource"] == ["good"] and event["type"] == "REQUEST"
    return {"isAuthorized": allowed, "context": {"keyId": "k-good"} if allowed else {}}
