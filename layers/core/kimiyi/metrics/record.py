"""One turn's figures, as the relay knows them once the turn has spoken and saved its state."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # types only: reporting a turn's figures must not load the turn pipeline
    from ..conversation import TurnOutcome


class TurnReportLike(Protocol):
    """The relay's TurnReport (kimiyi.relay.service), described here so the domain does not import it."""

    @property
    def tracking_id(self) -> str: ...
    @property
    def latency_ms(self) -> float | None: ...
    @property
    def frames(self) -> int: ...
    @property
    def outcome(self) -> TurnOutcome | None: ...
    @property
    def gone(self) -> bool: ...


def _ms(value: Any, name: str, *, optional: bool = True) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of milliseconds >= 0, not {value!r}")
    return round(float(value), 3)


def _count(value: Any, name: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, not {value!r}")
    return value


def _text(value: Any, name: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, not {value!r}")
    return value


@dataclass(frozen=True)
class TurnRecord:
    tracking_id: str
    turn: int  # 1 for the caller's first turn (CallState.turns after the turn)
    at_ms: int  # epoch milliseconds when the frame was received
    latency_ms: float | None  # frame received -> first text frame sent; None when nothing was said
    first_token_ms: float | None  # LLM request -> first token; None when no LLM was asked
    frames: int = 0
    provider: str | None = None  # who wrote the reply: a provider's name, "cache", or None (no LLM needed)
    failovers: int = 0
    failures: tuple[str, ...] = ()  # "provider:reason" for each provider that failed first
    cache_hit: bool | None = None  # None: the turn needed no LLM answer
    interrupted: bool = False
    gone: bool = False  # the caller hung up while the turn spoke
    language: str = ""
    node: str = ""
    action: str = "continue"
    marks: Mapping[str, float] = field(default_factory=dict)  # ms since received (DESIGN §4)
    # Replies a provider cut short mid-stream: {"fault": "provider:reason (detail)", "kept": the words
    # the caller heard of it, "by": who went on (a provider, or "repeat-request")}
    recoveries: tuple[Mapping[str, str], ...] = ()

    def __post_init__(self) -> None:
        _text(self.tracking_id, "trackingId")
        if not self.tracking_id:
            raise ValueError("trackingId must not be empty")
        _count(self.turn, "turn", minimum=1)
        _count(self.at_ms, "at")
        # Stored and shown to the microsecond; frozen, so normalised through object.__setattr__.
        object.__setattr__(self, "latency_ms", _ms(self.latency_ms, "latencyMs"))
        object.__setattr__(self, "first_token_ms", _ms(self.first_token_ms, "firstTokenMs"))
        object.__setattr__(self, "failures", tuple(self.failures))
        _count(self.frames, "frames")
        _count(self.failovers, "failovers")
        _text(self.provider, "provider", optional=True)
        if self.cache_hit is not None and not isinstance(self.cache_hit, bool):
            raise ValueError(f"cacheHit must be true, false or null, not {self.cache_hit!r}")
        marks = {}
        for name, value in self.marks.items():
            _text(name, "a mark's name")
            marks[name] = _ms(value, f"marks.{name}", optional=False)
        object.__setattr__(self, "marks", marks)
        recoveries = []
        for recovery in self.recoveries:
            if not isinstance(recovery, Mapping) or set(recovery) != {"fault", "kept", "by"}:
                raise ValueError(f"a recovery must have fault, kept and by, not {recovery!r}")
            recoveries.append({name: _text(recovery[name], f"recoveries.{name}") for name in recovery})
        object.__setattr__(self, "recoveries", tuple(recoveries))

    @classmethod
    def from_report(cls, report: TurnReportLike, *, at_ms: int, scripted_provider: str) -> TurnRecord:
        """`scripted_provider` is the chain's scripted responder: a turn it answered with no failure
        before asked no LLM, so its near-zero "first token" is not an LLM's first-token time."""
        outcome = report.outcome
        if outcome is None:
            raise ValueError("a turn without an outcome has no figures to record")
        marks = {name: max(0.0, ms) for name, ms in outcome.marks.as_ms().items()}
        # A turn the cache answered whole asked no LLM; nor did one the scripted responder answered first.
        asked_llm = (
            outcome.provider is not None
            and outcome.cache_hit is not True
            and not (outcome.provider == scripted_provider and outcome.failovers == 0)
        )
        first_token = None
        if asked_llm and "llmRequest" in marks and "firstToken" in marks:
            first_token = max(0.0, marks["firstToken"] - marks["llmRequest"])
        return cls(
            tracking_id=report.tracking_id,
            turn=outcome.state.turns,
            at_ms=at_ms,
            latency_ms=None if report.latency_ms is None else max(0.0, report.latency_ms),
            first_token_ms=first_token,
            frames=report.frames,
            provider=outcome.provider,
            failovers=outcome.failovers,
            failures=tuple(outcome.failures),
            cache_hit=outcome.cache_hit,
            interrupted=outcome.interrupted,
            gone=report.gone,
            language=outcome.state.language,
            node=outcome.state.node_id,
            action=outcome.action,
            marks=marks,
            recoveries=tuple({"fault": r.fault, "kept": r.kept, "by": r.by} for r in outcome.recoveries),
        )

    def to_dict(self) -> dict[str, Any]:
        """The API's (and the stored item's) shape: camelCase, JSON types."""
        return {
            "trackingId": self.tracking_id,
            "turn": self.turn,
            "at": self.at_ms,
            "latencyMs": self.latency_ms,
            "firstTokenMs": self.first_token_ms,
            "frames": self.frames,
            "provider": self.provider,
            "failovers": self.failovers,
            "failures": list(self.failures),
            "cacheHit": self.cache_hit,
            "interrupted": self.interrupted,
            "gone": self.gone,
            "language": self.language,
            "node": self.node,
            "action": self.action,
            "marks": dict(self.marks),
            "recoveries": [dict(r) for r in self.recoveries],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TurnRecord:
        """The inverse of `to_dict`; a malformed record raises ValueError naming the field."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a turn record must be an object, not {type(data).__name__}")
        missing = [name for name in ("trackingId", "turn", "at") if name not in data]
        if missing:
            raise ValueError(f"a turn record lacks {', '.join(missing)}")
        failures = data.get("failures") or []
        marks = data.get("marks") or {}
        if not isinstance(failures, list | tuple) or not all(isinstance(f, str) for f in failures):
            raise ValueError(f"failures must be a list of strings, not {failures!r}")
        if not isinstance(marks, Mapping):
            raise ValueError(f"marks must be an object, not {marks!r}")
        recoveries = data.get("recoveries") or []
        if not isinstance(recoveries, list | tuple):
            raise ValueError(f"recoveries must be a list, not {recoveries!r}")
        return cls(
            tracking_id=data["trackingId"],
            turn=data["turn"],
            at_ms=data["at"],
            latency_ms=data.get("latencyMs"),
            first_token_ms=data.get("firstTokenMs"),
            frames=data.get("frames", 0),
            provider=data.get("provider"),
            failovers=data.get("failovers", 0),
            failures=tuple(failures),
            cache_hit=data.get("cacheHit"),
            interrupted=bool(data.get("interrupted", False)),
            gone=bool(data.get("gone", False)),
            language=_text(data.get("language", ""), "language") or "",
            node=_text(data.get("node", ""), "node") or "",
            action=_text(data.get("action", "continue"), "action") or "continue",
            marks=dict(marks),
            recoveries=tuple(recoveries),
        )
