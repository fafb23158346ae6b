"""Cold start of every function: handler import (with its module-scope init) with and without compiled
bytecode in the package, and each function's package size.

The host-architecture `sam build` artifact (.aws-sam/build-host, as `make artifact-check` builds it;
built here when absent) is copied twice: once with every `__pycache__` removed (what a plain
`sam build` ships) and once compiled with `python3.12 -m compileall` (what `make build` ships). Each
handler is then imported `--runs` times per copy, each time by a fresh `python3.12 -I -S -B` with only
the function's folder and the built layer on sys.path and the function's template environment (no
secrets path, fake credentials), as scripts/check_artifact.py does, plus an LLM provider configured
(PROVIDER_ENV: Azure OpenAI; nothing is sent to it): the relay builds its chain at init, and the TwiML
function's first classic turn builds it (`llm_chain()`, counted here as part of its init), so the
figures are of a deployment that talks to a model, not of the scripted-only offline default. `-B` keeps the no-bytecode copy
without bytecode across runs, as on Lambda, whose /var/task is read-only.

    python bench/cold_start.py --runs 7

Prints a table, writes bench/results/cold_start.json and, when matplotlib is installed,
docs/benchmarks/cold_start.png. About two minutes after the build.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # so `python bench/cold_start.py` finds the `bench` package
sys.path.insert(0, str(REPO / "scripts"))  # check_artifact is a script, not a package

import check_artifact  # noqa: E402
import trim_botocore  # noqa: E402

from bench import common  # noqa: E402
from kimiyi_local.template import FunctionSpec, read_stack  # noqa: E402

BUILD_DIR = REPO / ".aws-sam" / "build-host"
HOST_TEMPLATE = REPO / ".template.host.yaml"
SAM = REPO / ".sam-venv" / "bin" / "sam"
LAYER = "CoreLayer"
VARIANTS = ("source", "bytecode")  # no __pycache__ at all / compileall'd
MB = 1024 * 1024
# The provider every import is measured with. No request goes out at init; the key is a stand-in.
PROVIDER_ENV = {
    "AZURE_OPENAI_ENDPOINT": "https://bench.openai.azure.com/openai/deployments/gpt-4o-mini/chat/completions"
    "?api-version=2024-10-21",
    "AZURE_OPENAI_API_KEY": "bench-not-a-key",
}
PROVIDER_NOTE = "with an LLM provider configured (Azure OpenAI, AZURE_OPENAI_ENDPOINT + key; no request sent)"

# Runs in the fresh interpreter. import_ms is `import <handler module>`, which for these handlers
# includes their init (clients, settings, logger, the relay's LLM chain are built at module scope), plus
# building the LLM chain where a handler builds it on first use (twiml's `llm_chain()`); getattr_ms is
# looking up the handler attribute afterwards. The module counts show the import really came from the copy and,
# for the compiled copy, really used its bytecode (extension modules have none and are not counted).
PROBE = """
import sys, time, json, os
sys.path[:0] = {paths!r}
before = set(sys.modules)
started = time.perf_counter()
module = __import__({module!r})
if callable(getattr(module, "llm_chain", None)):
    module.llm_chain()  # built on the first turn that needs it: part of what a cold environment pays
imported = time.perf_counter()
handler = getattr(module, {attribute!r})
looked_up = time.perf_counter()
assert callable(handler), "handler is not callable"
ours = [m for name, m in sys.modules.items() if name not in before
        and str(getattr(m, "__file__", None) or "").startswith({root!r})
        and m.__file__.endswith(".py")]
print(json.dumps({{
    "import_ms": (imported - started) * 1000,
    "getattr_ms": (looked_up - imported) * 1000,
    "file": module.__file__,
    "modules": len(sys.modules) - len(before),
    "package_modules": len(ours),
    "with_bytecode": sum(1 for m in ours if m.__spec__ and m.__spec__.cached
                         and os.path.exists(m.__spec__.cached)),
}}))
"""


class BenchError(RuntimeError):
    """The measurement would be of something else (a failed import, a copy without bytecode...)."""


@dataclass(frozen=True)
class Sample:
    import_ms: float
    getattr_ms: float
    process_ms: float  # spawn -> exit: interpreter start-up + import + shutdown
    modules: int
    package_modules: int
    with_bytecode: int


def find_python(requested: str | None) -> str:
    """The Lambda runtime's Python: as the Makefile finds it (PATH, then pyenv's copy)."""
    candidates = (
        [requested]
        if requested
        else ["python3.12", *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")))]
    )
    for candidate in candidates:
        path = shutil.which(candidate) or candidate
        try:
            probe = subprocess.run(
                [path, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True
            )
        except OSError:
            continue
        if probe.returncode == 0:
            return probe.stdout.strip()
    raise BenchError(f"no working python3.12 found (tried {candidates}); pass --python")


def ensure_build(python: str, rebuild: bool) -> None:
    """Reuses .aws-sam/build-host, or builds it with the same sam command as `make artifact-check`."""
    if not rebuild and (BUILD_DIR / "template.yaml").exists() and (BUILD_DIR / LAYER / "python").is_dir():
        built = time.strftime("%Y-%m-%d %H:%M", time.localtime((BUILD_DIR / "template.yaml").stat().st_mtime))
        print(f"Reusing the build in {BUILD_DIR.relative_to(REPO)} (built {built}; --rebuild to rebuild)")
        trim_botocore.main([str(BUILD_DIR / LAYER / "python")])  # as `make build` ships it; a no-op if done
        return
    if not SAM.exists():
        print("Installing the SAM CLI: make .sam-venv/.installed")
        subprocess.run(["make", "-C", str(REPO), ".sam-venv/.installed"], check=True)
    arch = os.uname().machine.replace("aarch64", "arm64")
    HOST_TEMPLATE.write_text((REPO / "template.yaml").read_text().replace("arm64", arch))
    command = [
        str(SAM),
        "build",
        "--template-file",
        HOST_TEMPLATE.name,
        "--build-dir",
        str(BUILD_DIR.relative_to(REPO)),
    ]
    print(f"Building for {arch}: {' '.join(command)}")
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "PATH": f"{Path(python).parent}:{os.environ['PATH']}"}
    subprocess.run(command, cwd=REPO, env=env, check=True)
    trim_botocore.main([str(BUILD_DIR / LAYER / "python")])


def make_copies(workdir: Path, python: str) -> dict[str, Path]:
    """Two copies of the build: every __pycache__ removed, and compiled as `make build` does."""
    copies = {}
    for variant in VARIANTS:
        target = workdir / variant
        shutil.copytree(
            BUILD_DIR, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), symlinks=True
        )
        copies[variant] = target
    subprocess.run([python, "-m", "compileall", "-q", "-j", "0", str(copies["bytecode"])], check=True)
    return copies


def measure(python: str, build: Path, function: FunctionSpec) -> Sample:
    code = build / function.logical_id
    probe = PROBE.format(
        paths=[str(code), str(build / LAYER / "python")],
        module=function.module,
        attribute=function.attribute,
        root=str(build),
    )
    started = time.perf_counter()
    result = subprocess.run(
        [python, "-I", "-S", "-B", "-c", probe],
        capture_output=True,
        text=True,
        env={**check_artifact.probe_env(function), **PROVIDER_ENV},
    )
    process_ms = (time.perf_counter() - started) * 1000
    if result.returncode != 0:
        raise BenchError(f"{function.logical_id} failed to import from {build}:\n{result.stderr}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if not report["file"].startswith(str(code)):
        raise BenchError(f"{function.logical_id} imported {report['file']}, not the copy in {code}")
    return Sample(
        import_ms=report["import_ms"],
        getattr_ms=report["getattr_ms"],
        process_ms=process_ms,
        modules=report["modules"],
        package_modules=report["package_modules"],
        with_bytecode=report["with_bytecode"],
    )


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def zipped_bytes(path: Path, workdir: Path) -> int:
    """The size of `path`'s contents as a deflated zip, as sam deploy uploads it."""
    archive = workdir / f"{path.name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for file in sorted(path.rglob("*")):
            if file.is_file():
                zipped.write(file, file.relative_to(path))
    size = archive.stat().st_size
    archive.unlink()
    return size


def sizes(copies: dict[str, Path], functions: list[FunctionSpec], workdir: Path) -> dict[str, Any]:
    """Unzipped MB of each function folder and of the layer, and the layer's zipped MB, per variant."""
    result: dict[str, Any] = {}
    for variant, build in copies.items():
        layer = build / LAYER
        result[variant] = {
            "layerMB": tree_bytes(layer) / MB,
            "layerZippedMB": zipped_bytes(layer, workdir) / MB,
            "functionMB": {f.logical_id: tree_bytes(build / f.logical_id) / MB for f in functions},
        }
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    python = find_python(args.python)
    ensure_build(python, args.rebuild)
    functions = list(read_stack("https://example.invalid").functions.values())
    samples: dict[str, dict[str, list[Sample]]] = {f.logical_id: {v: [] for v in VARIANTS} for f in functions}
    with tempfile.TemporaryDirectory(prefix="cold_start_") as tmp:
        workdir = Path(tmp)
        copies = make_copies(workdir, python)
        for variant, build in copies.items():
            # check_artifact's own check: every handler imports from this copy (and warms the disk cache).
            print(f"check_artifact on the {variant} copy:")
            if check_artifact.check(build, python):
                raise BenchError(f"check_artifact failed on the {variant} copy")
        print(f"Measuring {len(functions)} functions x {len(VARIANTS)} copies x {args.runs} runs ...")
        started = time.perf_counter()
        for _ in range(args.runs):
            # Rounds interleave functions and copies, so drift on the machine hits both copies alike.
            for function in functions:
                for variant, build in copies.items():
                    samples[function.logical_id][variant].append(measure(python, build, function))
        print(f"... in {time.perf_counter() - started:.0f} s")
        package = sizes(copies, functions, workdir)
    check_bytecode_used(samples)
    return {
        "python": python,
        "runs": args.runs,
        "llmProvider": PROVIDER_NOTE,
        "functions": figures(functions, samples, package),
        "package": package,
    }


def check_bytecode_used(samples: dict[str, dict[str, list[Sample]]]) -> None:
    for name, by_variant in samples.items():
        for sample in by_variant["source"]:
            if sample.with_bytecode:
                raise BenchError(
                    f"{name}: the source copy loaded {sample.with_bytecode} modules from bytecode"
                )
        for sample in by_variant["bytecode"]:
            if sample.with_bytecode != sample.package_modules:
                raise BenchError(
                    f"{name}: only {sample.with_bytecode} of {sample.package_modules} modules had bytecode"
                )


def figures(
    functions: list[FunctionSpec], samples: dict[str, dict[str, list[Sample]]], package: dict[str, Any]
) -> dict[str, Any]:
    result = {}
    for function in functions:
        by_variant = samples[function.logical_id]
        entry: dict[str, Any] = {
            "handler": f"{function.module}.{function.attribute}",
            "memoryMB": function.memory_mb,
        }
        for variant in VARIANTS:
            runs = by_variant[variant]
            entry[variant] = {
                "importMs": common.summarize([s.import_ms for s in runs], (50, 90)),
                "getattrMs": common.summarize([s.getattr_ms for s in runs], (50, 90)),
                "processMs": common.summarize([s.process_ms for s in runs], (50, 90)),
                "modulesImported": runs[0].modules,
                "packageModules": runs[0].package_modules,
                "functionMB": round(package[variant]["functionMB"][function.logical_id], 3),
            }
        entry["importRatio"] = round(
            entry["source"]["importMs"]["p50"] / entry["bytecode"]["importMs"]["p50"], 2
        )
        result[function.logical_id] = entry
    return result


def table(results: dict[str, Any]) -> str:
    package = results["package"]
    rows = []
    for name, entry in results["functions"].items():
        source, compiled = entry["source"], entry["bytecode"]
        rows.append(
            [
                name,
                source["importMs"]["p50"],
                source["importMs"]["p90"],
                compiled["importMs"]["p50"],
                compiled["importMs"]["p90"],
                f"{entry['importRatio']:.2f}x",
                f"{max(entry[v]['getattrMs']['max'] for v in VARIANTS):.3f}",
                source["processMs"]["p50"],
                compiled["processMs"]["p50"],
                source["packageModules"],
                f"{source['functionMB'] + package['source']['layerMB']:.1f}",
                f"{compiled['functionMB'] + package['bytecode']['layerMB']:.1f}",
            ]
        )
    headers = [
        "function",
        "src p50",
        "src p90",
        "pyc p50",
        "pyc p90",
        "src/pyc",
        "getattr max",
        "proc src",
        "proc pyc",
        "pkg modules",
        "MB src",
        "MB pyc",
    ]
    return common.format_table(headers, rows)


def plot(results: dict[str, Any], path: Path) -> Path | None:
    """Median import ms (p90 whisker) per function for both copies; None without matplotlib."""
    plt = common.pyplot()
    if plt is None:
        return None
    names = list(results["functions"])
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 4.8), gridspec_kw={"width_ratios": [3, 1]})
    width = 0.4
    for offset, variant, label in (
        (-width / 2, "source", "no bytecode (sam build)"),
        (width / 2, "bytecode", "bytecode (make build)"),
    ):
        medians = [results["functions"][n][variant]["importMs"]["p50"] for n in names]
        p90s = [results["functions"][n][variant]["importMs"]["p90"] for n in names]
        xs = [i + offset for i in range(len(names))]
        left.bar(xs, medians, width, label=label)
        left.errorbar(
            xs,
            medians,
            yerr=[[0] * len(names), [p - m for p, m in zip(p90s, medians, strict=True)]],
            fmt="none",
            ecolor="black",
            capsize=3,
        )
    left.set_xticks(range(len(names)), [n.removesuffix("Function") for n in names], rotation=30, ha="right")
    left.set_ylabel("handler import + init, ms (median, whisker to p90)")
    left.set_title(
        f"Cold import + init, LLM provider configured, {results['runs']} fresh python3.12 -I -S -B each"
    )
    left.legend()
    package = results["package"]
    labels = ["layer\nunzipped", "layer\nzipped"]
    for offset, variant in ((-width / 2, "source"), (width / 2, "bytecode")):
        right.bar(
            [i + offset for i in range(2)],
            [package[variant]["layerMB"], package[variant]["layerZippedMB"]],
            width,
            label=variant,
        )
    right.set_xticks(range(2), labels)
    right.set_ylabel("MB")
    right.set_title("Core layer size")
    right.legend()
    figure.suptitle(f"{common.machine()['cpu']}, {common.machine()['cores']} cores", fontsize=9)
    return common.save_figure(figure, path, dpi=110)


def main() -> int:
    parser = common.new_parser(__doc__)
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per function and copy")
    parser.add_argument("--python", help="the python3.12 to import with (default: as the Makefile finds it)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild .aws-sam/build-host even if present")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, not {args.runs}")
    started = time.perf_counter()
    results = run(args)
    package = results["package"]
    print()
    print(common.machine_line())
    print(
        f"Handler import (includes module-scope init and the LLM chain), {PROVIDER_NOTE},"
        f" ms over {args.runs} fresh `{Path(results['python']).name} -I -S -B`:"
    )
    print(table(results))
    print(
        f"Core layer: {package['source']['layerMB']:.1f} MB unzipped / {package['source']['layerZippedMB']:.1f} MB zipped"
        f" without bytecode; {package['bytecode']['layerMB']:.1f} MB / {package['bytecode']['layerZippedMB']:.1f} MB with."
    )
    print(
        "src/pyc = median import without bytecode / with; getattr max = slowest handler lookup after import, ms;"
        " proc = spawn to exit of the whole interpreter, ms (p50); pkg modules = .py modules imported from the"
        " package; MB = function folder + layer, unzipped."
    )
    common.finish("cold_start", results, time.perf_counter() - started, lambda path: plot(results, path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
