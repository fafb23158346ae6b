"""Handlers under moto, with the environment and tables the template gives them."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from kimiyi.adapters import dynamodb as dynamodb_adapter
from kimiyi.adapters.call_records import CallRecords
from kimiyi.adapters.calls_store import CallsStore
from kimiyi.settings import clear_secrets_cache
from kimiyi_local.dynamodb import create_tables
from kimiyi_local.runtime import load_handler
from kimiyi_local.template import read_stack

LOCAL = "http://127.0.0.1:3000"


@pytest.fixture(scope="session")
def stack_spec():
    return read_stack(LOCAL, {"PublicBaseUrl": LOCAL})


@pytest.fixture
def aws(monkeypatch, stack_spec):
    """moto for every AWS call, the template's tables created, the functions' environment set."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        create_tables(boto3.client("dynamodb"), stack_spec.tables)
        dynamodb_adapter.probe_client.cache_clear()
        clear_secrets_cache()  # secrets and their absence are kept for five minutes
        yield
        dynamodb_adapter.probe_client.cache_clear()


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
