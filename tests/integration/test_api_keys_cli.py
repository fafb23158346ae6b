"""scripts/api_keys.py against moto's SSM: the keys it makes open their tenant through the authorizer's
own loader, and only digests are ever stored."""

from __future__ import annotations

import importlib.util
import io

import boto3
import pytest

from kimiyi.adapters.tenant_keys import load_tenant_keys
from kimiyi.api_keys import Grant, key_digest, key_id
from kimiyi.settings import Settings, clear_secrets_cache
from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("api_keys_cli", ROOT / "scripts" / "api_keys.py")
cli = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cli)


@pytest.fixture
def ssm(aws):
    return boto3.client("ssm")


def run(ssm, capsys, *argv: str, stdin: str = "", monkeypatch=None) -> tuple[int, str]:
    if monkeypatch is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = cli.main(list(argv), ssm=ssm)
    return code, capsys.readouterr().out


def keys_now():
    clear_secrets_cache()
    return load_tenant_keys(Settings({"SECRETS_PATH": "/kimiyi/dev"}))


def test_a_new_key_is_printed_once_stored_as_a_digest_and_opens_its_tenant(ssm, capsys):
    code, out = run(ssm, capsys, "new", "--tenant", "acme")
    key = out.strip().splitlines()[-1]
    assert code == 0 and key.startswith("kv_") and len(key) > 40
    stored = ssm.get_parameter(Name="/kimiyi/dev/tenants/acme", WithDecryption=True)["Parameter"]
    assert stored["Value"] == key_digest(key) and stored["Type"] == "SecureString"
    assert key not in stored["Value"]
    assert keys_now().identify(key) == Grant("acme", key_id(key))


def test_an_existing_key_can_be_carried_over_and_a_second_tenant_added(ssm, capsys, monkeypatch):
    run(ssm, capsys, "add", "--tenant", "default", stdin="local-dev-key\n", monkeypatch=monkeypatch)
    run(ssm, capsys, "add", "--tenant", "globex", stdin="globex-key\n", monkeypatch=monkeypatch)
    keys = keys_now()
    assert keys.identify("local-dev-key").tenant_id == "default"
    assert keys.identify("globex-key").tenant_id == "globex"
    _, listing = run(ssm, capsys, "list")
    assert listing.splitlines() == [f"default: {key_id('local-dev-key')}", f"globex: {key_id('globex-key')}"]


def test_one_key_cannot_be_given_to_two_tenants(ssm, capsys, monkeypatch):
    run(ssm, capsys, "add", "--tenant", "acme", stdin="shared\n", monkeypatch=monkeypatch)
    with pytest.raises(SystemExit, match="already belongs to tenant acme"):
        run(ssm, capsys, "add", "--tenant", "globex", stdin="shared\n", monkeypatch=monkeypatch)


def test_revoking_one_key_keeps_the_other_and_the_last_removes_the_tenant(ssm, capsys, monkeypatch):
    run(ssm, capsys, "add", "--tenant", "acme", stdin="old\n", monkeypatch=monkeypatch)
    run(ssm, capsys, "add", "--tenant", "acme", stdin="new\n", monkeypatch=monkeypatch)
    assert run(ssm, capsys, "revoke", "--tenant", "acme", "--key-id", key_id("old"))[0] == 0
    keys = keys_now()
    assert keys.identify("old") is None and keys.identify("new").tenant_id == "acme"
    assert run(ssm, capsys, "revoke", "--tenant", "acme", "--key-id", key_id("old"))[0] == 1
    run(ssm, capsys, "revoke", "--tenant", "acme", "--key-id", key_id("new"))
    assert not keys_now()
    assert run(ssm, capsys, "list")[1] == ""


def test_hash_prints_the_digest_a_parameter_holds(ssm, capsys, monkeypatch):
    assert run(ssm, capsys, "hash", stdin="local-dev-key\n", monkeypatch=monkeypatch)[
        1
    ].strip() == key_digest("local-dev-key")


@pytest.mark.parametrize("tenant", ["Acme", "-acme", "a/b", "x" * 64, ""])
def test_a_bad_tenant_id_is_refused_before_anything_is_written(ssm, capsys, tenant):
    with pytest.raises(SystemExit):
        cli.main(["new", "--tenant", tenant], ssm=ssm)
    assert ssm.describe_parameters()["Parameters"] == []
