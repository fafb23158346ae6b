"""API keys: which tenant a presented key opens, from digests only, compared in constant time."""

from __future__ import annotations

import pytest

from kimiyi.api_errors import ApiError
from kimiyi.api_keys import (
    DEFAULT_TENANT,
    Grant,
    TenantKeys,
    authorize,
    caller_keys,
    key_digest,
    key_id,
    require_tenant,
    tenant_of,
)


def test_a_bare_local_key_belongs_to_the_default_tenant_and_is_named_by_its_hash():
    grant = TenantKeys.from_plain("local-dev-key").identify("local-dev-key")
    assert grant == Grant(DEFAULT_TENANT, key_id("local-dev-key"))
    assert grant.key_id.startswith("key_") and len(grant.key_id) == 16
    assert "local-dev-key" not in grant.key_id


def test_a_second_local_tenant_is_one_more_entry():
    keys = TenantKeys.from_plain("local-dev-key, acme:acme-key")
    assert keys.identify("acme-key") == Grant("acme", key_id("acme-key"))
    assert keys.identify("local-dev-key").tenant_id == DEFAULT_TENANT
    assert keys.tenants == {"default", "acme"}


def test_a_key_may_contain_a_colon_after_the_tenant():
    assert TenantKeys.from_plain("acme:a:b").identify("a:b") == Grant("acme", key_id("a:b"))


@pytest.mark.parametrize(
    "presented", ["wrong-key", "local-dev-ke", "local-dev-key2", "LOCAL-DEV-KEY", "", "   ", None]
)
def test_anything_else_opens_nothing(presented):
    assert TenantKeys.from_plain("local-dev-key").identify(presented) is None


def test_stored_digests_open_their_tenant_and_the_key_itself_is_never_needed():
    stored = {"acme": f"{key_digest('k1')}, {key_digest('k2')}", "globex": key_digest("k3")}
    keys = TenantKeys.from_digests(stored)
    assert keys.identify("k2") == Grant("acme", key_id("k2"))
    assert keys.identify("k3") == Grant("globex", key_id("k3"))
    assert keys.identify(key_digest("k1")) is None  # a digest is not a key
    assert not keys.problems


def test_a_digest_under_two_tenants_opens_neither_and_says_so():
    keys = TenantKeys.from_digests({"acme": key_digest("shared"), "globex": key_digest("shared")})
    assert keys.identify("shared") is None
    assert keys.problems == (f"{key_id('shared')} is listed under acme, globex: refused",)


def test_malformed_entries_are_reported_without_key_material_and_the_rest_still_work():
    keys = TenantKeys.from_digests(
        {"acme": f"plain-secret,sha256:xyz,{key_digest('good')}", "Bad Tenant!": key_digest("x")}
    )
    assert keys.identify("good") == Grant("acme", key_id("good"))
    assert keys.identify("x") is None
    assert len(keys.problems) == 3
    assert not any("plain-secret" in problem for problem in keys.problems)


def test_malformed_local_entries_are_reported():
    keys = TenantKeys.from_plain("Not A Tenant:key,acme:,good")
    assert keys.identify("good") is not None and keys.identify("key") is None
    assert keys.problems == (
        "KIMIYI_API_KEYS entry 1 is not 'key' or 'tenant:key'",
        "KIMIYI_API_KEYS entry 2 is not 'key' or 'tenant:key'",
    )


def test_no_configured_key_means_nobody_gets_in():
    keys = TenantKeys.from_plain(" , ")
    assert not keys
    assert keys.identify("") is None and keys.identify("anything") is None


def test_authorize_gives_the_simple_response_with_tenant_and_key_id():
    keys = TenantKeys.from_plain("k1,acme:k2")
    assert authorize("k2", keys) == {
        "isAuthorized": True,
        "context": {"tenantId": "acme", "keyId": key_id("k2")},
    }
    assert authorize("k3", keys) == {"isAuthorized": False}
    assert authorize(None, keys) == {"isAuthorized": False}


def test_key_ids_and_digests_are_stable():
    assert key_id("local-dev-key") == "key_ed5a18fb8f80"
    assert key_digest("local-dev-key").startswith("sha256:ed5a18fb8f80")


def _event(context: dict | None) -> dict:
    return {"requestContext": {"authorizer": {"lambda": context}} if context is not None else {}}


def test_the_tenant_is_read_from_the_authorizer_context_only():
    assert tenant_of(_event({"tenantId": "acme", "keyId": "key_1"})) == "acme"
    assert require_tenant(_event({"tenantId": "acme"})) == "acme"
    assert caller_keys(_event({"tenantId": "acme", "keyId": "key_1"})) == {
        "tenantId": "acme",
        "keyId": "key_1",
    }


@pytest.mark.parametrize(
    "context", [None, {}, {"keyId": "key_1"}, {"tenantId": ""}, {"tenantId": 7}, {"tenantId": "../other"}]
)
def test_a_request_without_a_tenant_is_refused_with_a_401(context):
    assert tenant_of(_event(context)) is None
    with pytest.raises(ApiError) as raised:
        require_tenant(_event(context))
    assert raised.value.status == 401 and raised.value.code == "unauthorized"
