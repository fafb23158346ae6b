"""GET /api/health-optimized through the real handler, under moto, with the sample event."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from kimiyi.adapters.metrics_store import MetricsStore
from kimiyi.metrics import TurnRecord
from tests.events import events_for, load

SECRET = "super-secret-token-value"


@pytest.fixture
def health(aws, function_env, monkeypatch):
    handler = function_env("HealthFunction")
    for name in (
        "TWILIO_AUTH_TOKEN",
        "KIMIYI_API_KEYS",
        "OPENAI_API_KEY",
        "AZURE_OPENAI_API_KEY",
        "LLM_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    event = load(events_for("get-api-health-optimized", "http")[0])

    def call(context):
        response = handler(event, context)
        return response["statusCode"], json.loads(response["body"]), response

    return call


def test_healthy_when_every_table_answers(health, lambda_context):
    status, body, response = health(lambda_context)
    assert status == 200
    assert response["headers"]["Content-Type"] == "application/json"
    assert body["status"] == "healthy"
    assert body["failing"] == []
    assert set(body["dependencies"]["tables"]) == {"calls", "cache", "idempotency"}
    assert all(t["ok"] and t["detail"] == "ACTIVE" for t in body["dependencies"]["tables"].values())
    assert body["version"] == "0.1.0"
    assert body["targets"]["turnLatencyMs"]["p90"] == 250


def test_offline_defaults_are_reported_not_failed(health, lambda_context):
    _, body, _ = health(lambda_context)
    assert body["llm"]["chain"] == ["scripted"] and body["llm"]["live"] is False
    assert body["twilio"]["configured"] is False
    assert any("scripted responder" in w for w in body["warnings"])


def test_missing_table_is_503_naming_it(health, lambda_context):
    boto3.client("dynamodb").delete_table(TableName="CacheTable")
    status, body, _ = health(lambda_context)
    assert status == 503
    assert body["status"] == "unhealthy"
    assert body["failing"] == ["table:cache"]
    assert body["dependencies"]["tables"]["cache"] == {
        "ok": False,
        "latencyMs": body["dependencies"]["tables"]["cache"]["latencyMs"],
        "detail": "ResourceNotFoundException",
    }
    assert body["dependencies"]["tables"]["calls"]["ok"] is True


def test_unconfigured_table_name_is_503(health, lambda_context, monkeypatch):
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "")
    status, body, _ = health(lambda_context)
    assert status == 503
    assert body["failing"] == ["table:idempotency"]
    assert body["dependencies"]["tables"]["idempotency"]["detail"] == "table name not configured"


def test_configured_providers_are_named_but_secrets_never_shown(health, lambda_context, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    boto3.client("ssm").put_parameter(Name="/kimiyi/dev/twilio-auth-token", Value=SECRET, Type="SecureString")
    status, body, response = health(lambda_context)
    assert status == 200
    assert body["llm"]["chain"] == ["openai", "scripted"] and body["llm"]["live"] is True
    assert body["twilio"] == {"configured": True, "accountSidSet": True, "authTokenSource": "ssm"}
    assert SECRET not in response["body"]


def test_unknown_route_is_404(health, lambda_context, function_env):
    handler = function_env("HealthFunction")
    event = load(events_for("get-api-health-optimized", "http")[0])
    event = {**event, "rawPath": "/api/nope", "requestContext": {**event["requestContext"]}}
    event["requestContext"]["http"] = {**event["requestContext"]["http"], "path": "/api/nope"}
    assert handler(event, lambda_context)["statusCode"] == 404


def test_malformed_llm_configuration_is_503_naming_the_variable(health, lambda_context, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "not a url")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", SECRET)
    status, body, response = health(lambda_context)
    assert status == 503
    assert body["failing"] == ["llm:config"]
    assert "AZURE_OPENAI_ENDPOINT" in body["llm"]["error"]
    assert SECRET not in response["body"]


def test_current_figures_come_from_the_last_15_minutes_of_aggregates(health, lambda_context):
    store = MetricsStore(boto3.resource("dynamodb").Table("CallsTable"))
    now_ms = int(time.time() * 1000)
    for n, latency in enumerate([100.0, 120.0, 140.0, 400.0], start=1):
        store.record_turn(
            TurnRecord("trk_h", n, now_ms - n * 1000, latency, None, cache_hit=n % 2 == 0, provider="x")
        )
    store.record_turn(TurnRecord("trk_old", 1, now_ms - 20 * 60_000, 5000.0, None))  # outside the window
    status, body, _ = health(lambda_context)
    assert status == 200
    current = body["current"]
    assert current["available"] is True and current["windowMinutes"] == 15 and current["turns"] == 4
    assert abs(current["turnLatencyMs"]["p50"] - 120.0) <= 0.049 * 120.0
    assert abs(current["turnLatencyMs"]["p95"] - 400.0) <= 0.049 * 400.0
    assert current["cacheHitRate"] == 0.5
    assert current["withinTargets"] == {"turnLatencyP50": True, "turnLatencyP90": False, "cacheHitRate": True}
    assert body["targets"]["turnLatencyMs"]["p50"] == 150  # the targets sit beside them


def test_no_recent_turns_is_figures_without_values(health, lambda_context):
    status, body, _ = health(lambda_context)
    assert status == 200
    assert body["current"]["available"] is True and body["current"]["turns"] == 0
    assert body["current"]["turnLatencyMs"] == {"p50": None, "p90": None, "p95": None}


def test_unreadable_figures_are_reported_and_health_stays_200(health, lambda_context, monkeypatch):
    def denied(self, plan):
        raise PermissionError("AccessDeniedException")

    monkeypatch.setattr(MetricsStore, "window", denied)
    status, body, _ = health(lambda_context)
    assert status == 200 and body["status"] == "healthy"
    assert body["current"] == {
        "available": False,
        "windowMinutes": 15,
        "error": "could not read the recent figures (PermissionError)",
    }
