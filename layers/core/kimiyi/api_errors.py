"""One error body for the control-plane API, so clients handle every failure the same way.

    {"success": false, "error": "<stable code>", "message": "<one readable sentence>",
     "problems": [{"path": "to", "message": "..."}], ...extra fields such as "twilio"}

`problems` is always present (empty when the fault is not about one field). Text in the body that is
not Unicode (a lone surrogate a client sent and a message echoes) is written as a `\\udXXX` escape, so
the body can always be encoded as UTF-8: an error about bad input never becomes a 500 itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .inputs import printable


@dataclass(frozen=True)
class FieldProblem:
    path: str  # where in the request: "to", "nodes[2] (id 'ask').data.prompt", "headers.Idempotency-Key"
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"path": printable(self.path), "message": printable(self.message)}


class ApiError(Exception):
    """A request that cannot be served, with the HTTP status and the body that say why."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        problems: Iterable[FieldProblem] = (),
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.problems = tuple(problems)
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        return {
            "success": False,
            "error": self.code,
            "message": printable(self.message),
            "problems": [problem.to_dict() for problem in self.problems],
            **_printable(self.extra),
        }


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, Mapping):
        return {printable(str(key)): _printable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(item) for item in value]
    return value
