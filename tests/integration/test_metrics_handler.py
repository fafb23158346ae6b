"""GET /api/performance-metrics[/{trackingId}] through the real handler, under moto, with the sample events."""

from __future__ import annotations

import copy
import json
import time

import boto3
import pytest

from kimiyi.adapters.calls_store import CallsStore
from kimiyi.adapters.metrics_store import MetricsReadError, MetricsStore
from kimiyi.metrics import TurnRecord
from tests.events import events_for, load

TRACKING = "trk_example_0001"  # the id in the sample event


@pytest.fixture
def handler(aws, function_env):
    return function_env("MetricsFunction")


@pytest.fixture
def table(aws):
    return boto3.resource("dynamodb").Table("CallsTable")


def call_event(tracking_id: str = TRACKING, query: dict | None = None) -> dict:
    event = copy.deepcopy(load(events_for("get-api-performance-metrics-trackingId", "http")[0]))
    path = f"/api/performance-metrics/{tracking_id}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["pathParameters"] = {"trackingId": tracking_id}
    if query is not None:
        event["queryStringParameters"] = query
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
    return event


def window_event(query: dict | None) -> dict:
    event = copy.deepcopy(load(events_for("get-api-performance-metrics", "http")[0]))
    event.pop("queryStringParameters", None)
    event["rawQueryString"] = ""
    if query is not None:
        event["queryStringParameters"] = query
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
    return event


def invoke(handler, event, context):
    response = handler(event, context)
    return response["statusCode"], json.loads(response["body"]), response


def as_tenant(event: dict, tenant: str) -> dict:
    event["requestContext"]["authorizer"]["lambda"]["tenantId"] = tenant
    return event


def record_turns(table, tracking_id=TRACKING, latencies=(180.0, 25.0, 240.0), tenant="default"):
    store = MetricsStore(table)
    now_ms = int(time.time() * 1000)
    for n, latency in enumerate(latencies, start=1):
        store.record_turn(
            TurnRecord(
                tracking_id=tracking_id,
                turn=n,
                at_ms=now_ms - (len(latencies) - n) * 1000,
                latency_ms=latency,
                first_token_ms=None if latency < 50 else latency - 40,
                provider="cache" if latency < 50 else "azure",
                cache_hit=latency < 50,
                language="en-US",
                node="confirm",
            ),
            tenant,
        )
    store.record_failure(tracking_id, now_ms, tenant)


def test_the_sample_events_are_the_routes(handler):
    assert load(events_for("get-api-performance-metrics-trackingId", "http")[0])["pathParameters"] == {
        "trackingId": TRACKING
    }
    sample = load(events_for("get-api-performance-metrics", "http")[0])
    assert sample["queryStringParameters"] == {"minutes": "60"}
    assert sample["requestContext"]["authorizer"]["lambda"]["keyId"].startswith("key_")


def test_a_calls_turns_and_summary(handler, table, lambda_context):
    record_turns(table)
    status, body, response = invoke(
        handler, load(events_for("get-api-performance-metrics-trackingId", "http")[0]), lambda_context
    )
    assert status == 200
    assert response["headers"]["Content-Type"] == "application/json"
    assert response["headers"]["Cache-Control"] == "no-store"
    assert body["trackingId"] == TRACKING
    assert [t["turn"] for t in body["turns"]] == [1, 2, 3]
    assert body["turns"][1]["provider"] == "cache" and body["turns"][1]["cacheHit"] is True
    summary = body["summary"]
    assert summary["turns"] == 4 and summary["errors"] == 1
    assert summary["turnLatencyMs"]["p50"] == 180.0 and summary["turnLatencyMs"]["p99"] == 240.0
    assert summary["firstTokenMs"]["count"] == 2 and summary["cacheHitRate"] == pytest.approx(0.3333)
    # The integration guide's reads: metrics.averageLatency, metrics.cacheHitRate, optimization.enabled
    assert body["metrics"]["averageLatency"] == summary["turnLatencyMs"]["avg"] == pytest.approx(148.33)
    assert body["metrics"]["cacheHitRate"] == summary["cacheHitRate"]
    assert body["optimization"] == {"enabled": True, "mode": "stream"}


def test_an_unknown_call_is_404(handler, lambda_context):
    status, body, _ = invoke(handler, call_event("trk_nobody"), lambda_context)
    assert status == 404 and body["error"] == "call_not_found" and body["success"] is False


def test_another_tenants_call_answers_exactly_like_an_unknown_one(handler, table, lambda_context):
    record_turns(table, "trk_acme_call", tenant="acme")
    CallsStore(table).put_session("trk_acme_quiet", {"workflow": "{}", "tenantId": "acme"})
    for tracking_id in ("trk_acme_call", "trk_acme_quiet"):
        got = invoke(handler, call_event(tracking_id), lambda_context)  # the sample event's tenant: default
        unknown = invoke(handler, call_event(tracking_id.replace("acme", "nobody")), lambda_context)
        assert got[0] == unknown[0] == 404
        assert json.dumps(got[1]) == json.dumps(unknown[1]).replace(
            tracking_id.replace("acme", "nobody"), tracking_id
        )
        status, body, _ = invoke(handler, as_tenant(call_event(tracking_id), "acme"), lambda_context)
        assert status == 200 and body["trackingId"] == tracking_id


def test_a_tenants_window_counts_its_own_turns_only(handler, table, lambda_context):
    record_turns(table)  # default's: 3 turns and an error
    record_turns(table, "trk_acme_call", (90.0,), tenant="acme")
    _, default, _ = invoke(handler, window_event(None), lambda_context)
    _, acme, _ = invoke(handler, as_tenant(window_event(None), "acme"), lambda_context)
    _, nobody, _ = invoke(handler, as_tenant(window_event(None), "globex"), lambda_context)
    assert (default["summary"]["turns"], default["summary"]["errors"]) == (4, 1)
    assert (acme["summary"]["turns"], acme["summary"]["errors"]) == (2, 1)
    assert nobody["summary"]["turns"] == 0


def test_a_request_that_did_not_pass_the_authorizer_is_401(handler, table, lambda_context):
    record_turns(table)
    for event in (call_event(), window_event(None)):
        del event["requestContext"]["authorizer"]
        status, body, _ = invoke(handler, event, lambda_context)
        assert status == 401 and body["error"] == "unauthorized" and "turns" not in body


def test_a_staged_call_without_turns_is_200_and_empty(handler, table, lambda_context):
    CallsStore(table).put_session("trk_quiet", {"workflow": "{}", "mode": "classic"})
    status, body, _ = invoke(handler, call_event("trk_quiet"), lambda_context)
    assert status == 200 and body["turns"] == [] and body["summary"]["turns"] == 0
    assert body["metrics"]["averageLatency"] is None
    assert body["optimization"] == {"enabled": False, "mode": "classic"}


def test_a_malformed_tracking_id_is_400(handler, lambda_context):
    status, body, _ = invoke(handler, call_event("trk%20x"), lambda_context)
    assert status == 400 and body["error"] == "invalid_tracking_id"
    assert body["problems"][0]["path"] == "path.trackingId"


def test_the_window_sample_event(handler, table, lambda_context):
    record_turns(table)
    record_turns(table, "trk_second", (90.0,))
    status, body, _ = invoke(
        handler, load(events_for("get-api-performance-metrics", "http")[0]), lambda_context
    )
    assert status == 200
    assert body["window"]["minutes"] == 60
    assert body["window"]["start"].endswith(":00Z") and body["window"]["end"].endswith("Z")
    summary = body["summary"]
    assert (summary["turns"], summary["errors"], summary["cacheHits"], summary["cacheMisses"]) == (6, 2, 1, 3)
    assert summary["turnLatencyMs"]["count"] == 4
    # 25, 90, 180, 240 ms: the nearest-rank median is 90, estimated from the histogram within 4.9 %
    assert abs(summary["turnLatencyMs"]["p50"] - 90.0) <= 0.049 * 90.0
    assert summary["providers"] == {"azure": 3, "cache": 1}
    assert body["precision"]["relativeError"] < 0.05


def test_an_empty_window_is_200_with_zeros(handler, lambda_context):
    status, body, _ = invoke(handler, window_event(None), lambda_context)
    assert status == 200 and body["window"]["minutes"] == 60
    assert body["summary"]["turns"] == 0 and body["summary"]["turnLatencyMs"]["p95"] is None


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ({"minutes": "0"}, "query.minutes"),
        ({"minutes": "abc"}, "query.minutes"),
        ({"minutes": "20161"}, "query.minutes"),
        ({"minutes": "5,10"}, "query.minutes"),  # API Gateway's form of ?minutes=5&minutes=10
        ({"minute": "5"}, "query.minute"),
    ],
)
def test_bad_window_parameters_are_400_naming_them(handler, lambda_context, query, problem):
    status, body, _ = invoke(handler, window_event(query), lambda_context)
    assert status == 400 and body["success"] is False
    assert [p["path"] for p in body["problems"]] == [problem]


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (RuntimeError("DynamoDB is having a day"), 500, "internal_error"),
        (MetricsReadError("3 aggregate items stayed unprocessed"), 503, "metrics_unavailable"),
    ],
)
def test_a_read_failure_is_a_json_error_not_a_crash(
    handler, lambda_context, monkeypatch, failure, status, code
):
    import metrics_handler

    def broken(plan, tenant_id=None):
        raise failure

    monkeypatch.setattr(metrics_handler.service.reader, "window", broken)
    got, body, _ = invoke(handler, window_event(None), lambda_context)
    assert (got, body["error"]) == (status, code) and "DynamoDB" not in json.dumps(body)
