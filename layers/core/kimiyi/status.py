"""Assembles the health report from the adapters' observations (the health function's one service call)."""

from __future__ import annotations

from typing import Any

from .adapters.dynamodb import probe_tables
from .health import health_report
from .llm import LLMConfigError, chain_from_env, env_with_secrets
from .settings import Settings


def llm_status(settings: Settings) -> dict[str, Any]:
    """The failover chain as configured: names, models and hosts, never keys."""
    try:
        providers = chain_from_env(env_with_secrets(settings)).describe()
    except LLMConfigError as error:  # names the variable, never its value
        return {"ok": False, "error": str(error), "chain": ["scripted"], "live": False}
    chain = [p["name"] for p in providers]
    return {"ok": True, "chain": chain, "providers": providers, "live": chain != ["scripted"]}


def twilio_status(settings: Settings) -> dict[str, Any]:
    token_source = settings.secret_source("twilio-auth-token")
    return {
        "configured": bool(settings.get("TWILIO_ACCOUNT_SID") and token_source),
        "accountSidSet": bool(settings.get("TWILIO_ACCOUNT_SID")),
        "authTokenSource": token_source,
    }


def check_health(settings: Settings) -> tuple[int, dict[str, Any]]:
    return health_report(
        stage=settings.stage,
        tables=probe_tables(settings.tables.as_dict()),
        llm=llm_status(settings),
        twilio=twilio_status(settings),
        features={
            "conversationRelayStreaming": bool(settings.get("WEBSOCKET_URL")),
            "classicGatherFallback": True,
            "apiKeyAuth": bool(settings.secret_source("api-keys")),
        },
    )
