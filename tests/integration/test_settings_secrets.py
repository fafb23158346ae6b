"""Secrets are read from SSM by name, for exactly the names asked for, so each function's IAM policy can
name the parameters it may read (tests/unit/test_template_permissions.py). Health never reads a value."""

from __future__ import annotations

import boto3
import botocore.client
import pytest

from kimiyi.llm import KEY_STAND_IN, env_with_key_stand_ins, env_with_secrets
from kimiyi.settings import Settings, SsmSecrets
from kimiyi.status import check_health

PATH = "/kimiyi/dev"
TOKEN = "token-from-ssm"


@pytest.fixture
def ssm_calls(aws, monkeypatch):
    """Every SSM request made while the test runs: (operation, its parameters)."""
    calls: list[tuple[str, dict]] = []
    make_api_call = botocore.client.BaseClient._make_api_call

    def record(client, operation, params):
        if client.meta.service_model.service_name == "ssm":
            calls.append((operation, params))
        return make_api_call(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    return calls


def put(name: str, value: str) -> None:
    boto3.client("ssm").put_parameter(Name=f"{PATH}/{name}", Value=value, Type="SecureString")


def reads(calls) -> list:
    return [op for op, _ in calls if op != "PutParameter"]


def test_a_secret_is_read_by_its_own_name_never_by_path(ssm_calls):
    put("twilio-auth-token", TOKEN)
    put("openai-api-key", "key-1")
    assert Settings({"SECRETS_PATH": PATH}).secret("twilio-auth-token") == TOKEN
    assert [(op, p) for op, p in ssm_calls if op != "PutParameter"] == [
        ("GetParameters", {"Names": [f"{PATH}/twilio-auth-token"], "WithDecryption": True})
    ]


def test_the_llm_keys_are_read_in_one_request_for_their_three_names(ssm_calls):
    put("openai-api-key", "sk-test")
    env = env_with_secrets(Settings({"SECRETS_PATH": PATH}))
    assert env["OPENAI_API_KEY"] == "sk-test" and "AZURE_OPENAI_API_KEY" not in env
    gets = [p for op, p in ssm_calls if op == "GetParameters"]
    assert len(gets) == 1
    assert sorted(gets[0]["Names"]) == sorted(
        f"{PATH}/{name}" for name in ("azure-openai-api-key", "openai-api-key", "llm-api-key")
    )


def test_the_environment_wins_and_ssm_is_not_asked(ssm_calls):
    settings = Settings({"SECRETS_PATH": PATH, "TWILIO_AUTH_TOKEN": "from-env"})
    assert settings.secret("twilio-auth-token") == "from-env"
    assert settings.secret_source("twilio-auth-token") == "environment"
    assert reads(ssm_calls) == []


def test_values_and_absences_are_cached_for_five_minutes(aws):
    now = [1000.0]
    secrets = SsmSecrets(clock=lambda: now[0])
    assert secrets.values(PATH, ["twilio-auth-token"]) == {"twilio-auth-token": ""}
    put("twilio-auth-token", TOKEN)
    now[0] += 299
    assert secrets.values(PATH, ["twilio-auth-token"]) == {"twilio-auth-token": ""}  # the absence, cached
    now[0] += 2
    assert secrets.values(PATH, ["twilio-auth-token"]) == {"twilio-auth-token": TOKEN}
    assert secrets.present(PATH, ["twilio-auth-token", "openai-api-key"]) == {"twilio-auth-token"}


def test_a_failed_request_raises_rather_than_reading_as_absent(aws, monkeypatch):
    secrets = SsmSecrets()

    class Refusing:
        def get_parameters(self, **_):
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetParameters"
            )

    monkeypatch.setattr(secrets, "_ssm", lambda: Refusing())
    with pytest.raises(botocore.exceptions.ClientError):
        secrets.values(PATH, ["openai-api-key"])


def test_secret_sources_ask_which_exist_and_decrypt_nothing(ssm_calls):
    put("twilio-auth-token", "token")
    put("llm-api-key", "llm-key")
    settings = Settings({"SECRETS_PATH": PATH, "OPENAI_API_KEY": "sk-env"})
    assert settings.secret_sources(["twilio-auth-token", "azure-openai-api-key", "openai-api-key"]) == {
        "twilio-auth-token": "ssm",
        "azure-openai-api-key": None,
        "openai-api-key": "environment",
    }
    env = env_with_key_stand_ins(settings)
    assert env["LLM_API_KEY"] == KEY_STAND_IN and env["OPENAI_API_KEY"] == "sk-env"
    assert "AZURE_OPENAI_API_KEY" not in env
    assert {op for op in reads(ssm_calls)} == {"DescribeParameters"}


def test_health_reports_what_is_set_without_reading_a_secret(ssm_calls, function_env, monkeypatch):
    function_env("HealthFunction")
    for variable in ("TWILIO_AUTH_TOKEN", "KIMIYI_API_KEYS", "OPENAI_API_KEY", "AZURE_OPENAI_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("LLM_BASE_URL", "https://llm.example.com/v1")
    monkeypatch.setenv("LLM_MODEL", "m")
    for name in ("twilio-auth-token", "tenants/default", "openai-api-key", "llm-api-key"):
        put(name, f"value-of-{name}")
    _, body = check_health(Settings())
    assert body["twilio"]["authTokenSource"] == "ssm"
    assert body["features"]["apiKeyAuth"] is True
    assert body["llm"]["chain"] == ["openai", "compatible", "scripted"]
    assert "value-of" not in str(body)
    assert {op for op in reads(ssm_calls)} == {"DescribeParameters"}  # never GetParameter(s)
