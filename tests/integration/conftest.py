"""Handlers under moto, with the environment and tables the template gives them."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.base_backend import BackendDict
from moto.core.models import MockAWS
from moto.dynamodb.models import dynamodb_backends

from kimiyi.adapters import dynamodb as dynamodb_adapter
from kimiyi.adapters.call_records import CallRecords
from kimiyi.adapters.calls_store import CallsStore
from kimiyi.settings import clear_secrets_cache
from kimiyi_local.dynamodb import create_tables
from kimiyi_local.runtime import load_handler
from kimiyi_local.template import read_stack

LOCAL = "http://127.0.0.1:3000"
REGION = "us-east-1"


@pytest.fixture(scope="session")
def stack_spec():
    return read_stack(LOCAL, {"PublicBaseUrl": LOCAL})


@pytest.fixture(scope="session")
def moto_session() -> MockAWS:
    """One moto for the whole run, switched on for each test that asks for `aws`. It leaves boto3's
    default session alone: `aws` keeps one for its tests (moto would drop it each time, and every client
    would load its service model again: that, not moto, was most of a test's setup)."""
    return mock_aws(config={"core": {"reset_boto3_session": False}})


@pytest.fixture(scope="session")
def kept_boto3_session() -> dict:
    """boto3's default session as the last test under `aws` left it (None: boto3 makes one)."""
    return {"session": None}


def fresh_aws(tables) -> None:
    """What a new moto holds, with the template's tables in it, empty: every service but DynamoDB is
    reset as moto resets it; DynamoDB keeps the template's tables and drops their items (and any other
    table), and a table a test deleted is created again."""
    wanted = {table.name for table in tables}
    for backend in list(BackendDict._instances):
        if backend is dynamodb_backends:
            continue
        for account_backend in backend.values():
            account_backend.reset()
        backend.clear()
        BackendDict._instances.remove(backend)
    present: set[str] = set()
    for account_id, account_backend in dynamodb_backends.items():
        for region, backend in account_backend.items():
            for name, table in list(backend.tables.items()):
                if (account_id, region, name in wanted) == (DEFAULT_ACCOUNT_ID, REGION, True):
                    table.items.clear()
                    present.add(name)
                else:
                    del backend.tables[name]
    missing = [table for table in tables if table.name not in present]
    if missing:
        create_tables(boto3.client("dynamodb", region_name=REGION), missing)


@pytest.fixture
def aws(monkeypatch, stack_spec, moto_session, kept_boto3_session):
    """moto for every AWS call, the template's tables there and empty, the functions' environment set."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", kept_boto3_session["session"])  # others' is given back
    moto_session.start(reset=False)
    try:
        fresh_aws(stack_spec.tables)
        dynamodb_adapter.probe_client.cache_clear()
        clear_secrets_cache()  # secrets and their absence are kept for five minutes
        yield
    finally:
        dynamodb_adapter.probe_client.cache_clear()
        moto_session.stop(remove_data=False)
        kept_boto3_session["session"] = boto3.DEFAULT_SESSION


@pytest.fixture
def function_env(monkeypatch, stack_spec):
    """Sets a function's environment from the template; returns the handler."""

    def load(logical_id: str):
        function = stack_spec.functions[logical_id]
        for name, value in function.environment.items():
            monkeypatch.setenv(name, value)
        return load_handler(function)

    return load


@pytest.fixture
def table(aws):
    """The calls table, under moto."""
    return boto3.resource("dynamodb").Table("CallsTable")


@pytest.fixture
def store(table):
    return CallsStore(table)


@pytest.fixture
def records(table):
    return CallRecords(table)
