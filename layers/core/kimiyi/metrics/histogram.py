"""A fixed, log-spaced histogram of milliseconds, for aggregates that are summed with DynamoDB's ADD.

Bins: 0 is [0, 1 ms); bin i (1..N) is [EDGES[i-1], EDGES[i]) with EDGES[i] = 1 ms * 1.1**i up to
about 63 s; the last bin holds everything above. Because the layout never changes, two histograms are
merged by adding counts bin by bin, and a minute's histogram is kept as one counter per bin.

Percentiles are nearest-rank (the smallest value with at least p % of the values at or below it). The
estimate is the geometric middle of the bin that holds that value, so for a value v in a bin
[a, 1.1 a): |estimate - v| <= (sqrt(1.1) - 1) * v, about 4.9 % (`RELATIVE_ERROR`). Below 1 ms the
estimate is 0.5 ms (error at most 0.5 ms, `UNDERFLOW_ERROR_MS`); above the last edge (about 63 s, far
beyond the 29 s a Lambda turn can last) it is the last edge and the error is unbounded.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

GROWTH = 1.1
LOWEST_MS = 1.0
HIGHEST_MS = 60_000.0
EDGES: tuple[float, ...] = tuple(
    LOWEST_MS * GROWTH**k for k in range(math.ceil(math.log(HIGHEST_MS / LOWEST_MS, GROWTH)) + 1)
)
BIN_COUNT = len(EDGES) + 1  # the underflow bin, one bin between each pair of edges, the overflow bin
RELATIVE_ERROR = math.sqrt(GROWTH) - 1
UNDERFLOW_ERROR_MS = LOWEST_MS / 2


def bin_of(value_ms: float) -> int:
    """The bin a value falls in. Negative, infinite or NaN values are a bug upstream: they raise."""
    if not isinstance(value_ms, int | float) or not math.isfinite(value_ms) or value_ms < 0:
        raise ValueError(f"a histogram value must be a finite number of milliseconds >= 0, not {value_ms!r}")
    return bisect_right(EDGES, value_ms)


def representative(index: int) -> float:
    """The value a bin stands for when a percentile falls in it."""
    if not 0 <= index < BIN_COUNT:
        raise ValueError(f"histogram bin {index} is outside 0..{BIN_COUNT - 1}")
    if index == 0:
        return LOWEST_MS / 2
    if index == len(EDGES):
        return EDGES[-1]
    return math.sqrt(EDGES[index - 1] * EDGES[index])


def nearest_rank(percent: float, count: int) -> int:
    """1-based rank of the p-th percentile among `count` sorted values (shared by exact and estimated)."""
    if not 0 < percent <= 100:
        raise ValueError(f"a percentile must be in (0, 100], not {percent!r}")
    return max(1, math.ceil(round(percent * count / 100, 9)))


def exact_percentile(values: Iterable[float], percent: float) -> float | None:
    ordered = sorted(values)
    return ordered[nearest_rank(percent, len(ordered)) - 1] if ordered else None


@dataclass
class Histogram:
    """Counts per bin (sparse), plus the exact count and sum so the average is exact."""

    counts: dict[int, int] = field(default_factory=dict)
    total_ms: float = 0.0

    @classmethod
    def of(cls, values: Iterable[float]) -> Histogram:
        histogram = cls()
        for value in values:
            histogram.add(value)
        return histogram

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def add(self, value_ms: float, times: int = 1) -> None:
        index = bin_of(value_ms)
        self.counts[index] = self.counts.get(index, 0) + times
        self.total_ms += value_ms * times

    def merge(self, other: Histogram) -> None:
        for index, times in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + times
        self.total_ms += other.total_ms

    @classmethod
    def from_counts(cls, counts: Mapping[int, int], total_ms: float) -> Histogram:
        for index, times in counts.items():
            representative(index)  # validates the index
            if times < 0:
                raise ValueError(f"histogram bin {index} has a negative count ({times})")
        return cls({i: int(n) for i, n in counts.items() if n}, float(total_ms))

    def percentile(self, percent: float) -> float | None:
        total = self.count
        if not total:
            return None
        rank = nearest_rank(percent, total)
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return representative(index)
        raise AssertionError("unreachable: the ranks add up to the count")

    def average(self) -> float | None:
        total = self.count
        return self.total_ms / total if total else None
