"""`make dev`'s stack answers health over HTTP with the template's tables reachable."""

import httpx
import pytest

pytestmark = pytest.mark.e2e


def test_health_over_http_reports_the_tables_reachable(app_stack):
    response = httpx.get(f"{app_stack.base_url}/api/health-optimized", timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "healthy"
    assert {name: t["ok"] for name, t in body["dependencies"]["tables"].items()} == {
        "calls": True,
        "cache": True,
        "idempotency": True,
    }
    assert "local-auth-token" not in response.text and "local-dev-key" not in response.text
