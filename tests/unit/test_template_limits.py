"""Denial of wallet: every HTTP route and the WebSocket stage are throttled, the routes that spend money
(make-call places calls, test-optimization runs LLM calls for up to 29 s) most tightly, and the control
plane's functions have a concurrency cap, test-optimization's the smallest."""

from __future__ import annotations

from typing import Any

import pytest

from kimiyi_local.template import load_template, read_stack

CONTROL_PLANE = {"HealthFunction", "AuthorizerFunction", "MakeCallFunction", "MetricsFunction"}
# Twilio-facing: a cap would drop live calls' webhooks, frames and status callbacks. They are throttled
# per route and check Twilio's signature; the hot ones may have provisioned concurrency instead.
UNCAPPED = {"TwimlFunction", "CallStatusFunction", "RelayFunction"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def default(template, ref: dict[str, str]) -> float:
    return float(template["Parameters"][ref["Ref"]]["Default"])


def test_every_http_route_is_throttled_and_the_costly_ones_tighter(template):
    props = template["Resources"]["HttpApi"]["Properties"]
    everyone = props["DefaultRouteSettings"]
    assert default(template, everyone["ThrottlingRateLimit"]) > 0
    routes = props["RouteSettings"]
    assert set(routes) == {"POST /api/make-call-optimized", "POST /api/test-optimization"}
    make_call, test_optimization = (
        routes["POST /api/make-call-optimized"],
        routes["POST /api/test-optimization"],
    )
    for limit in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
        assert (
            default(template, test_optimization[limit])
            <= default(template, make_call[limit])
            < default(template, everyone[limit])
        ), limit


def test_route_settings_name_routes_that_exist():
    """A route key API Gateway does not know fails the deployment."""
    known = {route.route_key for route in read_stack("http://127.0.0.1:3999").http_routes}
    routes = load_template()["Resources"]["HttpApi"]["Properties"]["RouteSettings"]
    assert set(routes) <= known


def test_the_websocket_stage_is_throttled(template):
    settings = template["Resources"]["WebSocketStage"]["Properties"]["DefaultRouteSettings"]
    assert default(template, settings["ThrottlingRateLimit"]) > 0
    assert default(template, settings["ThrottlingBurstLimit"]) > 0


def cap(function: dict[str, Any]) -> tuple[str, str] | None:
    value = function["Properties"].get("ReservedConcurrentExecutions")
    if value is None:
        return None
    condition, capped, uncapped = value["Fn::If"]
    assert uncapped == {"Ref": "AWS::NoValue"}  # 0 means uncapped, never "throttle everything"
    return condition, capped["Ref"]


def test_the_control_plane_has_a_concurrency_cap_and_test_optimization_the_smallest(template):
    functions = {n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert set(functions) == CONTROL_PLANE | UNCAPPED | {"TestOptimizationFunction"}
    for name in CONTROL_PLANE:
        assert cap(functions[name]) == ("CapsControlPlane", "ControlPlaneConcurrency"), name
    assert cap(functions["TestOptimizationFunction"]) == (
        "CapsTestOptimization",
        "TestOptimizationConcurrency",
    )
    for name in UNCAPPED:
        assert cap(functions[name]) is None, name
    parameters = template["Parameters"]
    assert (
        0
        < parameters["TestOptimizationConcurrency"]["Default"]
        < parameters["ControlPlaneConcurrency"]["Default"]
    )
    for parameter, condition in (
        ("ControlPlaneConcurrency", "CapsControlPlane"),
        ("TestOptimizationConcurrency", "CapsTestOptimization"),
    ):
        assert template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, 0]}]}


def test_the_hot_functions_keep_their_provisioned_concurrency_switch(template):
    for name, condition in (
        ("RelayFunction", "HasRelayProvisionedConcurrency"),
        ("TwimlFunction", "HasTwimlProvisionedConcurrency"),
    ):
        props = template["Resources"][name]["Properties"]
        assert props["AutoPublishAlias"] == "live"
        assert props["ProvisionedConcurrencyConfig"]["Fn::If"][0] == condition
