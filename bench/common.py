"""Small helpers every benchmark shares: percentiles, a text table, the machine, the JSON result file.

Benchmarks print real measurements; these helpers only summarise and record them, so the same
figures reach the console, bench/results/<name>.json (git-ignored) and any plot.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_PERCENTILES = (50, 95, 99)


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between the two nearest ranks.

    The same definition as numpy's default and `statistics.quantiles(method="inclusive")`: q=0 is
    the minimum, q=100 the maximum, and a single value is every percentile of itself.
    """
    if isinstance(q, bool) or not isinstance(q, int | float) or not 0 <= q <= 100:
        raise ValueError(f"q must be a number from 0 to 100, not {q!r}")
    ordered = sorted(_checked(values))
    if not ordered:
        raise ValueError("percentile of no values: measure at least one sample")
    rank = (len(ordered) - 1) * q / 100
    below = math.floor(rank)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (rank - below)


def summarize(
    values: Iterable[float], percentiles: Sequence[float] = DEFAULT_PERCENTILES
) -> dict[str, float]:
    """n, min, mean, the percentiles as "p50"..., and max, rounded to 0.001."""
    samples = _checked(values)
    if not samples:
        raise ValueError("summary of no values: measure at least one sample")
    summary: dict[str, float] = {"n": len(samples), "min": min(samples), "mean": sum(samples) / len(samples)}
    summary |= {f"p{q:g}": percentile(samples, q) for q in percentiles}
    summary["max"] = max(samples)
    return {key: round(value, 3) for key, value in summary.items()}


def _checked(values: Iterable[float]) -> list[float]:
    samples = list(values)
    for value in samples:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"samples must be finite numbers, got {value!r}")
    return [float(value) for value in samples]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned; floats to 0.1."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(str(h)), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        first, *rest = values
        return "  ".join(
            [first.ljust(widths[0]), *(v.rjust(w) for v, w in zip(rest, widths[1:], strict=True))]
        )

    return "\n".join([line(list(headers)), "  ".join("-" * w for w in widths), *(line(row) for row in cells)])


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{round(value, 1) + 0.0:.1f}"  # + 0.0 turns -0.0 into 0.0
    return str(value)


def machine() -> dict[str, Any]:
    """What the figures were measured on: CPU model, cores, Python, OS."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "os": f"{platform.system()} {platform.release()}",
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass  # not Linux: fall back to what the platform module knows
    return platform.processor() or platform.machine() or "unknown"


def write_result(name: str, figures: dict[str, Any], results_dir: Path = RESULTS_DIR) -> Path:
    """Writes {benchmark, measuredAt, machine, **figures} to results_dir/<name>.json; returns the path."""
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"name must be letters, digits, '-' or '_' (it becomes a file name), not {name!r}")
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    record = {
        "benchmark": name,
        "measuredAt": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **figures,
    }
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
