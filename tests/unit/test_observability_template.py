"""The dashboard and alarms in template.yaml name only metrics that exist, with the right dimensions."""

from __future__ import annotations

import json
import re

import pytest

from kimiyi.metrics import names as metric_names
from kimiyi_local.template import load_template

# What AWS publishes, per namespace and dimension set (checked facts: shared/reference/aws-notes.md).
AWS_METRICS = {
    ("AWS/ApiGateway", ("ApiId",)): {"4xx", "5xx", "Count", "Latency", "IntegrationLatency"},
    ("AWS/ApiGateway", ("ApiId", "Stage")): {
        "ConnectCount",
        "MessageCount",
        "IntegrationError",
        "ClientError",
        "ExecutionError",
        "IntegrationLatency",
    },
    ("AWS/Lambda", ("FunctionName", "Resource")): {
        "ProvisionedConcurrencyUtilization",
        "ProvisionedConcurrencySpilloverInvocations",
        "ProvisionedConcurrentExecutions",
        "Invocations",
        "Errors",
        "Duration",
        "Throttles",
    },
}
# Which resource each AWS dimension must point at.
API_DIMENSION = {("ApiId",): "${HttpApi}", ("ApiId", "Stage"): "${WebSocketApi}"}


@pytest.fixture(scope="module")
def template():
    return load_template()


@pytest.fixture(scope="module")
def powertools(template):
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    return env["POWERTOOLS_METRICS_NAMESPACE"], env["POWERTOOLS_SERVICE_NAME"]


def emitted() -> set[str]:
    return {value for name, value in vars(metric_names).items() if name.isupper() and isinstance(value, str)}


def dashboard_metrics(template) -> list[tuple[str, str, dict[str, str]]]:
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    found = []
    for widget in json.loads(body)["widgets"]:
        for entry in widget["properties"]["metrics"]:
            plain = [part for part in entry if isinstance(part, str)]
            if not plain:
                continue  # a metric-math expression
            namespace, name, *pairs = plain
            found.append((namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True))))
    return found


def alarm_metrics(template) -> list[tuple[str, str, dict[str, str]]]:
    found = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = resource["Properties"]
        stats = [m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m]
        if "MetricName" in props:
            stats.append(props)
        for metric in stats:
            dimensions = {d["Name"]: _text(d["Value"]) for d in metric.get("Dimensions", [])}
            found.append((metric["Namespace"], metric["MetricName"], dimensions))
    return found


def _text(value) -> str:
    if isinstance(value, dict):
        return f"${{{value['Ref']}}}" if "Ref" in value else value.get("Fn::Sub", str(value))
    return str(value)


def test_the_code_emits_the_metrics_the_issue_asks_for():
    assert {
        "TurnLatency",
        "FirstTokenTime",
        "CacheHit",
        "CacheMiss",
        "Failover",
        "TurnError",
        "Turn",
    } <= emitted()


@pytest.mark.parametrize("source", [dashboard_metrics, alarm_metrics])
def test_every_charted_or_alarmed_metric_exists(template, powertools, source):
    namespace, service = powertools
    metrics = source(template)
    assert metrics
    for metric_namespace, name, dimensions in metrics:
        if metric_namespace == namespace:
            assert name in emitted(), f"{name} is not a metric the code emits"
            assert dimensions == {"service": service}, f"{name}: Powertools adds only service={service}"
            continue
        key = (metric_namespace, tuple(sorted(dimensions)))
        assert key in AWS_METRICS, f"{metric_namespace} {name}: no such dimension set {sorted(dimensions)}"
        assert name in AWS_METRICS[key], (
            f"{metric_namespace} {name} is not published with {sorted(dimensions)}"
        )
        if metric_namespace == "AWS/ApiGateway":
            assert dimensions["ApiId"] == API_DIMENSION[key[1]]
        if metric_namespace == "AWS/Lambda":
            function = dimensions["FunctionName"]
            assert dimensions["Resource"] == f"{function}:live", "provisioned concurrency lives on the alias"


def test_alarms_cover_latency_errors_and_spillover(template):
    alarms = {
        k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"
    }
    latency = alarms["TurnLatencyP90Alarm"]
    assert (latency["MetricName"], latency["ExtendedStatistic"], latency["Threshold"]) == (
        "TurnLatency",
        "p90",
        250,
    )
    rate = next(m for m in alarms["TurnErrorRateAlarm"]["Metrics"] if m.get("ReturnData"))
    assert (
        re.fullmatch(r"100 \* errors / turns", rate["Expression"])
        and alarms["TurnErrorRateAlarm"]["Threshold"] == 5
    )
    spilled = {
        a["Dimensions"][0]["Value"]["Ref"]
        for a in alarms.values()
        if a.get("MetricName", "").endswith("SpilloverInvocations")
    }
    assert spilled == {"RelayFunction", "TwimlFunction"}
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms.values())
