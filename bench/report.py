"""Rewrites docs/benchmarks.md from bench/results/*.json: the machine, each benchmark's figures, the plots
and the targets of kimiyi/targets.py with pass or fail where a measured figure maps to one.

Every summary in a result (a dict with "n" and "p50", as common.summarize makes) becomes a table row,
grouped by where it sits in the JSON, so a new benchmark is reported without code here; the targets,
the cost benchmark and relay_faults (a row and a table per scenario, and its own targets) have their own
renderers.

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
ORDER = (
    "relay_turns",
    "relay_faults",
    "traditional_vs_optimized",
    "pipeline_overhead",
    "cold_start",
    "load",
    "cache_calls",
    "cost",
)
SKIP_KEYS = {"samples", "samplesMs", "turnsMs", "cutChecks", "machine", "perTurn", "levels"}
SUMMARY_COLUMNS = ("n", "mean", "p50", "p95", "p99", "max")
MAX_SCALARS = 40
# cache_calls' scenario of callers sharing a context (the repeated interactions the hit-rate target is
# about); its per-patient scenario shows that personal turns are never shared, not a rate to meet.
REPEATED_SCENARIO = "shared"


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
        for name, what in (
            ("server_minus_llm", "minus the LLM's own time to the first clause, as the LLM server saw it"),
            ("server_minus_waits", "minus the set first-token time and token gaps to the first clause"),
        ):
            minus = dig(relay, f"streaming.metrics.{name}") or {}
            note = (
                f"relay_turns {name}, {int(minus.get('n', 0))} turns through the relay: turn latency {what}"
            )
            add("turnOverheadMs", "p50", minus.get("p50"), note)
            add("turnOverheadMs", "p99", minus.get("p99"), note)
        hit = dig(relay, "cacheTurns.metrics.hit") or {}
        note = f"relay_turns cache hits, {int(hit.get('n', 0))} turns: received -> the reply posted"
        add("cacheHitTurnMs", "p99", hit.get("p99"), note)
    if pipeline:
        versus = pipeline.get("versusBareClient") or {}
        note = (
            f"pipeline_overhead 1c, {versus.get('turns')} turns each, alternating: the pipeline's overhead "
            "p99 over a bare httpx loop's sending the same request"
        )
        add("overheadP99VsBareClient", "max", versus.get("p99Ratio"), note)
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
    rate = dig(cache, f"scenarios.{REPEATED_SCENARIO}.hitRateRepeated")
    if isinstance(rate, int | float):
        note = f"cache_calls {REPEATED_SCENARIO}: hits among repeated LLM turns (the repeated-interactions corpus)"
        add("cacheHitRate", "min", rate, note)
    return rows


# --- the seven figures, one line each -----------------------------------------------------------


def _p(summary: Any, *keys: str) -> str:
    if not isinstance(summary, dict):
        return "-"
    return " / ".join(f"{summary[k]:,.1f}" if isinstance(summary.get(k), int | float) else "-" for k in keys)


def headline_rows(results: dict[str, dict]) -> list[list[str]]:
    return [row for rows_of in HEADLINES for row in rows_of(results)]


def _relay_headlines(results: dict[str, dict]) -> list[list[str]]:
    relay = results.get("relay_turns")
    if not relay:
        return []
    metrics = dig(relay, "streaming.metrics") or {}
    first_token = dig(relay, "settings.first_token_ms")
    n = int(dig(metrics, "server_minus_llm.n") or 0)
    hit = dig(relay, "cacheTurns.metrics.hit")
    return [
        [
            "1. turn overhead",
            f"through the relay, {n} turns, LLM first token {first_token:g} ms: latency minus the LLM's own "
            "time (as the LLM server saw it) / minus the set first-token time and token gaps, "
            "p50 / p95 / p99 ms",
            f"{_p(metrics.get('server_minus_llm'), 'p50', 'p95', 'p99')} ; "
            f"{_p(metrics.get('server_minus_waits'), 'p50', 'p95', 'p99')}",
        ],
        [
            "1. cache-hit turn",
            f"through the relay, {int(dig(hit, 'n') or 0)} hits: received -> reply posted, p50 / p95 / p99 ms",
            _p(hit, "p50", "p95", "p99"),
        ],
    ]


def _compared_headlines(results: dict[str, dict]) -> list[list[str]]:
    compared = results.get("traditional_vs_optimized")
    if not compared:
        return []
    ratios = compared.get("ratios") or {}
    measured = " ; ".join(
        f"{ratios[k]:.1f}x" if isinstance(ratios.get(k), int | float) else "-"
        for k in ("overall", "median", "cached", "llm")
    )
    what = (
        "time to the first speakable text, classic <Gather> cycle / relay with the cache: overall "
        "(sums), median per turn, cached turns, LLM turns"
    )
    return [["2. traditional vs optimized", what, measured]]


def _failover_headlines(results: dict[str, dict]) -> list[list[str]]:
    rows = []
    for case, values in (dig(results.get("pipeline_overhead"), "failover") or {}).items():
        metrics = values.get("metricsMs") or {}
        gap = metrics.get("failure_to_secondary_first_token") or metrics.get("drop_to_continuation")
        what = (
            "the drop -> the secondary continuing the reply, beyond its own first token"
            if "drop_to_continuation" in metrics
            else "beyond the secondary's own first token"
        )
        rows.append(
            [
                f"3. failover: {case}",
                f"{values.get('label', case)}: {what}, p50 / max ms",
                _p(gap, "p50", "max"),
            ]
        )
    return rows


def _cold_start_headlines(results: dict[str, dict]) -> list[list[str]]:
    cold = results.get("cold_start")
    if not cold:
        return []
    rows = [
        [
            f"4. cold start: {name}",
            "import + init with an LLM provider configured, fresh interpreter, p50 ms: without -> with compiled bytecode",
            f"{_p(dig(values, 'source.importMs'), 'p50')} -> {_p(dig(values, 'bytecode.importMs'), 'p50')}",
        ]
        for name, values in (dig(cold, "functions") or {}).items()
    ]
    package = dig(cold, "package") or {}
    rows.append(
        [
            "4. package size",
            "the shared layer, unzipped / zipped MB: without -> with bytecode",
            f"{_p(package.get('source'), 'layerMB', 'layerZippedMB')} -> "
            f"{_p(package.get('bytecode'), 'layerMB', 'layerZippedMB')}",
        ]
    )
    return rows


def _total(counts: Any) -> float:
    return sum(v for v in (counts or {}).values() if isinstance(v, int | float))


def _load_headlines(results: dict[str, dict]) -> list[list[str]]:
    return [
        [
            f"5. load: {level.get('calls')} calls",
            "server turn latency p50 / p99 ms; turns completed; errors; lost turns",
            f"{_p(level.get('serverTurnLatencyMs'), 'p50', 'p99')} ; {level.get('turnsCompleted')} ; "
            f"{_total(level.get('errors'))} ; {_total(level.get('lostTurns'))}",
        ]
        for level in (results.get("load") or {}).get("levels", [])
    ]


def _cache_headlines(results: dict[str, dict]) -> list[list[str]]:
    cache = results.get("cache_calls")
    if not cache:
        return []
    rows = []
    for scenario, values in (dig(cache, "scenarios") or {}).items():
        rate = values.get("hitRateRepeated")
        saved = dig(values, "latencySavedMs.perHit")
        measured = [
            f"{rate:.0%}" if isinstance(rate, int | float) else "-",
            f"{saved:,.0f}" if isinstance(saved, int | float) else "-",
            f"{dig(values, 'llmRequests.avoided')} of {dig(values, 'llmRequests.needed')}",
        ]
        what = "hit rate among repeated LLM turns; latency saved per hit (ms); LLM requests avoided"
        rows.append([f"6. cache: {scenario}", what, " ; ".join(measured)])
    wrong = ["6. cache: wrong-context hits", "hits served in a context they were not made for"]
    return [*rows, [*wrong, str(cache.get("wrongContextHits"))]]


def _faults_headlines(results: dict[str, dict]) -> list[list[str]]:
    faults = results.get("relay_faults")
    if not faults:
        return []
    measured = [f for f in (faults.get("scenarios") or {}).values() if "skipped" not in f]
    failed = [c["target"] for c in faults.get("targets", []) if not c.get("ok")]
    return [
        [
            "never silent",
            f"relay_faults, {len(measured)} scenarios (races and the primary provider's faults): silent turns "
            "(no text by first token + 1 s) of all measured turns; its targets failed",
            f"{sum(f.get('silentTurns', 0) for f in measured)} of {sum(f.get('turns', 0) for f in measured)} ; "
            f"{len(failed)} of {len(faults.get('targets', []))}",
        ]
    ]


def _cost_headlines(results: dict[str, dict]) -> list[list[str]]:
    cost = results.get("cost")
    if not cost:
        return []
    hosted = [h["usdPerMinute"] * 1000 for h in cost.get("hosted", [])]
    return [
        [
            "7. cost",
            f"AWS USD per 1,000 call-minutes ({cost.get('region')}, prices of {cost.get('pricesAsOf')}); "
            "hosted platforms' list prices",
            f"${cost.get('totalUsdPer1000Minutes', 0):.3f}"
            + (f" ; ${min(hosted):.0f}-${max(hosted):.0f}" if hosted else ""),
        ]
    ]


# The seven figures in its order (and never silent before the cost).
HEADLINES = (
    _relay_headlines,
    _compared_headlines,
    _failover_headlines,
    _cold_start_headlines,
    _load_headlines,
    _cache_headlines,
    _faults_headlines,
    _cost_headlines,
)


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


FAULT_RACES = ("baseline", "fast_caller", "interrupt_then_prompt", "two_prompts")  # relay_faults.RACES
FAULT_SUMMARIES = {
    "firstTextMs": "prompt sent -> first text frame of its reply (client)",
    "lastFrameMs": "prompt sent -> its reply's `last` frame",
    "longestGapMs": "longest wait between two text frames of the reply",
}


def faults_section(result: dict) -> list[str]:
    """relay_faults: an overview row per scenario, the targets, then a table per scenario."""
    scenarios = result.get("scenarios", {})
    lines = [_faults_intro(result), "", _faults_counted(scenarios), ""]
    lines += [md_table(FAULT_HEADERS, [_fault_row(name, f) for name, f in scenarios.items()]), ""]
    checks = result.get("targets", [])
    if checks:
        lines += [
            "**Targets**",
            "",
            md_table(
                ["target", "limit", "measured", "result"],
                [[c["target"], c["limit"], c["measured"], "pass" if c["ok"] else "**fail**"] for c in checks],
            ),
            "",
        ]
    for name, f in scenarios.items():
        if "skipped" not in f:
            lines += _fault_detail(name, f)
    return lines


def _faults_intro(result: dict) -> str:
    settings = result.get("settings", {})
    chains = "; ".join(
        f"{group}: {', '.join(info.get('chain') or [])}" for group, info in result.get("groups", {}).items()
    )
    return (
        f"Every scenario through the real relay handler in the local stack; LLM servers at a "
        f"{settings.get('first_token_ms')} ms first token and {settings.get('token_ms')} ms per token; "
        f"{settings.get('turns')} measured turns per scenario, {settings.get('parallel')} calls at a time. "
        f"A turn is **silent** when no text frame of its reply arrived by {result.get('silentAfterMs')} ms (first "
        f"token + 1 s), or none before the {settings.get('turn_timeout_s')} s turn timeout. Races use one "
        "`compatible` provider; faults are the primary's (`compatible`, its breaker threshold raised so that every "
        "turn meets the fault), with `openai` on a second server as the secondary, then scripted. The chains as "
        f"the relay built them: {chains}."
    )


def _faults_counted(scenarios: dict[str, dict]) -> str:
    counted = {}
    for name, f in scenarios.items():
        kind = "races" if name in FAULT_RACES else "faults"
        if "skipped" not in f and kind not in counted:
            counted[kind] = dig(f, "llmRequests.counted")
    return (
        "LLM requests per measured turn: "
        + "; ".join(f"{kind}: {what}" for kind, what in counted.items())
        + ". Judging requests are counted apart (the bench workflow has no LLM-judged edge)."
    )


FAULT_HEADERS = [
    "scenario",
    "turns",
    "1st text p50",
    "p99",
    "max",
    "silent",
    "LLM req / turn",
    "answered by",
    "heard",
]


def _fault_row(name: str, f: dict) -> list[Any]:
    if "skipped" in f:
        return [name, f["skipped"], *[None] * 7]
    first = f.get("firstTextMs") or {}
    heard = ", ".join(f"{k} {v}" for k, v in sorted(f.get("heard", {}).items(), key=lambda kv: -kv[1]))
    providers = ", ".join(f"{k} {v}" for k, v in sorted(f.get("providers", {}).items()))
    per_turn = dig(f, "llmRequests.perMeasuredTurn")
    return [
        name,
        f.get("turns"),
        first.get("p50"),
        first.get("p99"),
        first.get("max"),
        f.get("silentTurns"),
        per_turn,
        providers,
        heard,
    ]


def _fault_detail(name: str, f: dict) -> list[str]:
    requests = f.get("llmRequests", {})
    sample = next(iter(f.get("heardSamples", {}).values()), "")
    rows = [
        [label, *(f[key].get(c) for c in SUMMARY_COLUMNS)]
        for key, label in FAULT_SUMMARIES.items()
        if isinstance(f.get(key), dict)
    ]
    return [
        f"**{name}**: {f.get('turns')} turns in {f.get('seconds')} s; silent {f.get('silentTurns')}, timeouts "
        f"{f.get('timeouts')}; LLM requests per measured turn {requests.get('perMeasuredTurn')}, judging "
        f"requests {requests.get('judging')}; e.g. heard {sample!r}.",
        "",
        md_table(["metric", *SUMMARY_COLUMNS], rows),
        "",
    ]


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
        "## The figures",
        "",
        "One line per figure the benchmark issue asks for; the sections below hold the detail.",
        "",
        md_table(["figure", "what", "measured"], headline_rows(results)),
        "",
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
        renderer = {"cost": cost_section, "relay_faults": faults_section}.get(name, generic_section)
        lines += renderer(result)
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
