"""The health report: a pure function of what the adapters observed, so it is tested without AWS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import __version__
from .targets import TARGETS


@dataclass(frozen=True)
class Probe:
    """One dependency check: a table reachable, a secret present, a provider configured."""

    name: str
    ok: bool
    latency_ms: float | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"ok": self.ok}
        if self.latency_ms is not None:
            result["latencyMs"] = round(self.latency_ms, 1)
        if self.detail:
            result["detail"] = self.detail
        return result


def health_report(
    *,
    stage: str,
    tables: list[Probe],
    llm: dict[str, Any],
    twilio: dict[str, Any],
    features: dict[str, bool],
    current: dict[str, Any] | None = None,
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 200 when every required dependency answers, else 503 naming what failed."""
    failing = [f"table:{probe.name}" for probe in tables if not probe.ok]
    if llm.get("ok") is False:
        failing.append("llm:config")
    warnings = []
    if not llm.get("live"):
        warnings.append("no LLM provider configured: the scripted responder answers every turn")
    if not twilio.get("configured"):
        warnings.append("Twilio account not configured: calls can be staged (dryRun) but not placed")
    body = {
        "status": "unhealthy" if failing else "healthy",
        "version": __version__,
        "stage": stage,
        "failing": failing,
        "warnings": warnings,
        "dependencies": {"tables": {probe.name: probe.as_dict() for probe in tables}},
        "llm": llm,
        "twilio": twilio,
        "features": features,
        "targets": TARGETS,
        "current": current or {},
    }
    return (503 if failing else 200), body
