"""POST /api/test-optimization: a workflow's sample caller turns through two pipelines, side by side.

- traditional: what a classic `<Gather>` → LLM → `<Say>` loop does. No cache, no streaming: the caller
  hears nothing until the whole reply is written, and the loop routes a spoken turn with an LLM call at
  every node that has plain-language edges, even when a keyword or intent edge already matched (it has
  no deterministic-first rule).
- optimized: `run_turn` as the relay runs it: deterministic edges first, the predictive cache (in
  memory, one per request), and the first speakable clause as soon as it is complete.

Each pass over the samples is one simulated call from the opening; the cache lives across passes, so
pass 2 onwards shows warm-cache turns. Within a turn both pipelines start from the same state (the
optimized run's, which drives the path) and the optimized one runs first, so it pays for any cold
connection. See docs/test-optimization.md for the request, the response and the method.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from .api_errors import ApiError, FieldProblem
from .cache import MemoryCacheStore, TurnCache
from .cache.prerender import opening_line
from .conversation import CallState, TurnInput, TurnOutcome, judge_messages, run_turn
from .conversation.state import with_exchange
from .languages import UnknownLanguageError, resolve_code
from .llm import FailoverChain, FailoverStream
from .make_call_request import MAX_WORKFLOW_ID, json_object, misspelt_fields, variable_warnings
from .metrics.histogram import exact_percentile
from .workflow import DTMF_DIGITS, Workflow, WorkflowError, check_variables, parse_workflow
from .workflow.errors import json_type

MAX_UTTERANCES = 20
MAX_REPEAT = 5
MAX_UTTERANCE_CHARS = 1000
DEFAULT_DEADLINE_S = 20.0  # well under API Gateway's 29 s integration timeout: one slow turn still fits

_REQUEST_KEYS = ("workflowId", "variables", "utterances", "repeat", "language")
_KNOWN = (*_REQUEST_KEYS, "nodes", "edges", "globalPrompt", "config")
_TURN_SHAPES = 'a string, {"say": "…"} or {"dtmf": "1"}'

Clock = Callable[[], float]


# --- the request ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleTurn:
    """One caller turn: words (as a transcript would give them) or one key press."""

    utterance: str | None = None
    digit: str | None = None

    def to_input(self) -> TurnInput:
        return TurnInput(utterance=self.utterance, digit=self.digit)

    def to_json(self) -> str | dict[str, str]:
        return self.utterance if self.utterance is not None else {"dtmf": self.digit or ""}


@dataclass(frozen=True)
class ComparisonRequest:
    workflow: Workflow
    samples: tuple[SampleTurn, ...]
    variables: dict[str, Any] = field(default_factory=dict)  # config.variables with the body's over them
    language: str = "en-US"
    repeat: int = 1
    workflow_id: str = ""
    warnings: tuple[FieldProblem, ...] = ()


def parse_comparison_request(raw: bytes) -> ComparisonRequest:
    """Raises ApiError: 413 too large, 400 not a JSON object, 422 listing every field problem."""
    body = json_object(raw)
    problems = misspelt_fields(body, _KNOWN)

    def bad(path: str, message: str) -> None:
        problems.append(FieldProblem(path, message))

    workflow_id = body.get("workflowId", "")
    if isinstance(workflow_id, int) and not isinstance(workflow_id, bool):
        workflow_id = str(workflow_id)
    if not isinstance(workflow_id, str) or len(workflow_id) > MAX_WORKFLOW_ID:
        bad("workflowId", f"expected a string of at most {MAX_WORKFLOW_ID} characters")
        workflow_id = ""

    samples = _samples(body.get("utterances"), bad)
    repeat = _repeat(body.get("repeat", 1), bad)

    variables: dict[str, Any] = {}
    try:
        variables = check_variables(body.get("variables"), "variables")
    except WorkflowError as error:
        problems.extend(FieldProblem(p.path, p.message) for p in error.problems)

    workflow: Workflow | None = None
    try:
        workflow = parse_workflow(body)
    except WorkflowError as error:
        problems.extend(FieldProblem(p.path, p.message) for p in error.problems)

    language = _language(body.get("language"), workflow, bad)

    if problems or workflow is None:
        first, more = problems[0], len(problems) - 1
        summary = f"{first.path}: {first.message}" + (f" (and {more} more problems)" if more else "")
        raise ApiError(422, "invalid_request", f"invalid request: {summary}", problems)
    merged = {**workflow.config.variables, **variables}
    return ComparisonRequest(
        workflow=workflow,
        samples=samples,
        variables=merged,
        language=language or resolve_code(workflow.config.language),
        repeat=repeat,
        workflow_id=workflow_id,
        warnings=variable_warnings(workflow, merged),
    )


def _samples(value: object, bad: Callable[[str, str], None]) -> tuple[SampleTurn, ...]:
    if value is None:
        bad("utterances", f"is required: 1 to {MAX_UTTERANCES} caller turns, each {_TURN_SHAPES}")
        return ()
    if not isinstance(value, list):
        bad("utterances", f"expected an array of caller turns, got {json_type(value)}")
        return ()
    if not value:
        bad("utterances", "must hold at least one caller turn")
        return ()
    if len(value) > MAX_UTTERANCES:
        bad("utterances", f"has {len(value)} caller turns; the limit is {MAX_UTTERANCES}")
        return ()
    samples = [_sample(item, f"utterances[{index}]", bad) for index, item in enumerate(value)]
    return tuple(sample for sample in samples if sample is not None)


def _sample(item: object, path: str, bad: Callable[[str, str], None]) -> SampleTurn | None:
    if isinstance(item, str):
        words = _words(item, path, bad)
        return SampleTurn(utterance=words) if words else None
    if not isinstance(item, dict):
        bad(path, f"expected {_TURN_SHAPES}, got {json_type(item)}")
        return None
    keys = set(item)
    if keys == {"say"}:
        if not isinstance(item["say"], str):
            bad(f"{path}.say", f"expected a string, got {json_type(item['say'])}")
            return None
        words = _words(item["say"], f"{path}.say", bad)
        return SampleTurn(utterance=words) if words else None
    if keys == {"dtmf"}:
        digit = item["dtmf"]
        if not isinstance(digit, str) or len(digit.strip()) != 1 or digit.strip() not in DTMF_DIGITS:
            shown = repr(digit) if isinstance(digit, str) else json_type(digit)
            bad(f"{path}.dtmf", f"{shown} is not one key of a phone keypad: expected one of 0-9, * or #")
            return None
        return SampleTurn(digit=digit.strip())
    shown = ", ".join(repr(key) for key in sorted(keys)) or "none"
    bad(path, f'expected an object with exactly one of "say" or "dtmf", got keys {shown}')
    return None


def _words(text: str, path: str, bad: Callable[[str, str], None]) -> str | None:
    words = text.strip()
    if not words:
        bad(path, 'is empty: a caller turn needs words (or use {"dtmf": "1"} for a key press)')
        return None
    if len(words) > MAX_UTTERANCE_CHARS:
        bad(path, f"is {len(words)} characters long; the limit is {MAX_UTTERANCE_CHARS}")
        return None
    return words


def _repeat(value: object, bad: Callable[[str, str], None]) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON's 3.0 is a whole number
    if isinstance(value, bool) or not isinstance(value, int):
        shown = value if isinstance(value, float) else json_type(value)
        bad("repeat", f"expected a whole number from 1 to {MAX_REPEAT}, got {shown}")
        return 1
    if not 1 <= value <= MAX_REPEAT:
        bad("repeat", f"must be from 1 to {MAX_REPEAT}, got {value}")
        return 1
    return value


def _language(value: object, workflow: Workflow | None, bad: Callable[[str, str], None]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        bad("language", f"expected a language code such as 'en-US', got {json_type(value)}")
        return None
    try:
        code = resolve_code(value.strip())
    except UnknownLanguageError:
        bad("language", f"{value!r} is not a language code the language table knows")
        return None
    if workflow is not None:
        declared = [resolve_code(tag) for tag in workflow.config.all_languages]
        if code not in declared:
            bad(
                "language",
                f"{value!r} is not one of this workflow's languages ({', '.join(declared)}): "
                "add it to config.languages",
            )
            return None
    return code


# --- running the comparison -------------------------------------------------------------------------------


class _CountingChain:
    """The chain as `run_turn` sees it, counting the requests one turn makes (judge and reply)."""

    def __init__(self, chain: FailoverChain) -> None:
        self.chain = chain
        self.requests = 0

    @property
    def live_providers(self) -> list[Any]:
        return self.chain.live_providers

    @property
    def scripted(self) -> Any:
        return self.chain.scripted

    def stream(self, messages: list[Any], **options: Any) -> FailoverStream:
        self.requests += 1
        return self.chain.stream(messages, **options)


@dataclass(frozen=True)
class _Run:
    """One pipeline's turn: its outcome and timings in seconds from the turn's start."""

    outcome: TurnOutcome
    first_speech_s: float
    total_s: float
    routing_s: float
    requests: int
    provider: str | None


def _last(events: Iterator[Any]) -> TurnOutcome:
    *_, outcome = events  # drains the turn: every chunk counts as spoken the moment it is yielded
    if not isinstance(outcome, TurnOutcome):
        raise RuntimeError(f"run_turn ended with {type(outcome).__name__}, not a TurnOutcome")
    return outcome


def _optimized(
    workflow: Workflow,
    state: CallState,
    turn: TurnInput,
    chain: FailoverChain,
    cache: TurnCache,
    clock: Clock,
) -> _Run:
    counter = _CountingChain(chain)
    started = clock()
    outcome = _last(
        run_turn(
            workflow, state, turn, cast(FailoverChain, counter), received_at=started, clock=clock, cache=cache
        )
    )
    ended = clock()
    marks = outcome.marks
    first = marks.first_chunk if marks.first_chunk is not None else ended
    routing = (marks.step_done or started) - started
    return _Run(outcome, first - started, ended - started, routing, counter.requests, outcome.provider)


def _traditional(
    workflow: Workflow, state: CallState, turn: TurnInput, chain: FailoverChain, clock: Clock
) -> _Run:
    counter = _CountingChain(chain)
    started = clock()
    judge_provider = _route_without_shortcut(workflow, state, turn, counter)
    outcome = _last(
        run_turn(workflow, state, turn, cast(FailoverChain, counter), received_at=started, clock=clock)
    )
    ended = clock()
    routing = (outcome.marks.step_done or started) - started
    # A <Gather> loop can only <Say> a finished text: first speech is when the whole turn is written.
    return _Run(
        outcome,
        ended - started,
        ended - started,
        routing,
        counter.requests,
        outcome.provider or judge_provider,
    )


def _route_without_shortcut(
    workflow: Workflow, state: CallState, turn: TurnInput, chain: _CountingChain
) -> str | None:
    """The LLM routing call a loop with no deterministic-first rule makes when a deterministic edge
    (keywords, intent, variable) matched a spoken turn at a node that also has plain-language edges (`run_turn` judges the other cases itself).
    Only its cost counts: both pipelines then follow the workflow's own routing. Returns the provider."""
    if not turn.utterance or not chain.live_providers:
        return None  # key presses arrive as Digits; with no live LLM there is nothing to ask
    step = workflow.next_step(state.node_id, utterance=turn.utterance, variables=state.variables)
    judged = tuple(edge for edge in workflow.edges_from(state.node_id) if edge.condition.kind == "llm")
    if not judged or step.edge is None or not step.edge.condition.deterministic:
        return None
    messages = judge_messages(turn.caller_words() or "", judged, state.history)
    with chain.stream(messages, max_tokens=3, temperature=0) as stream:
        stream.text()
        return stream.result.provider


def _opening_state(request: ComparisonRequest) -> tuple[str, CallState]:
    """What the call says before the caller speaks, in the request's language, and the state after it."""
    workflow, variables = request.workflow, request.variables
    text = opening_line(workflow, request.language, variables)
    node_id = workflow.auto_advance(workflow.start_node, variables).node_id
    state = CallState(node_id, request.language, variables=dict(variables))
    return text, replace(state, history=with_exchange(state, None, text))


def compare_pipelines(
    request: ComparisonRequest,
    chain: FailoverChain,
    *,
    deadline_s: float = DEFAULT_DEADLINE_S,
    clock: Clock = time.perf_counter,
    cache: TurnCache | None = None,
) -> dict[str, Any]:
    """Runs every pass and returns the response body. Stops before a turn that would likely end after
    `deadline_s` (judged by the slowest turn so far) and says `truncated: true`."""
    cache = cache or TurnCache(MemoryCacheStore())
    opening_text, first_state = _opening_state(request)
    started = clock()
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    slowest = 0.0
    truncated = False
    for pass_number in range(1, request.repeat + 1):
        state = first_state
        for position, sample in enumerate(request.samples, start=1):
            if state.ended:
                left = len(request.samples) - position + 1
                notes.append(
                    f"pass {pass_number}: the call ended at {state.node_id!r} after turn {position - 1}; "
                    f"{left} later utterance{'s were' if left > 1 else ' was'} not run"
                )
                break
            if clock() - started + slowest > deadline_s:
                truncated = True
                break
            turn_started = clock()
            turn = sample.to_input()
            optimized = _optimized(request.workflow, state, turn, chain, cache, clock)
            traditional = _traditional(request.workflow, state, turn, chain, clock)
            slowest = max(slowest, clock() - turn_started)
            row = _row(len(rows), pass_number, position, sample, optimized, traditional)
            if row.get("diverged"):
                notes.append(
                    f"pass {pass_number}, turn {position}: the traditional run went to "
                    f"{row['traditional']['node']!r}, the optimized one to {row['node']!r}; "
                    "the optimized path was followed"
                )
            rows.append(row)
            state = optimized.outcome.state
        if truncated:
            break
    elapsed = clock() - started
    if truncated:
        notes.append(
            f"stopped after {len(rows)} turns to answer within {deadline_s:g} s; the figures cover those turns"
        )
    if not chain.live_providers:
        notes.append(
            "no LLM is configured: the scripted responder spoke every LLM line, so the figures show the "
            "pipeline's own overhead, not a model's latency"
        )
    body: dict[str, Any] = {
        "success": True,
        "workflowId": request.workflow_id,
        "workflowVersion": request.workflow.version_hash,
        "language": request.language,
        "providers": [provider.name for provider in chain.providers],
        "scriptedOnly": not chain.live_providers,
        "opening": opening_text,
        "turns": rows,
        "summary": _summary(rows, request.repeat, cache),
        "truncated": truncated,
        "deadlineMs": _ms(deadline_s),
        "elapsedMs": _ms(elapsed),
        "notes": notes,
    }
    if request.warnings:
        body["warnings"] = [warning.to_dict() for warning in request.warnings]
    return body


def _row(
    index: int, pass_number: int, position: int, sample: SampleTurn, optimized: _Run, traditional: _Run
) -> dict[str, Any]:
    outcome = optimized.outcome
    row: dict[str, Any] = {
        "index": index,
        "pass": pass_number,
        "turn": position,
        "utterance": sample.to_json(),
        "node": outcome.state.node_id,
        "path": list(outcome.node_path),
        "action": outcome.action,
        "reply": outcome.reply,
        "needsLlm": outcome.cache_hit is not None,
        "traditional": {
            "msToFirstSpeech": _ms(traditional.first_speech_s),
            "msTotal": _ms(traditional.total_s),
            "routingMs": _ms(traditional.routing_s),
            "provider": traditional.provider,
            "llmCalls": traditional.requests,
        },
        "optimized": {
            "msToFirstSpeech": _ms(optimized.first_speech_s),
            "msTotal": _ms(optimized.total_s),
            "routingMs": _ms(optimized.routing_s),
            "cacheHit": outcome.cache_hit,
            "provider": optimized.provider,
            "llmCalls": optimized.requests,
        },
        "savedMs": _ms(traditional.first_speech_s - optimized.first_speech_s),
        "diverged": traditional.outcome.state.node_id != outcome.state.node_id,
    }
    if row["diverged"]:
        row["traditional"]["node"] = traditional.outcome.state.node_id
    return row


# --- the summary ------------------------------------------------------------------------------------------


def _stats(values: Sequence[float]) -> dict[str, float | None]:
    return {
        "p50": _round(exact_percentile(values, 50)),
        "p95": _round(exact_percentile(values, 95)),
        "mean": _round(sum(values) / len(values)) if values else None,
    }


def _ratio(slow: float | None, fast: float | None) -> float | None:
    # Below 0.1 ms the optimized figure is rounding noise (a verbatim line); a ratio over it means nothing.
    if slow is None or fast is None or fast < 0.1:
        return None
    return round(slow / fast, 2)


def _comparison(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    traditional = [row["traditional"]["msToFirstSpeech"] for row in rows]
    optimized = [row["optimized"]["msToFirstSpeech"] for row in rows]
    trad, opt = _stats(traditional), _stats(optimized)
    llm_rows = [row for row in rows if row["needsLlm"]]
    hits = sum(1 for row in llm_rows if row["optimized"]["cacheHit"])
    return {
        "turns": len(rows),
        "llmTurns": len(llm_rows),
        "traditional": trad,
        "optimized": opt,
        "speedup": {"mean": _ratio(trad["mean"], opt["mean"]), "p50": _ratio(trad["p50"], opt["p50"])},
        "savedMs": {
            "mean": _round(sum(traditional) / len(rows) - sum(optimized) / len(rows)) if rows else None,
            "total": _round(sum(traditional) - sum(optimized)),
        },
        "cacheHitRate": round(hits / len(llm_rows), 3) if llm_rows else None,
        "llmCalls": {
            "traditional": sum(row["traditional"]["llmCalls"] for row in rows),
            "optimized": sum(row["optimized"]["llmCalls"] for row in rows),
        },
    }


def _llm_only(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    llm_rows = [row for row in rows if row["needsLlm"]]
    trad = _stats([row["traditional"]["msToFirstSpeech"] for row in llm_rows])
    opt = _stats([row["optimized"]["msToFirstSpeech"] for row in llm_rows])
    return {
        "turns": len(llm_rows),
        "traditional": trad,
        "optimized": opt,
        "speedup": {"mean": _ratio(trad["mean"], opt["mean"]), "p50": _ratio(trad["p50"], opt["p50"])},
    }


def _summary(rows: Sequence[Mapping[str, Any]], repeat: int, cache: TurnCache) -> dict[str, Any]:
    summary = _comparison(rows)
    summary["llmTurnsOnly"] = _llm_only(rows)
    if repeat > 1:
        summary["passes"] = [
            {"pass": number, "cache": "cold" if number == 1 else "warm", **_comparison(of_pass)}
            for number in range(1, repeat + 1)
            if (of_pass := [row for row in rows if row["pass"] == number])
        ]
    stats = cache.store.stats
    summary["cache"] = {"hits": stats.hits, "misses": stats.misses, "writes": stats.writes}
    return summary


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
