"""DynamoDB access shared by the functions: one client per execution environment, short timeouts."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import boto3
from botocore.config import Config

from ..health import Probe

# Health probes must answer fast even when DynamoDB does not: one attempt, one second.
_PROBE_CONFIG = Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1, "mode": "standard"})


@cache
def probe_client():
    return boto3.client("dynamodb", config=_PROBE_CONFIG)


def _probe(role: str, table_name: str) -> Probe:
    if not table_name:
        return Probe(role, ok=False, detail="table name not configured")
    started = time.perf_counter()
    try:
        status = probe_client().describe_table(TableName=table_name)["Table"]["TableStatus"]
    except Exception as error:  # any failure means "not reachable"; say which kind, never credentials
        return Probe(role, ok=False, latency_ms=_ms(started), detail=type(error).__name__)
    return Probe(role, ok=status in ("ACTIVE", "UPDATING"), latency_ms=_ms(started), detail=status)


def probe_tables(tables: dict[str, str]) -> list[Probe]:
    """Describes every table in parallel; the slowest one bounds the wait."""
    with ThreadPoolExecutor(max_workers=len(tables) or 1) as pool:
        return list(pool.map(_probe, tables.keys(), tables.values()))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
