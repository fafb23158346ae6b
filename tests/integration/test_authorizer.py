"""The HTTP API Lambda authorizer through its real handler, and what the template declares around it.

API Gateway itself answers 401 when `x-api-key` is missing, because the header is the authorizer's
identity source; that is asserted on the template (and in the local stack's end-to-end tests).
"""

from __future__ import annotations

import copy
import json

import boto3
import pytest

from kimiyi.api_keys import key_digest, key_id
from kimiyi_local.template import load_template
from tests.conftest import EVENTS
from tests.events import load

EVENT = EVENTS / "authorizer" / "post-api-make-call-optimized.json"


@pytest.fixture
def authorize(aws, function_env, lambda_context, monkeypatch):
    handler = function_env("AuthorizerFunction")
    monkeypatch.setenv("KIMIYI_API_KEYS", "local-dev-key")

    def call(key: str | None = "local-dev-key") -> dict:
        event = copy.deepcopy(load(EVENT))
        if key is None:
            event["headers"].pop("x-api-key")
            event["identitySource"] = []
        else:
            event["headers"]["x-api-key"] = key
            event["identitySource"] = [key]
        return handler(event, lambda_context)

    return call


def test_the_right_key_is_authorized_with_its_tenant_and_id_in_the_context(authorize):
    response = authorize()
    assert response == {
        "isAuthorized": True,
        "context": {"tenantId": "default", "keyId": key_id("local-dev-key")},
    }
    assert "local-dev-key" not in json.dumps(response)


@pytest.mark.parametrize("key", ["wrong-key", "Local-Dev-Key", "local-dev-ke", "local-dev-key,x", ""])
def test_a_wrong_key_is_refused(authorize, key):
    assert authorize(key) == {"isAuthorized": False}


def test_a_missing_key_is_refused_if_api_gateway_ever_lets_one_through(authorize):
    assert authorize(None) == {"isAuthorized": False}


def test_keys_rotate_both_old_and_new_work(authorize, monkeypatch):
    monkeypatch.setenv("KIMIYI_API_KEYS", "old-key,new-key")
    assert authorize("old-key")["context"]["keyId"] == key_id("old-key")
    assert authorize("new-key")["context"]["keyId"] == key_id("new-key")
    assert authorize("local-dev-key")["isAuthorized"] is False


def test_keys_come_from_the_tenants_digests_in_ssm_when_the_environment_has_none(authorize, monkeypatch):
    monkeypatch.delenv("KIMIYI_API_KEYS")
    ssm = boto3.client("ssm")
    ssm.put_parameter(
        Name="/kimiyi/dev/tenants/acme",
        Value=f"{key_digest('ssm-key-1')},{key_digest('ssm-key-2')}",
        Type="SecureString",
    )
    ssm.put_parameter(Name="/kimiyi/dev/tenants/globex", Value=key_digest("globex-key"), Type="SecureString")
    # Not a tenant: deeper, or beside the path.
    ssm.put_parameter(Name="/kimiyi/dev/tenants/acme/extra", Value=key_digest("deeper"), Type="String")
    ssm.put_parameter(Name="/kimiyi/dev/twilio-auth-token", Value="token", Type="SecureString")
    assert authorize("ssm-key-2") == {
        "isAuthorized": True,
        "context": {"tenantId": "acme", "keyId": key_id("ssm-key-2")},
    }
    assert authorize("globex-key")["context"]["tenantId"] == "globex"
    for refused in ("local-dev-key", "deeper", "token", key_digest("ssm-key-1")):
        assert authorize(refused)["isAuthorized"] is False, refused


def test_an_unreadable_key_store_opens_nothing(authorize, monkeypatch, caplog):
    monkeypatch.delenv("KIMIYI_API_KEYS")

    def refuse(*_, **__):
        raise RuntimeError("AccessDenied")

    monkeypatch.setattr("aws_lambda_powertools.utilities.parameters.get_parameters", refuse)
    assert authorize("anything") == {"isAuthorized": False}
    assert "could not read the tenants' API keys" in caplog.text


def test_with_no_key_configured_nobody_gets_in(authorize, monkeypatch, caplog):
    monkeypatch.delenv("KIMIYI_API_KEYS")
    assert authorize("anything") == {"isAuthorized": False}
    assert any("no API keys configured" in record.getMessage() for record in caplog.records)


def test_keys_never_reach_the_logs(authorize, caplog):
    authorize()
    authorize("wrong-key")
    logged = " ".join(str(value) for record in caplog.records for value in vars(record).values())
    assert "local-dev-key" not in logged and "wrong-key" not in logged
    assert key_id("local-dev-key") in logged


# ---------------------------------------------------------------- what the template declares
@pytest.fixture(scope="module")
def template():
    return load_template()


def test_the_http_api_requires_x_api_key_by_default(template):
    auth = template["Resources"]["HttpApi"]["Properties"]["Auth"]
    assert auth["DefaultAuthorizer"] == "ApiKeyAuthorizer"
    authorizer = auth["Authorizers"]["ApiKeyAuthorizer"]
    # The header is the identity source: without it API Gateway answers 401 and never calls the function.
    assert authorizer["Identity"]["Headers"] == ["x-api-key"]
    assert authorizer["Identity"]["ReauthorizeEvery"] == 300
    assert authorizer["AuthorizerPayloadFormatVersion"] == "2.0"
    assert authorizer["EnableSimpleResponses"] is True
    assert authorizer["FunctionArn"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}


def test_make_call_does_not_opt_out_of_the_authorizer(template):
    route = template["Resources"]["MakeCallFunction"]["Properties"]["Events"]["MakeCall"]["Properties"]
    assert route["Path"] == "/api/make-call-optimized" and route["Method"] == "POST"
    assert route.get("Auth", {}).get("Authorizer") != "NONE"


def test_the_make_call_sample_event_carries_the_authorizer_context(template):
    event = load(EVENTS / "http" / "post-api-make-call-optimized.json")
    assert event["requestContext"]["authorizer"] == {
        "lambda": {"tenantId": "default", "keyId": key_id("local-dev-key")}
    }
