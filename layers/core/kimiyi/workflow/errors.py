"""Validation problems and the error that carries them: every problem names where it is and what is wrong."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

Severity = Literal["error", "warning"]

# str(WorkflowError) lists this many problems; the full list stays on .problems.
_SUMMARY_LIMIT = 40


@dataclass(frozen=True, slots=True)
class Problem:
    """One fault in a workflow payload. `path` locates it, e.g. "nodes[3] (id 'confirm').data.prompt"."""

    path: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message, "severity": self.severity}


class WorkflowError(ValueError):
    """The payload is not a valid workflow. `problems` holds every error found, not just the first."""

    def __init__(self, problems: Iterable[Problem], warnings: Iterable[Problem] = ()) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.warnings: tuple[Problem, ...] = tuple(warnings)
        super().__init__(self._summary())

    def _summary(self) -> str:
        count = len(self.problems)
        lines = [f"invalid workflow: {count} problem{'s' if count != 1 else ''}"]
        lines += [f"- {problem}" for problem in self.problems[:_SUMMARY_LIMIT]]
        if count > _SUMMARY_LIMIT:
            lines.append(f"- … and {count - _SUMMARY_LIMIT} more")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready body for an HTTP 400 answer."""
        return {
            "error": "invalid workflow",
            "problems": [problem.to_dict() for problem in self.problems],
            "warnings": [warning.to_dict() for warning in self.warnings],
        }


class Problems:
    """Collects problems while a payload is checked, so the caller hears about all of them at once."""

    def __init__(self) -> None:
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(Problem(path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(Problem(path, message, "warning"))

    def raise_if_any(self) -> None:
        if self.errors:
            raise WorkflowError(self.errors, self.warnings)


def json_type(value: object) -> str:
    """The JSON name of a value's type, for messages like "expected a string, got an array"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, Sequence):
        return "an array"
    return type(value).__name__
