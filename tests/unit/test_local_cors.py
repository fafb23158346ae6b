"""The local stack's CORS, read from template.yaml's CorsConfiguration as API Gateway applies it."""

from __future__ import annotations

from kimiyi_local.cors import CorsSpec
from kimiyi_local.stack import LOCAL_PARAMETERS
from kimiyi_local.template import read_stack

LOCAL = "http://127.0.0.1:3999"
BUILDER = "https://builder.example"


def test_a_deployed_stack_has_no_cors_unless_origins_are_named():
    assert read_stack(LOCAL).cors is None


def test_the_template_cors_configuration_is_read():
    cors = read_stack(LOCAL, LOCAL_PARAMETERS).cors
    assert cors == CorsSpec(
        allow_origins=("*",),
        allow_methods=("GET", "POST", "OPTIONS"),
        allow_headers=("content-type", "x-api-key", "idempotency-key"),
        expose_headers=("retry-after", "idempotency-replayed"),
        max_age=600,
    )


def test_allowed_origins_come_from_the_comma_delimited_parameter():
    cors = read_stack(LOCAL, {"CorsAllowedOrigins": f"{BUILDER},https://admin.example"}).cors
    assert cors.allow_origins == (BUILDER, "https://admin.example")


def test_a_preflight_from_an_allowed_origin_gets_the_configured_headers():
    cors = read_stack(LOCAL, {"CorsAllowedOrigins": BUILDER}).cors
    answer = cors.preflight({"origin": BUILDER, "access-control-request-method": "POST"})
    assert answer == {
        "access-control-allow-origin": BUILDER,
        "access-control-allow-methods": "GET,POST,OPTIONS",
        "access-control-allow-headers": "content-type,x-api-key,idempotency-key",
        "access-control-max-age": "600",
        "vary": "origin",
    }


def test_a_preflight_from_another_origin_gets_no_cors_headers():
    cors = read_stack(LOCAL, {"CorsAllowedOrigins": BUILDER}).cors
    assert cors.preflight({"origin": "https://evil.example", "access-control-request-method": "POST"}) == {}


def test_an_options_request_that_is_not_a_preflight_is_routed_as_usual():
    cors = read_stack(LOCAL, LOCAL_PARAMETERS).cors
    assert cors.preflight({"origin": BUILDER}) is None
    assert cors.preflight({"access-control-request-method": "POST"}) is None


def test_responses_carry_the_origin_and_exposed_headers_and_lose_the_integrations_own():
    cors = read_stack(LOCAL, LOCAL_PARAMETERS).cors
    headers = {"content-type": "application/json", "access-control-allow-origin": "https://mine.example"}
    cors.decorate(headers, BUILDER)
    assert headers == {
        "content-type": "application/json",
        "access-control-allow-origin": "*",
        "access-control-expose-headers": "retry-after,idempotency-replayed",
    }
    no_origin = {"access-control-allow-origin": "*"}
    cors.decorate(no_origin, None)
    assert no_origin == {}


def test_a_template_without_cors_configuration_has_none(tmp_path):
    template = tmp_path / "template.yaml"
    template.write_text("Resources:\n  Api: {Type: AWS::Serverless::HttpApi, Properties: {}}\n")
    assert read_stack(LOCAL, path=template).cors is None
    template.write_text(
        "Resources:\n  Api: {Type: AWS::Serverless::HttpApi, Properties: {CorsConfiguration: true}}\n"
    )
    assert read_stack(LOCAL, path=template).cors.allowed_origin(BUILDER) == "*"
