"""Rewrites docs/benchmarks.md from bench/results/*.json: the machine, each benchmark's figures, the plots
and the targets of kimiyi/targets.py with pass or fail where a measured figure maps to one.

Every summary in a result (a dict with "n" and "p50", as common.summarize makes) becomes a table row,
grouped by where it sits in the JSON, so a new benchmark is reported without code here; the targets
and the cost benchmark have their own renderers.

    python bench/report.py [--results bench/results] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import RESULTS_DIR  # noqa: E402
from kimiyi.targets import TARGETS  # noqa: E402

DOCS = REPO / "docs"
OUT = DOCS / "benchmarks.md"
PLOTS = DOCS / "benchmarks"
ORDER = ("pipeline_overhead", "relay_turns", "cold_start", "load", "cache_calls", "cost")
SKIP_KEYS = {"samples", "samplesMs", "turnsMs", "cutChecks", "machine"}
SUMMARY_COLUMNS = ("n", "mean", "p50", "p95", "p99", "max")
MAX_SCALARS = 40


class ReportError(ValueError):
    """A result file that cannot be read as a benchmark result."""


def load_results(results_dir: Path) -> dict[str, dict]:
    results = {}
    for path in sorted(results_dir.glob("*.json")):
        if path.name == "suite.json":
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ReportError(f"{path}: not JSON ({error})") from error
        if not isinstance(data, dict) or "benchmark" not in data:
            raise ReportError(f"{path}: not a benchmark result (no 'benchmark' key)")
        results[data["benchmark"]] = data
    return results


def dig(data: Any, path: str) -> Any:
    """The value at a dotted path, or None."""
    for key in path.split("."):
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def summaries(data: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str, dict]]:
    """(where, name, summary) for every common.summarize-shaped dict in the result."""
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        if key in SKIP_KEYS or not isinstance(value, dict):
            continue
        if "n" in value and "p50" in value:
            yield path, key, value
        else:
            yield from summaries(value, (*path, key))


def md_table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# --- targets ---------------------------------------------------------------------------------------------


def target_rows(results: dict[str, dict]) -> list[list[Any]]:
    """One row per (target, bound) that a measured figure maps to."""
    rows: list[list[Any]] = []
    relay = results.get("relay_turns")
    pipeline = results.get("pipeline_overhead")
    cache = results.get("cache_calls")

    def add(target: str, bound: str, figure: float | None, source: str) -> None:
        limit = TARGETS[target][bound]
        if figure is None:
            return
        ok = figure >= limit if bound == "min" else figure <= limit
        rows.append([f"{target}.{bound}", limit, round(figure, 3), "pass" if ok else "**fail**", source])

    if relay:
        first_token = dig(relay, "settings.first_token_ms")
        server = dig(relay, "streaming.metrics.server_first_frame") or {}
        note = f"relay_turns server_first_frame, includes a {first_token:g} ms LLM first token"
        add("turnLatencyMs", "p50", server.get("p50"), note)
        add("turnLatencyMs", "p90", server.get("p95"), note + " (p95, an upper bound on p90)")
        minus = dig(relay, "streaming.metrics.server_minus_waits") or {}
        note = (
            "relay_turns server_minus_waits: the real relay (state load and save, posts) minus the first-token "
            "time and the token gaps before the first clause"
        )
        add("turnOverheadMs", "p50", minus.get("p50"), note)
        add("turnOverheadMs", "p99", minus.get("p99"), note)
    if pipeline:
        overhead = dig(pipeline, "isolated.metricsMs.e_overhead") or {}
        note = f"pipeline_overhead e_overhead, {int(overhead.get('n', 0))} turns (run_turn + chain + client)"
        add("turnOverheadMs", "p50", overhead.get("p50"), note)
        add("turnOverheadMs", "p99", overhead.get("p99"), note)
        gaps = [
            dig(case, "metricsMs.failure_to_secondary_first_token.max")
            for case in (pipeline.get("failover") or {}).values()
        ]
        gaps = [g for g in gaps if isinstance(g, int | float)]
        if gaps:
            add(
                "failoverRecoveryMs",
                "max",
                max(gaps),
                "pipeline_overhead, worst failover case, beyond the secondary's first token",
            )
    for scenario, values in (dig(cache, "scenarios") or {}).items() if cache else ():
        rate = values.get("hitRateRepeated")
        if isinstance(rate, int | float):
            add("cacheHitRate", "min", rate, f"cache_calls {scenario}: hits among repeated LLM turns")
        hit = dig(values, "latencyMs.hit")
        if isinstance(hit, dict):
            add("cacheHitTurnMs", "p99", hit.get("p99"), f"cache_calls {scenario}: turn latency on a hit")
    return rows


# --- sections -------------------------------------------------------------------------------------------


def generic_section(result: dict) -> list[str]:
    lines = []
    settings = result.get("settings")
    if isinstance(settings, dict):
        flat = {k: v for k, v in settings.items() if not isinstance(v, dict | list)}
        lines += ["Settings: " + ", ".join(f"`{k}={v}`" for k, v in flat.items()), ""]
    groups: dict[tuple[str, ...], list[list[Any]]] = {}
    for where, name, summary in summaries(result):
        groups.setdefault(where, []).append([name, *(summary.get(c) for c in SUMMARY_COLUMNS)])
    for where, rows in groups.items():
        title = " / ".join(where) or "figures"
        lines += [f"**{title}**", "", md_table(["metric", *SUMMARY_COLUMNS], rows), ""]
    scalars = list(scalar_figures(result))
    if scalars:
        lines += ["**other figures**", "", md_table(["figure", "value"], scalars[:MAX_SCALARS]), ""]
        if len(scalars) > MAX_SCALARS:
            lines += [f"({len(scalars) - MAX_SCALARS} more in the JSON.)", ""]
    return lines


def scalar_figures(data: Any, path: str = "") -> Iterator[list[Any]]:
    """Numbers and short lists outside the summaries and settings, as (dotted path, value)."""
    if not isinstance(data, dict) or ("n" in data and "p50" in data):
        return
    for key, value in data.items():
        if key in SKIP_KEYS or key in {"settings", "benchmark", "measuredAt", "runSeconds"}:
            continue
        where = f"{path}.{key}" if path else key
        if isinstance(value, dict):
            yield from scalar_figures(value, where)
        elif isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) <= 80):
            yield [where, value]
        elif (
            isinstance(value, list) and len(value) <= 8 and all(not isinstance(v, dict | list) for v in value)
        ):
            yield [where, ", ".join(map(str, value))]


def cost_section(result: dict) -> list[str]:
    settings = result.get("settings", {})
    basis = result.get("costBasis", {})
    costs = result.get("costPer1000Minutes", {})
    lines = [
        f"AWS cost per 1,000 call-minutes at {result.get('region')} on-demand list prices as of "
        f"{result.get('pricesAsOf')}, from request counts measured through the real relay in the local stack "
        f"({settings.get('calls')} calls x {settings.get('turns_per_call')} turns), assuming "
        f"{settings.get('turns_per_minute')} caller turns a minute and {settings.get('call_minutes')}-minute calls. "
        "Free tiers ignored. **Excluded:** " + "; ".join(result.get("excluded", [])) + ".",
        "",
        md_table(
            ["component", "USD per 1,000 min", "basis"],
            [[k, f"${v:.4f}", basis.get(k, "")] for k, v in costs.items()],
        ),
        "",
        f"**Total: ${result.get('totalUsdPer1000Minutes', 0):.4f} per 1,000 call-minutes** (AWS only).",
        "",
        "Measured per turn and per call:",
        "",
    ]
    use = result.get("usage", {})
    keys = sorted({k for scope in use.values() for k in scope})
    lines += [
        md_table(
            ["", *keys],
            [[scope, *(round(values.get(k, 0), 3) for k in keys)] for scope, values in use.items()],
        ),
        "",
    ]
    lines += [
        "Hosted platforms' published list prices (as of the price date; what each includes differs):",
        "",
        md_table(
            ["platform", "USD per 1,000 min", "includes", "source"],
            [
                [h["platform"], f"${h['usdPerMinute'] * 1000:.0f}", h["includes"], h["source"]]
                for h in result.get("hosted", [])
            ],
        ),
        "",
        "Price sources: " + "; ".join(f"{k}: {v}" for k, v in result.get("priceSources", {}).items()) + ".",
        "",
    ]
    return lines


def render(results: dict[str, dict], suite: dict | None, plots: Path = PLOTS) -> str:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    first = next(iter(results.values()), {})
    box = first.get("machine", {})
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `bench/report.py` on {now} from `bench/results/*.json` (`make bench`); "
        "do not edit by hand.",
        "",
        f"Machine: {box.get('cpu', '?')}, {box.get('cores', '?')} cores, Python {box.get('python', '?')}, "
        f"{box.get('os', '?')}. Everything (stack, DynamoDB, LLM server, clients) shares these cores, and the "
        "LLM is the local fake server at the first-token time each benchmark states.",
        "",
    ]
    if suite:
        lines += [
            "## Suite run",
            "",
            md_table(
                ["benchmark", "status", "seconds", "size"],
                [[r["name"], r["status"], r.get("seconds"), r.get("why", "")] for r in suite.get("runs", [])],
            ),
            "",
        ]
    lines += [
        "## Targets",
        "",
        "From `layers/core/kimiyi/targets.py`; only targets a measured figure maps to.",
        "",
        md_table(["target", "limit", "measured", "result", "figure"], target_rows(results)),
        "",
    ]
    names = [n for n in ORDER if n in results] + sorted(set(results) - set(ORDER))
    for name in names:
        result = results[name]
        lines += [
            f"## {name}",
            "",
            f"Measured at {result.get('measuredAt', '?')}"
            + (f" in {result['runSeconds']} s." if "runSeconds" in result else "."),
            "",
        ]
        plot = plots / f"{name}.png"
        if plot.exists():
            lines += [f"![{name}](benchmarks/{name}.png)", ""]
        lines += cost_section(result) if name == "cost" else generic_section(result)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS_DIR)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if not args.results.is_dir():
        parser.error(f"--results {args.results} is not a directory")
    results = load_results(args.results)
    if not results:
        parser.error(f"no results in {args.results}: run the benchmarks first")
    suite_file = args.results / "suite.json"
    suite = json.loads(suite_file.read_text(encoding="utf-8")) if suite_file.exists() else None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(results, suite), encoding="utf-8")
    print(f"Wrote {args.out} from {len(results)} results: {', '.join(results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
