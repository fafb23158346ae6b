"""The lock files agree with what they lock: a dependency added or changed in pyproject.toml or
requirements/*.in without `make lock` fails here (README, Development)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LAYER_LOCK = ROOT / "layers" / "core" / "requirements.txt"
LOCKS = ROOT / "requirements"


def _env(python: str, machine: str) -> dict[str, str]:
    return {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "platform_machine": machine,
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }


# Where the locks are installed: the Lambda layer (python3.12, arm64), and the venvs on the x86_64 and
# aarch64 Linux machines of developers and CI, Python 3.12 or the Makefile's fallback python3 (3.11).
LAMBDA = [_env("3.12", "aarch64")]
MACHINES = [_env(py, machine) for py in ("3.11", "3.12") for machine in ("x86_64", "aarch64")]


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    marker: Marker | None
    hashes: tuple[str, ...]

    def applies(self, env: dict[str, str]) -> bool:
        return self.marker is None or self.marker.evaluate(env)


def read_lock(path: Path) -> list[Pin]:
    """The entries of a `uv pip compile --generate-hashes` file: `name==version [; marker] \\` then hashes."""
    pins: list[Pin] = []
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if not line or line[0] in " #-":
            continue
        req = Requirement(line.rstrip(" \\"))
        (spec,) = req.specifier
        assert spec.operator == "==", f"{path.name}: {line!r} is not an exact pin"
        hashes = []
        for following in lines[i + 1 :]:
            if not following.startswith("    --hash="):
                break
            hashes.append(following.strip().rstrip(" \\").removeprefix("--hash="))
        pins.append(Pin(canonicalize_name(req.name), spec.version, req.marker, tuple(hashes)))
    return pins


def check(requirements: list[str], lock: Path, envs: list[dict[str, str]]) -> list[str]:
    """What in `requirements` the lock leaves unpinned, or pins outside its range, in each environment."""
    pins = read_lock(lock)
    problems = []
    for line in requirements:
        req = Requirement(line)
        for env in envs:
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            chosen = [p for p in pins if p.name == canonicalize_name(req.name) and p.applies(env)]
            where = f"{lock.name} (Python {env['python_version']}, {env['platform_machine']})"
            if len(chosen) != 1:
                problems.append(f"{req}: {len(chosen)} pins in {where}")
            elif not req.specifier.contains(chosen[0].version, prereleases=True):
                problems.append(f"{req}: {where} pins {chosen[0].version}")
    return problems


def read_in(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


RUNTIME = PYPROJECT["project"]["dependencies"]
EXTRAS = PYPROJECT["project"]["optional-dependencies"]

# (what is locked, the lock, where it is installed)
CASES = {
    "layer": (RUNTIME, LAYER_LOCK, LAMBDA),
    "dev": (RUNTIME + EXTRAS["dev"], LOCKS / "dev.txt", MACHINES),
    "bench": (RUNTIME + EXTRAS["dev"] + EXTRAS["bench"], LOCKS / "bench.txt", MACHINES),
    "tools": (read_in(LOCKS / "tools.in"), LOCKS / "tools.txt", MACHINES),
    "sam": (read_in(LOCKS / "sam.in"), LOCKS / "sam.txt", MACHINES),
    "checkov": (read_in(LOCKS / "checkov.in"), LOCKS / "checkov.txt", MACHINES),
}


@pytest.mark.parametrize("case", CASES)
def test_the_lock_pins_every_requirement_within_its_range(case: str) -> None:
    requirements, lock, envs = CASES[case]
    assert check(requirements, lock, envs) == [], "run `make lock` (README, Development)"


@pytest.mark.parametrize("case", CASES)
def test_every_pin_has_hashes(case: str) -> None:
    _, lock, _ = CASES[case]
    pins = read_lock(lock)
    assert pins
    assert [p.name for p in pins if not p.hashes] == []


def test_the_layer_ships_the_versions_the_tests_run() -> None:
    dev = {(p.name, p.version) for p in read_lock(LOCKS / "dev.txt") if p.applies(LAMBDA[0])}
    assert [(p.name, p.version) for p in read_lock(LAYER_LOCK) if (p.name, p.version) not in dev] == []


def test_a_forgotten_refresh_is_caught(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text(
        "boto3==1.35.0 \\\n    --hash=sha256:" + "0" * 64 + "\n"
        "networkx==3.6.1 ; python_full_version < '3.12' \\\n    --hash=sha256:" + "1" * 64 + "\n"
    )
    assert check(["boto3>=1.35"], lock, MACHINES) == []
    assert check(["boto3>=1.36"], lock, LAMBDA) == [
        "boto3>=1.36: requirements.txt (Python 3.12, aarch64) pins 1.35.0"
    ]
    assert len(check(["openai>=1.50"], lock, LAMBDA)) == 1  # not in the lock at all
    assert len(check(["networkx"], lock, MACHINES)) == 2  # pinned for 3.11 only
