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
