"""`make dev`'s stack over real sockets, with input a browser, a fuzzer or a broken client sends."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.e2e
KEY = {"x-api-key": "local-dev-key"}


@pytest.mark.parametrize("route", ["/api/make-call-optimized", "/api/test-optimization"])
@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "application/octet-stream"])
def test_a_body_that_is_not_utf8_reaches_the_handler_and_is_a_400(app_stack, route, content_type):
    # API Gateway hands such a body over base64-encoded; the local stack answered 500 trying to decode it.
    response = httpx.post(
        f"{app_stack.base_url}{route}",
        content=b'{"to": "\xff\xfe"}',
        headers={**KEY, "content-type": content_type},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_json" and "not UTF-8" in response.json()["message"]


BUILDER = "https://builder.example"
PREFLIGHT = {
    "origin": BUILDER,
    "access-control-request-method": "POST",
    "access-control-request-headers": "x-api-key",
}


@pytest.mark.parametrize(
    "path",
    ["/api/make-call-optimized", "/api/test-optimization", "/api/performance-metrics/trk_x", "/api/nowhere"],
)
def test_a_cors_preflight_is_answered_before_routing_and_without_an_api_key(app_stack, path):
    response = httpx.options(f"{app_stack.base_url}{path}", headers=PREFLIGHT, timeout=10)
    assert response.status_code == 204, response.text
    assert response.headers["access-control-allow-origin"] == "*"  # the template's CorsAllowedOrigins
    assert response.headers["access-control-allow-methods"] == "GET,POST,OPTIONS"
    assert response.headers["access-control-allow-headers"] == "content-type,x-api-key,idempotency-key"
    assert response.headers["access-control-max-age"] == "600"
    assert response.content == b""


def test_an_options_request_that_is_not_a_preflight_is_routed(app_stack):
    response = httpx.options(f"{app_stack.base_url}/api/make-call-optimized", timeout=10)
    assert response.status_code == 404  # no OPTIONS route: API Gateway's own 404


def test_a_cross_origin_request_gets_the_origin_and_exposed_headers(app_stack):
    response = httpx.get(
        f"{app_stack.base_url}/api/health-optimized", headers={"origin": BUILDER}, timeout=10
    )
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-expose-headers"] == "retry-after,idempotency-replayed"
    same_origin = httpx.get(f"{app_stack.base_url}/api/health-optimized", timeout=10)
    assert "access-control-allow-origin" not in same_origin.headers
