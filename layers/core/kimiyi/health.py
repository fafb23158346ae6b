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


def current_figures(
    summary: dict[str, Any] | None, *, window_minutes: int, error: str = ""
) -> dict[str, Any]:
    """The recent figures beside the targets. `summary` is an aggregate's summary (kimiyi.metrics); with
    no summary the figures are reported unavailable, with `error` saying why, and health stays 200."""
    if summary is None:
        return {
            "available": False,
            "windowMinutes": window_minutes,
            "error": f"could not read the recent figures ({error or 'unknown error'})",
        }
    latency = summary["turnLatencyMs"]
    target_latency = TARGETS["turnLatencyMs"]
    hit_rate = summary["cacheHitRate"]

    def within(value: float | None, limit: float, *, at_least: bool = False) -> bool | None:
        if value is None:
            return None  # no turns in the window: neither met nor missed
        return value >= limit if at_least else value <= limit

    return {
        "available": True,
        "windowMinutes": window_minutes,
        "turns": summary["turns"],
        "errors": summary["errors"],
        "turnLatencyMs": {"p50": latency["p50"], "p90": latency["p90"], "p95": latency["p95"]},
        "cacheHitRate": hit_rate,
        "withinTargets": {
            "turnLatencyP50": within(latency["p50"], target_latency["p50"]),
            "turnLatencyP90": within(latency["p90"], target_latency["p90"]),
            "cacheHitRate": within(hit_rate, TARGETS["cacheHitRate"]["min"], at_least=True),
        },
        "note": "percentiles estimated from the per-minute aggregates (within 5 %)",
    }


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
