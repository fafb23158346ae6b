"""template.yaml is the one source of truth: the local stack reads it, and every route has sample events."""

from __future__ import annotations

import pytest

from kimiyi_local.events import http_event
from kimiyi_local.template import TemplateError, read_stack
from tests.events import events_for, http_event_stem, load, websocket_event_stem

LOCAL = "http://127.0.0.1:3999"


@pytest.fixture(scope="module")
def spec():
    return read_stack(LOCAL)


def test_every_http_route_has_a_sample_event_with_its_route_key(spec):
    assert spec.http_routes, "the template declares no HTTP route"
    for route in spec.http_routes:
        files = events_for(http_event_stem(route.route_key), "http")
        assert files, (
            f"no event in events/http/ for {route.route_key} ({http_event_stem(route.route_key)}.json)"
        )
        for path in files:
            event = load(path)
            assert event["routeKey"] == route.route_key, path.name
            assert event["requestContext"]["http"]["method"] == route.method, path.name


def test_every_websocket_route_has_a_sample_event(spec):
    for route_key in spec.websocket_routes:
        files = events_for(websocket_event_stem(route_key), "websocket")
        assert files, f"no event in events/websocket/ for {route_key}"
        for path in files:
            assert load(path)["requestContext"]["routeKey"] == route_key, path.name


def test_sample_events_and_the_local_stack_build_the_same_shape(spec):
    """The local stack's events carry every key the hand-written samples (AWS's shape) carry."""
    for route in spec.http_routes:
        sample = load(events_for(http_event_stem(route.route_key), "http")[0])
        built = http_event(
            method=route.method,
            path=sample["rawPath"],
            raw_query="",
            headers=[("host", "127.0.0.1"), ("user-agent", "test")],
            body=b"",
            route_key=route.route_key,
            path_parameters=sample.get("pathParameters", {}),
            domain_name="127.0.0.1:3999",
            source_ip="127.0.0.1",
        )
        missing_top = set(sample) - set(built) - {"body", "queryStringParameters", "cookies"}
        assert not missing_top, f"{route.route_key}: local events lack {missing_top}"
        # The local stack adds `authorizer` only after running the route's authorizer, as API Gateway does.
        assert set(sample["requestContext"]) - {"authorizer"} <= set(built["requestContext"])
        assert set(sample["requestContext"]["http"]) == set(built["requestContext"]["http"])


def test_tables_come_from_the_template_with_their_ttl(spec):
    tables = {t.name: t for t in spec.tables}
    assert set(tables) == {"CallsTable", "CacheTable", "IdempotencyTable"}
    assert tables["CallsTable"].ttl_attribute == "expiresAt"
    assert tables["CacheTable"].ttl_attribute == "expiresAt"
    assert tables["IdempotencyTable"].ttl_attribute == "expiration"  # Powertools' attribute


def test_function_environment_is_resolved_with_local_values(spec):
    health = spec.functions["HealthFunction"]
    assert health.environment["CALLS_TABLE"] == "CallsTable"
    assert health.environment["SECRETS_PATH"] == "/kimiyi/dev"
    assert health.module == "health_handler" and health.attribute == "lambda_handler"
    assert health.code_dir.name == "health"
    assert health.timeout_s == 5 and health.memory_mb == 512


def test_handler_modules_have_unique_names(spec):
    modules = [f.module for f in spec.functions.values()]
    assert len(modules) == len(set(modules))


def test_parameter_overrides_reach_the_environment():
    spec = read_stack(LOCAL, {"Stage": "qa", "PublicBaseUrl": LOCAL})
    env = spec.functions["HealthFunction"].environment
    assert env["STAGE"] == "qa"
    assert env["PUBLIC_BASE_URL"] == LOCAL


def test_execute_api_urls_become_the_local_stacks_address(tmp_path):
    template = tmp_path / "template.yaml"
    template.write_text(
        """
Resources:
  Api: {Type: AWS::ApiGatewayV2::Api, Properties: {ProtocolType: WEBSOCKET}}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: fn_handler.handler
      Environment:
        Variables:
          WS: !Sub "wss://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/prod"
          MISSING: !Ref Nowhere
"""
    )
    with pytest.raises(TemplateError, match="Nowhere"):
        read_stack(LOCAL, path=template)
    template.write_text(template.read_text().replace("          MISSING: !Ref Nowhere\n", ""))
    assert read_stack(LOCAL, path=template).functions["Fn"].environment["WS"] == "ws://127.0.0.1:3999/prod"
