"""Route and integration changes reach the WebSocket stage on every deploy: the stage deploys itself
(AutoDeploy). A hand-written AWS::ApiGatewayV2::Deployment keeps its logical id from one deploy to the
next, so CloudFormation creates it once and never again; the stage would keep serving the first routes."""

from __future__ import annotations

from kimiyi_local.template import load_template, read_stack


def test_the_stage_deploys_itself_and_no_fixed_deployment_exists():
    resources = load_template()["Resources"]
    assert not [n for n, r in resources.items() if r["Type"] == "AWS::ApiGatewayV2::Deployment"]
    stage = resources["WebSocketStage"]
    assert stage["Properties"]["AutoDeploy"] is True
    assert "DeploymentId" not in stage["Properties"]
    routes = {n for n, r in resources.items() if r["Type"] == "AWS::ApiGatewayV2::Route"}
    assert set(stage["DependsOn"]) == routes  # the first deployment has every route


def test_the_local_stack_still_reads_the_routes_and_the_stage():
    spec = read_stack("http://127.0.0.1:3999")
    assert spec.websocket_routes == {
        "$connect": "RelayFunction",
        "$default": "RelayFunction",
        "$disconnect": "RelayFunction",
    }
    assert spec.websocket_stage == "dev"
