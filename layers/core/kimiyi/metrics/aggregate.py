"""Figures over many turns: the exact summary of one call, and the additive aggregate of a time window.

An `Aggregate` is nothing but counters (turns, errors, cache hits, one counter per histogram bin...),
so aggregates of different minutes combine by addition, and the store keeps each minute's with atomic
ADDs: no read-modify-write, no lost update when many turns end in the same minute. `counters()` and
`from_counters()` are its flat form, the attribute names the store writes.

Both summaries have one shape (`summary()`), so a client reads a call and a window the same way; a
call's percentiles are exact, a window's are estimated from the histogram (see histogram.py for the
error bound).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .histogram import Histogram, exact_percentile
from .record import TurnRecord

PERCENTILES = (50, 90, 95, 99)

# Flat counter names (also the DynamoDB attribute names of an aggregate item).
_SCALARS = {
    "turns": "turns",
    "errors": "errors",
    "cache_hits": "cacheHits",
    "cache_misses": "cacheMisses",
    "failovers": "failovers",
    "interrupted": "interrupted",
}
_HISTOGRAMS = {"latency": "lat", "first_token": "ftt"}  # prefix: <p>N, <p>Sum, <p>_<bin>
_PROVIDER = "prov_"
_BIN = re.compile(r"^(lat|ftt)_(\d{3})$")


def provider_counter(name: str) -> str:
    """A provider's counter name: configured names are short words, but keep the attribute tame."""
    return _PROVIDER + (re.sub(r"[^A-Za-z0-9_-]", "_", name)[:40] or "unknown")


@dataclass
class Aggregate:
    turns: int = 0
    errors: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    failovers: int = 0
    interrupted: int = 0
    latency: Histogram = field(default_factory=Histogram)
    first_token: Histogram = field(default_factory=Histogram)
    providers: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of_turn(cls, record: TurnRecord) -> Aggregate:
        one = cls(turns=1, failovers=record.failovers, interrupted=int(record.interrupted))
        if record.cache_hit is not None:
            one.cache_hits, one.cache_misses = int(record.cache_hit), int(not record.cache_hit)
        if record.latency_ms is not None:
            one.latency.add(record.latency_ms)
        if record.first_token_ms is not None:
            one.first_token.add(record.first_token_ms)
        if record.provider:
            one.providers[provider_counter(record.provider)[len(_PROVIDER) :]] = 1
        return one

    @classmethod
    def of_failure(cls) -> Aggregate:
        """A turn that failed and spoke the holding phrase: a turn, and an error."""
        return cls(turns=1, errors=1)

    @classmethod
    def of_records(cls, records: Iterable[TurnRecord], errors: int = 0) -> Aggregate:
        total = cls(turns=errors, errors=errors)
        for record in records:
            total.merge(cls.of_turn(record))
        return total

    def merge(self, other: Aggregate) -> None:
        for name in _SCALARS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latency.merge(other.latency)
        self.first_token.merge(other.first_token)
        for name, count in other.providers.items():
            self.providers[name] = self.providers.get(name, 0) + count

    # ------------------------------------------------------------------ the flat, additive form
    def counters(self) -> dict[str, int | float]:
        """Every non-zero counter by its attribute name; adding these to stored ones is the merge."""
        flat: dict[str, int | float] = {key: getattr(self, name) for name, key in _SCALARS.items()}
        for name, prefix in _HISTOGRAMS.items():
            histogram: Histogram = getattr(self, name)
            flat[f"{prefix}N"] = histogram.count
            flat[f"{prefix}Sum"] = round(histogram.total_ms, 3)
            flat.update({f"{prefix}_{index:03d}": times for index, times in histogram.counts.items()})
        flat.update({_PROVIDER + name: count for name, count in self.providers.items()})
        return {key: value for key, value in flat.items() if value}

    @classmethod
    def from_counters(cls, flat: Mapping[str, int | float]) -> Aggregate:
        """Reads the counters back; other attributes (keys, expiry) are ignored. Bad values raise."""
        scalars = {name: _whole(flat.get(key, 0), key) for name, key in _SCALARS.items()}
        histograms = {}
        for name, prefix in _HISTOGRAMS.items():
            bins = {
                int(found.group(2)): _whole(value, key)
                for key, value in flat.items()
                if (found := _BIN.match(key)) and found.group(1) == prefix
            }
            histograms[name] = Histogram.from_counts(bins, float(flat.get(f"{prefix}Sum", 0)))
        providers = {
            key[len(_PROVIDER) :]: _whole(value, key)
            for key, value in flat.items()
            if key.startswith(_PROVIDER)
        }
        read = cls(latency=histograms["latency"], first_token=histograms["first_token"], providers=providers)
        for name, value in scalars.items():
            setattr(read, name, value)
        return read

    # ------------------------------------------------------------------ what the API shows
    def summary(self, *, exact: Mapping[str, list[float]] | None = None) -> dict:
        """The figures. With `exact` (a call's own values) percentiles are exact, else estimated."""
        needing_llm = self.cache_hits + self.cache_misses
        return {
            "turns": self.turns,
            "errors": self.errors,
            "turnLatencyMs": _distribution(self.latency, (exact or {}).get("latency")),
            "firstTokenMs": _distribution(self.first_token, (exact or {}).get("first_token")),
            "cacheHits": self.cache_hits,
            "cacheMisses": self.cache_misses,
            "cacheHitRate": round(self.cache_hits / needing_llm, 4) if needing_llm else None,
            "failovers": self.failovers,
            "interrupted": self.interrupted,
            "providers": dict(sorted(self.providers.items())),
        }


def call_summary(records: Iterable[TurnRecord], errors: int = 0) -> dict:
    """One call's summary, with exact percentiles from its turns."""
    records = list(records)
    exact = {
        "latency": [r.latency_ms for r in records if r.latency_ms is not None],
        "first_token": [r.first_token_ms for r in records if r.first_token_ms is not None],
    }
    return Aggregate.of_records(records, errors).summary(exact=exact)


def _distribution(histogram: Histogram, exact: list[float] | None) -> dict:
    count = histogram.count
    average = histogram.average()
    figures: dict[str, int | float | None] = {
        "count": count,
        "avg": None if average is None else round(average, 2),
    }
    for percent in PERCENTILES:
        value = exact_percentile(exact, percent) if exact is not None else histogram.percentile(percent)
        figures[f"p{percent}"] = None if value is None else round(value, 2)
    return figures


def _whole(value: int | float, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value != int(value):
        raise ValueError(f"aggregate counter {key} must be a whole number >= 0, not {value!r}")
    return int(value)
