"""The make-call body, checked in one pass: every fault is reported at once, each naming its field.

Body: {to, workflowId, nodes, edges, globalPrompt, config} plus optional variables, from, mode, dryRun.
See docs/make-call.md.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .api_errors import ApiError, FieldProblem
from .inputs import JsonInputError, parse_json
from .phone_numbers import to_e164
from .workflow import Workflow, WorkflowError, check_variables, parse_workflow
from .workflow.errors import json_type

MAX_BODY_BYTES = 256 * 1024
MAX_WORKFLOW_ID = 128
MAX_IDEMPOTENCY_KEY = 255

# Body modes; config.mode spells streaming out, and either spelling is accepted here.
_MODES = {"stream": "stream", "streaming": "stream", "classic": "classic"}
_REQUEST_KEYS = ("to", "from", "workflowId", "variables", "mode", "dryRun")
_WORKFLOW_KEYS = ("nodes", "edges", "globalPrompt", "config")
_KNOWN = _REQUEST_KEYS + _WORKFLOW_KEYS


@dataclass(frozen=True)
class CallRequest:
    to: str
    from_: str
    workflow_id: str
    workflow: Workflow
    variables: dict[str, Any]  # config.variables with the body's `variables` over them
    mode: str  # "stream" | "classic"
    dry_run: bool
    body: dict[str, Any] = field(repr=False)  # as received: what an Idempotency-Key is checked against
    warnings: tuple[FieldProblem, ...] = ()


def parse_call_request(raw: bytes, *, default_from: str = "") -> CallRequest:
    """Raises ApiError: 413 too large, 400 not a JSON object, 422 with every field problem."""
    body = json_object(raw)
    problems = misspelt_fields(body, _KNOWN)

    def bad(path: str, message: str) -> None:
        problems.append(FieldProblem(path, message))

    to = _phone(body, "to", bad, required=True)
    dry_run = body.get("dryRun", False)
    if not isinstance(dry_run, bool):
        bad("dryRun", f"expected true or false, got {json_type(dry_run)}")
        dry_run = False
    from_ = _phone(body, "from", bad, required=False) or default_from
    if not from_ and not dry_run and "from" not in body:
        bad("from", "is required: no default caller ID is configured (TWILIO_FROM_NUMBER)")

    workflow_id = body.get("workflowId", "")
    if isinstance(workflow_id, int) and not isinstance(workflow_id, bool):
        workflow_id = str(workflow_id)  # builders with numeric ids
    if not isinstance(workflow_id, str) or len(workflow_id) > MAX_WORKFLOW_ID:
        bad("workflowId", f"expected a string of at most {MAX_WORKFLOW_ID} characters")
        workflow_id = ""

    raw_mode = body.get("mode")
    mode = _MODES.get(raw_mode) if isinstance(raw_mode, str) else None
    if raw_mode is not None and mode is None:
        shown = repr(raw_mode) if isinstance(raw_mode, str) else json_type(raw_mode)
        bad("mode", f"unknown mode {shown}; expected 'stream' or 'classic'")

    variables: dict[str, Any] = {}
    try:
        variables = check_variables(body.get("variables"), "variables")
    except WorkflowError as error:
        problems += [FieldProblem(p.path, p.message) for p in error.problems]

    workflow: Workflow | None = None
    try:
        workflow = parse_workflow(body)
    except WorkflowError as error:
        problems += [FieldProblem(p.path, p.message) for p in error.problems]

    if problems or workflow is None:
        first, more = problems[0], len(problems) - 1
        summary = f"{first.path}: {first.message}" + (f" (and {more} more problems)" if more else "")
        raise ApiError(422, "invalid_request", f"invalid request: {summary}", problems)
    merged = {**workflow.config.variables, **variables}
    return CallRequest(
        to=to,
        from_=from_,
        workflow_id=workflow_id,
        workflow=workflow,
        variables=merged,
        mode=mode or ("classic" if workflow.config.mode == "classic" else "stream"),
        dry_run=dry_run,
        body=body,
        warnings=variable_warnings(workflow, merged),
    )


def check_idempotency_key(value: str | None) -> str | None:
    """The header's value, or None without one; raises ApiError 422 for an unusable key."""
    if value is None:
        return None
    key = value.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not all("!" <= ch <= "~" for ch in key):
        raise ApiError(
            422,
            "invalid_request",
            "the Idempotency-Key header is unusable",
            [
                FieldProblem(
                    "headers.Idempotency-Key",
                    f"expected 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters, such as a UUID",
                )
            ],
        )
    return key


def json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, read by kimiyi.inputs.parse_json: 413 too large; 400 not UTF-8, not
    JSON, nested too deep or not an object; 422 naming every field whose text is not Unicode."""
    if not raw.strip():
        raise ApiError(400, "invalid_json", "the body is empty; expected a JSON object")
    try:
        body = parse_json(raw, max_size=MAX_BODY_BYTES)
    except JsonInputError as error:
        if error.kind == "too_large":
            raise ApiError(
                413,
                "body_too_large",
                f"the body is {len(raw):,} bytes; the limit is {MAX_BODY_BYTES:,} bytes (256 KB)",
            ) from None
        if error.kind == "not_unicode":
            problems = [FieldProblem(path, message) for path, message in error.problems]
            raise ApiError(422, "invalid_request", f"invalid request: {error.message}", problems) from None
        raise ApiError(400, "invalid_json", error.message) from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", f"the body must be a JSON object, got {json_type(body)}")
    return body


def _phone(body: dict[str, Any], key: str, bad: Any, *, required: bool) -> str:
    value = body.get(key)
    if value is None:
        if required:
            bad(key, "is required: the number to call, in E.164 form such as +14155550123")
        return ""
    if not isinstance(value, str):
        bad(key, f"expected a string such as +14155550123, got {json_type(value)}")
        return ""
    try:
        return to_e164(value)
    except ValueError as error:
        bad(key, str(error))
        return ""


def misspelt_fields(body: dict[str, Any], known: Sequence[str]) -> list[FieldProblem]:
    """Unknown keys are ignored (builders send `viewport`), but one that looks like a known field is
    refused: a misspelt `dryrun: true` would otherwise dial."""
    return [
        FieldProblem(key, f"unknown field {key!r}; did you mean {hint!r}?")
        for key in body
        if key not in known and (hint := _misspelt(key, known))
    ]


def _misspelt(key: str, known: Sequence[str]) -> str | None:
    squashed = key.lower().replace("_", "").replace("-", "")
    for name in known:
        if squashed == name.lower():
            return name
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.8)
    return close[0] if close else None


def variable_warnings(workflow: Workflow, variables: dict[str, Any]) -> tuple[FieldProblem, ...]:
    found = [FieldProblem(w.path, w.message) for w in workflow.warnings]
    found += [
        FieldProblem(
            f"variables.{name}", "is used by the workflow with no default and is not set: it renders empty"
        )
        for name in workflow.missing_variables(variables)
    ]
    return tuple(found)
