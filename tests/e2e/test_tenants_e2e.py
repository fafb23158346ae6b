"""Two tenants on the local stack, over HTTP as a client would call it: each sees only its own calls."""

from __future__ import annotations

import json

import httpx

from tests.conftest import ROOT

DEFAULT_KEY, ACME_KEY = "local-dev-key", "acme-dev-key"  # the app_stack's two tenants


def staged_call(stack, key: str, idempotency_key: str | None = None) -> httpx.Response:
    body = json.loads((ROOT / "examples" / "clinic-appointment.json").read_text(encoding="utf-8"))
    headers = {"x-api-key": key, **({"Idempotency-Key": idempotency_key} if idempotency_key else {})}
    return httpx.post(
        f"{stack.base_url}/api/make-call-optimized",
        json={**body, "to": "+14155550123", "dryRun": True},
        headers=headers,
        timeout=10,
    )


def metrics(stack, key: str, tracking_id: str) -> httpx.Response:
    return httpx.get(
        f"{stack.base_url}/api/performance-metrics/{tracking_id}", headers={"x-api-key": key}, timeout=10
    )


def test_another_tenants_call_answers_exactly_like_an_unknown_one(app_stack):
    created = staged_call(app_stack, ACME_KEY)
    assert created.status_code == 201
    tracking_id = created.json()["trackingId"]
    assert metrics(app_stack, ACME_KEY, tracking_id).status_code == 200
    foreign = metrics(app_stack, DEFAULT_KEY, tracking_id)
    unknown_id = "trk_" + "x" * (len(tracking_id) - 4)
    unknown = metrics(app_stack, DEFAULT_KEY, unknown_id)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.text == unknown.text.replace(unknown_id, tracking_id)
    assert dict(foreign.headers).keys() == dict(unknown.headers).keys()


def test_one_idempotency_key_in_two_tenants_is_two_calls(app_stack):
    first = staged_call(app_stack, DEFAULT_KEY, "order-1")
    second = staged_call(app_stack, ACME_KEY, "order-1")
    again = staged_call(app_stack, ACME_KEY, "order-1")
    assert first.status_code == second.status_code == again.status_code == 201
    assert first.json()["trackingId"] != second.json()["trackingId"] == again.json()["trackingId"]
    assert again.headers["idempotency-replayed"] == "true"


def test_each_tenants_key_opens_the_window_route_and_a_key_of_no_tenant_does_not(app_stack):
    for key in (DEFAULT_KEY, ACME_KEY):
        window = httpx.get(
            f"{app_stack.base_url}/api/performance-metrics", headers={"x-api-key": key}, timeout=10
        )
        assert window.status_code == 200 and window.json()["success"] is True
    wrong = httpx.get(
        f"{app_stack.base_url}/api/performance-metrics", headers={"x-api-key": "acme"}, timeout=10
    )
    assert wrong.status_code == 403
