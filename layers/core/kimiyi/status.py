"""Assembles the health report from the adapters' observations (the health function's one service call)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .adapters.dynamodb import probe_tables
from .adapters.metrics_store import PROBE_CONFIG, open_metrics_store
from .health import current_figures, health_report
from .llm import LLMConfigError, chain_from_env, env_with_key_stand_ins
from .metrics.window import plan_window
from .settings import Settings

CURRENT_WINDOW_MINUTES = 15  # "current" figures: the last quarter of an hour


def llm_status(settings: Settings) -> dict[str, Any]:
    """The failover chain as configured: names, models and hosts, never keys (which health cannot read:
    it learns only whether each is set)."""
    try:
        providers = chain_from_env(env_with_key_stand_ins(settings)).describe()
    except LLMConfigError as error:  # names the variable, never its value
        return {"ok": False, "error": str(error), "chain": ["scripted"], "live": False}
    chain = [p["name"] for p in providers]
    return {"ok": True, "chain": chain, "providers": providers, "live": chain != ["scripted"]}


def twilio_status(settings: Settings, token_source: str | None) -> dict[str, Any]:
    return {
        "configured": bool(settings.get("TWILIO_ACCOUNT_SID") and token_source),
        "accountSidSet": bool(settings.get("TWILIO_ACCOUNT_SID")),
        "authTokenSource": token_source,
    }


def recent_figures(settings: Settings, now: float | None = None) -> Callable[[], dict[str, Any]]:
    """p50/p95 turn latency and cache hit rate over the last minutes, from the aggregates (a
    BatchGetItem of at most 15 small items), as a reader to run beside the table probes. The boto3
    resource is made here, on the calling thread: boto3's default session is not thread-safe. Any
    failure is reported in the figures, never raised: they inform, health answers without them."""
    minutes = CURRENT_WINDOW_MINUTES
    if not settings.tables.calls:
        return lambda: current_figures(None, window_minutes=minutes, error="calls table not configured")
    try:
        store = open_metrics_store(settings.tables.calls, PROBE_CONFIG)
    except Exception as error:
        failed = type(error).__name__
        return lambda: current_figures(None, window_minutes=minutes, error=failed)

    def read() -> dict[str, Any]:
        try:
            plan = plan_window(int((time.time() if now is None else now) * 1000), minutes)
            summary = store.window(plan).summary()
        except Exception as error:
            return current_figures(None, window_minutes=minutes, error=type(error).__name__)
        return current_figures(summary, window_minutes=minutes)

    return read


def check_health(settings: Settings) -> tuple[int, dict[str, Any]]:
    # The figures' read runs beside the table probes: both are bounded by one-second timeouts.
    with ThreadPoolExecutor(max_workers=1) as pool:
        recent = pool.submit(recent_figures(settings))
        tables = probe_tables(settings.tables.as_dict())
        current = recent.result()
    token_source = settings.secret_source("twilio-auth-token")  # whether set, never its value
    return health_report(
        stage=settings.stage,
        tables=tables,
        llm=llm_status(settings),
        twilio=twilio_status(settings, token_source),
        features={
            "conversationRelayStreaming": bool(settings.get("WEBSOCKET_URL")),
            "classicGatherFallback": True,
            "apiKeyAuth": bool(settings.tenant_keys_source()),
        },
        current=current,
    )
