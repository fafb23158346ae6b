"""The whole benchmark suite in under ten minutes: `make bench`.

Runs each benchmark that exists, in order, as its own process with this interpreter (the venv's
python), with sizes chosen so the suite fits the budget; each gets at most its own cap and never more
than what is left of the budget. Then bench/report.py rewrites docs/benchmarks.md from
bench/results/*.json. Exits non-zero when any benchmark failed or was stopped.

    python bench/run_all.py [--budget-s 570] [--only relay_turns cost]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SUITE_FILE = BENCH_DIR / "results" / "suite.json"
BUDGET_S = 570.0  # ten minutes minus what the report takes, and a margin
REPORT_TIMEOUT_S = 60.0
CAP_MARGIN_S = 10.0  # a script told its own cap stops this long before the suite would stop it


@dataclass(frozen=True)
class Bench:
    name: str
    args: tuple[str, ...]
    cap_s: float  # a stop for a hung script; the expected time is well under it
    why: str
    # A script that bounds itself (and still writes its figures): it gets this flag with its stop time
    # minus CAP_MARGIN_S, so a slow run ends with partial figures instead of being killed.
    cap_flag: str | None = None


# The minimum for turn overhead is 1,000 turns: relay_turns runs them through the relay, two calls
# at a time, with a two-clause reply (the overhead ends at the first clause; the rest is wall time only).
SUITE = (
    Bench(
        "relay_turns",
        (
            *("--calls", "50", "--turns-per-call", "20", "--parallel", "2"),
            *("--reply", "Of course, we are open."),
            *("--barge-in-calls", "1", "--barge-in-turns-per-call", "10", "--cache-calls", "21"),
            *("--quiet-ms", "500"),
        ),
        240,
        "1,000 turns through the relay (50 calls x 20, 2 at a time), 60 cache-hit turns, 10 barge-ins "
        "(a barge-in turn ends after 500 ms without a frame; default 1,000 ms)",
    ),
    Bench(
        "traditional_vs_optimized",
        ("--calls", "5"),
        90,
        "5 calls of each pipeline, the first a warm-up (default 6)",
    ),
    Bench(
        "pipeline_overhead",
        (
            *("--turns", "200", "--judged-turns", "20", "--failover-turns", "10"),
            *("--first-token-ms", "50", "--token-ms", "5", "--deadline-ms", "150"),
        ),
        120,
        "the turn pipeline alone: 200 turns at a 50 ms first token, then 200 alternating with a bare httpx "
        "loop; 20 judged, 10 per failover case",
    ),
    Bench("cold_start", ("--runs", "2"), 240, "2 fresh interpreters per function and copy (default 7)"),
    Bench(
        "cost",
        ("--calls", "2", "--turns-per-call", "10"),
        60,
        "2 calls x 10 turns, 6 turns/min, 3-minute calls",
    ),
    Bench(
        "load",
        ("--levels", "10", "50", "200", "--level-seconds", "10"),
        150,
        "10, 50 and 200 concurrent calls, 10 s per level (default 60 s)",
    ),
    Bench("cache_calls", ("--calls", "10"), 120, "10 calls per scenario (default 50)"),
    # Last: on a relay that is slow on these paths it takes what is left, and no other benchmark waits.
    Bench(
        "relay_faults",
        ("--turns", "20"),
        170,
        "12 scenarios x 20 turns through the relay: 4 races and 8 faults of the primary LLM provider",
        cap_flag="--cap-s",
    ),
)


def run_suite(budget_s: float, only: set[str] | None) -> list[dict]:
    deadline = time.monotonic() + budget_s
    outcomes = []
    for bench in SUITE:
        script = BENCH_DIR / f"{bench.name}.py"
        if only is not None and bench.name not in only:
            continue
        if not script.exists():
            outcomes.append({"name": bench.name, "status": "missing", "why": bench.why})
            continue
        left = deadline - time.monotonic()
        if left < 10:
            outcomes.append({"name": bench.name, "status": "skipped: budget spent", "why": bench.why})
            continue
        timeout = min(bench.cap_s, left)
        args = bench.args
        if bench.cap_flag:
            args = (*args, bench.cap_flag, f"{max(timeout - CAP_MARGIN_S, 1):.0f}")
        command = [sys.executable, str(script), *args]
        print(f"\n=== {bench.name}: {' '.join(args)} (stop after {timeout:.0f} s)", flush=True)
        started = time.monotonic()
        try:
            code = subprocess.run(command, cwd=REPO, timeout=timeout, check=False).returncode
            status = "ok" if code == 0 else f"failed (exit {code})"
        except subprocess.TimeoutExpired:
            code, status = None, f"stopped after {timeout:.0f} s"
        seconds = round(time.monotonic() - started, 1)
        outcomes.append(
            {
                "name": bench.name,
                "status": status,
                "exitCode": code,
                "seconds": seconds,
                "args": list(args),
                "why": bench.why,
            }
        )
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--budget-s", type=float, default=BUDGET_S, help=f"for all benchmarks (default {BUDGET_S:g})"
    )
    parser.add_argument(
        "--started-at",
        type=float,
        help="epoch seconds when `make bench` started: the budget then counts from there (installs included)",
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks")
    args = parser.parse_args(argv)
    if args.started_at is not None:
        if not 0 <= time.time() - args.started_at < 24 * 3600:
            parser.error("--started-at must be a recent epoch time in seconds")
        args.budget_s -= time.time() - args.started_at
        print(
            f"{time.time() - args.started_at:.0f} s spent before the suite; {args.budget_s:.0f} s left for it"
        )
    if args.budget_s <= 0:
        parser.error("--budget-s must be positive (the installs took all of it)")
    known = {bench.name for bench in SUITE}
    if args.only and not set(args.only) <= known:
        parser.error(f"--only takes {sorted(known)}, not {sorted(set(args.only) - known)}")

    started = time.monotonic()
    outcomes = run_suite(args.budget_s, set(args.only) if args.only else None)
    SUITE_FILE.parent.mkdir(parents=True, exist_ok=True)
    SUITE_FILE.write_text(json.dumps({"budgetSeconds": args.budget_s, "runs": outcomes}, indent=2) + "\n")
    report = subprocess.run(
        [sys.executable, str(BENCH_DIR / "report.py")], cwd=REPO, timeout=REPORT_TIMEOUT_S, check=False
    )
    print(f"\n=== suite: {time.monotonic() - started:.0f} s")
    for outcome in outcomes:
        print(f"  {outcome['name']:<18} {outcome['status']:<24} {outcome.get('seconds', '-')} s")
    failed = [o for o in outcomes if o["status"] not in ("ok", "missing")]
    return 1 if failed or report.returncode != 0 else 0


if __name__ == "__main__":
    raise SystemExit(main())
