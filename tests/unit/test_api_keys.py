"""API keys: which configured key a request presented, identified by a hash, compared in constant time."""

from __future__ import annotations

import pytest

from kimiyi.api_keys import ApiKeys, authorize, key_id


def test_the_right_key_is_identified_by_its_hash_not_itself():
    keys = ApiKeys.parse("local-dev-key")
    ident = keys.identify("local-dev-key")
    assert ident == key_id("local-dev-key")
    assert ident.startswith("key_") and len(ident) == 16
    assert "local-dev-key" not in ident


@pytest.mark.parametrize(
    "presented", ["wrong-key", "local-dev-ke", "local-dev-key2", "LOCAL-DEV-KEY", "", None]
)
def test_anything_else_is_not_a_key(presented):
    assert ApiKeys.parse("local-dev-key").identify(presented) is None


def test_several_keys_allow_rotation_and_each_has_its_own_id():
    keys = ApiKeys.parse(" old-key , new-key,,old-key ")
    assert keys.ids == (key_id("old-key"), key_id("new-key"))  # blanks and repeats dropped
    assert keys.identify("old-key") == key_id("old-key")
    assert keys.identify("new-key") == key_id("new-key")
    assert key_id("old-key") != key_id("new-key")


def test_surrounding_whitespace_in_the_header_is_ignored():
    assert ApiKeys.parse("k1").identify("  k1 ") == key_id("k1")


def test_no_configured_key_means_nobody_gets_in():
    keys = ApiKeys.parse(" , ")
    assert not keys
    assert keys.identify("") is None and keys.identify("anything") is None


def test_authorize_gives_the_simple_response_shape():
    keys = ApiKeys.parse("k1,k2")
    assert authorize("k2", keys) == {"isAuthorized": True, "context": {"keyId": key_id("k2")}}
    assert authorize("k3", keys) == {"isAuthorized": False}
    assert authorize(None, keys) == {"isAuthorized": False}


def test_key_ids_are_stable():
    assert key_id("local-dev-key") == "key_ed5a18fb8f80"
