"""The sample events in events/: one or more per route of template.yaml, named after the route."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import EVENTS


def http_event_stem(route_key: str) -> str:
    """'GET /api/performance-metrics/{trackingId}' -> 'get-api-performance-metrics-trackingId'."""
    method, path = route_key.split(" ", 1)
    slug = re.sub(r"[{}+]", "", path).strip("/").replace("/", "-")
    return f"{method.lower()}-{slug}"


def websocket_event_stem(route_key: str) -> str:
    return route_key.lstrip("$")


def events_for(stem: str, kind: str) -> list[Path]:
    folder = EVENTS / kind
    return sorted(p for p in folder.glob("*.json") if p.stem == stem or p.stem.startswith(f"{stem}--"))


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
