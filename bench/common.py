"""The harness every benchmark shares: percentiles and summaries, text tables, the common command-line
flags, the local LLM's environment, the bench workflows, plots, and the JSON result file.

Benchmarks print real measurements; these helpers only summarise and record them, so the same
figures reach the console, bench/results/<name>.json (git-ignored) and any plot.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
PLOTS_DIR = REPO / "docs" / "benchmarks"
EXAMPLES_DIR = REPO / "examples"
WORKFLOWS_DIR = BENCH_DIR / "workflows"
DEFAULT_PERCENTILES = (50, 95, 99)


# --- statistics -------------------------------------------------------------------------------------------


def percentile(values: Iterable[float], q: int) -> float:
    """The q-th percentile, q a whole number from 0 to 100, as `statistics.quantiles(method="inclusive")`.

    Semantics: the *inclusive* method, i.e. linear interpolation between the two closest ranks of the
    sorted samples (numpy's default, Excel's PERCENTILE.INC), not the nearest-rank method: over n samples
    the p-th percentile sits at rank (n - 1) * p / 100 counted from 0. So q=0 is the minimum, q=100 the
    maximum, p50 of an even count is halfway between the middle two, and a single value is every
    percentile of itself. Example: [15, 20, 35, 40, 50] has p40 = 29.0 (rank 1.6: 20 + 0.6 * 15).
    """
    return percentiles(values, (q,))[q]


def percentiles(values: Iterable[float], qs: Sequence[int]) -> dict[int, float]:
    """{q: percentile(values, q)} for each q, sorting the samples once (see `percentile`)."""
    for q in qs:
        if isinstance(q, bool) or not isinstance(q, int) or not 0 <= q <= 100:
            raise ValueError(f"q must be a whole number from 0 to 100, not {q!r}")
    samples = _checked(values)
    if not samples:
        raise ValueError("percentile of no values: measure at least one sample")
    if len(samples) == 1:  # statistics.quantiles needs two (before Python 3.13)
        return dict.fromkeys(qs, samples[0])
    low, high = min(samples), max(samples)
    inner = statistics.quantiles(samples, n=100, method="inclusive")
    # quantiles' weighted mean of two equal neighbours can round a last bit beyond them: kept in range.
    centiles = [low, *(min(max(value, low), high) for value in inner), high]
    return {q: centiles[q] for q in qs}


def summarize(values: Iterable[float], qs: Sequence[int] = DEFAULT_PERCENTILES) -> dict[str, float]:
    """n, min, mean, the percentiles as "p50"..., and max, rounded to 0.001."""
    samples = _checked(values)
    if not samples:
        raise ValueError("summary of no values: measure at least one sample")
    summary: dict[str, float] = {"n": len(samples), "min": min(samples), "mean": sum(samples) / len(samples)}
    summary |= {f"p{q}": value for q, value in percentiles(samples, qs).items()}
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


def summary_or_none(
    values: Iterable[float], qs: Sequence[int] = DEFAULT_PERCENTILES
) -> dict[str, float] | None:
    """`summarize`, or None when there are no values (a figure nothing was measured for)."""
    samples = list(values)
    return summarize(samples, qs) if samples else None


def summaries(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """`summarize` of each named list of samples that is not empty, in the same order."""
    return {name: summarize(values) for name, values in samples.items() if values}


class Samples(dict[str, list[float]]):
    """Named lists of samples, filled one value at a time: `samples.add("name", value)`."""

    def add(self, name: str, value: float) -> None:
        self.setdefault(name, []).append(value)


# --- the command line -------------------------------------------------------------------------------------


def new_parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser described by the first paragraph of the benchmark's docstring."""
    return argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])


def add_llm_flags(
    parser: argparse.ArgumentParser,
    first_token_ms: float = 200.0,
    token_ms: float = 10.0,
    whose: str = "server's",
) -> None:
    """--first-token-ms and --token-ms: the local LLM server's timing (check them with `check_args`)."""
    parser.add_argument(
        "--first-token-ms", type=float, default=first_token_ms, help=f"the LLM {whose} first-token time"
    )
    parser.add_argument(
        "--token-ms", type=float, default=token_ms, help=f"the LLM {whose} gap between tokens"
    )


def check_args(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    *,
    at_least_one: Sequence[str] = (),
    non_negative: Sequence[str] = ("first_token_ms", "token_ms"),
    positive: Sequence[str] = (),
) -> None:
    """Refuses (parser.error: usage and exit 2) the first flag, named as its attribute, out of its bound."""
    bounds: tuple[tuple[Sequence[str], Callable[[float], bool], str], ...] = (
        (at_least_one, lambda value: value < 1, "at least 1"),
        (non_negative, lambda value: value < 0, ">= 0"),
        (positive, lambda value: value <= 0, "> 0"),
    )
    for names, out_of_bound, what in bounds:
        for name in names:
            if out_of_bound(getattr(args, name)):
                parser.error(f"--{name.replace('_', '-')} must be {what}")


# --- the local stack's LLM and the bench workflows --------------------------------------------------------


def use_local_llm(
    base_url: str, *, provider_order: str = "compatible,scripted", metrics: bool = False
) -> None:
    """The environment `python -m kimiyi_local run --llm local` gives the stack, to be set before the stack
    reads it. Log lines below WARNING are off (one JSON line per turn would bury the tables), and so are
    the EMF metric lines unless `metrics` (when their cost is part of what is measured)."""
    os.environ.update({"LLM_BASE_URL": base_url, "LLM_MODEL": "local-fake", "LLM_API_KEY": "local"})
    os.environ.update({"LLM_PROVIDER_ORDER": provider_order, "POWERTOOLS_LOG_LEVEL": "WARNING"})
    if not metrics:
        os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"


def load_example(name: str) -> dict[str, Any]:
    """A workflow of examples/ (the product's own), as JSON."""
    return json.loads((EXAMPLES_DIR / f"{name}.json").read_text(encoding="utf-8"))


def load_workflow(name: str) -> dict[str, Any]:
    """A workflow made for the benchmarks, from bench/workflows/, as JSON."""
    return json.loads((WORKFLOWS_DIR / f"{name}.json").read_text(encoding="utf-8"))


# --- plots --------------------------------------------------------------------------------------------------


def pyplot() -> Any | None:
    """matplotlib.pyplot on the file-only Agg backend, or None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def plot_cdf(axes: Any, values: Iterable[float], *style: str, **options: Any) -> None:
    """The empirical CDF of the values: each sorted value against the fraction of values up to it."""
    ordered = sorted(values)
    axes.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], *style, **options)


def save_figure(figure: Any, path: Path, dpi: int = 120) -> Path:
    """Lays the figure out, writes it to `path` (its folder made if needed) and closes it."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return path


# --- output -------------------------------------------------------------------------------------------------


def machine_line() -> str:
    box = machine()
    return f"Machine: {box['cpu']}, {box['cores']} cores, Python {box['python']} ({box['os']})"


def finish(
    name: str, figures: dict[str, Any], elapsed_s: float, plot: Callable[[Path], Path | None] | None = None
) -> Path:
    """Writes the result file and the plot (docs/benchmarks/<name>.png) and says where they went."""
    written = write_result(name, figures)
    print(f"\nMeasured in {elapsed_s:.1f} s. Figures: {written.relative_to(REPO)}")
    if plot is not None:
        plotted = plot(PLOTS_DIR / f"{name}.png")
        print(
            f"Plot: {plotted.relative_to(REPO)}" if plotted else "Plot: skipped (matplotlib is not installed)"
        )
    return written
