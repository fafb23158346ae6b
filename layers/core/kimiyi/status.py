"""Assembles the health report from the adapters' observations (the health function's one service call)."""

from __future__ import annotations

from typing import Any

from .adapters.dynamodb import probe_tables
from .health import health_report
from .settings import Settings


def llm_status(settings: Settings) -> dict[str, Any]:
    order = [p.strip() for p in settings.get("LLM_PROVIDER_ORDER", "scripted").split(",") if p.strip()]
    configured = {
        "azure": bool(
            settings.get("AZURE_OPENAI_ENDPOINT") and settings.secret_source("azure-openai-api-key")
        ),
        "openai": bool(settings.secret_source("openai-api-key")),
        "compatible": bool(settings.get("LLM_BASE_URL")),
        "scripted": True,
    }
    chain = [name for name in order if configured.get(name)]
    if "scripted" not in chain:
        chain.append("scripted")
    return {"order": order, "configured": configured, "chain": chain, "live": chain != ["scripted"]}


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
