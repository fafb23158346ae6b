"""The control plane's OpenAPI document, generated from pydantic models of its envelopes.

The models are the documented contract, not the validation: each route checks its body by hand
(kimiyi.make_call_request, kimiyi.test_optimization, kimiyi.workflow), reporting every problem with its
path, and that stays the truth. The models are written loosely enough to admit every body those checks
accept (a React Flow save with UI keys, choices in any case, whole numbers written as 2.0), so a body
valid for the service is valid for the document; the reverse does not hold (a workflow whose edges
point nowhere fits the document and gets a 422).

It lives with the local tooling, not in the Lambda layer: pydantic is a development dependency only (the
functions validate by hand). docs/openapi.json is its output,
checked by tests/unit/test_openapi.py; regenerate it with

    python -m kimiyi_local.openapi docs/openapi.json

The Twilio-facing routes (the TwiML webhook, call-status, the WebSocket) are Twilio's contract, signed
with the account's auth token, and are not described here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from kimiyi import __version__
from kimiyi.make_call_request import MAX_BODY_BYTES, MAX_IDEMPOTENCY_KEY, MAX_WORKFLOW_ID
from kimiyi.workflow.validate import MAX_EDGES, MAX_GLOBAL_PROMPT, MAX_NODES

API_KEY_HEADER = "x-api-key"
Scalar = str | int | float | bool
_OPEN = ConfigDict(extra="allow")  # keys the service ignores (a builder's UI state) are allowed
_CLOSED = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------------------- the workflow
class WorkflowNode(BaseModel):
    """A React Flow node. `data` holds the type's fields (docs/workflows.md#nodes); `position`,
    `width`, `selected`, `parentId` and any other UI key are accepted and ignored."""

    model_config = ConfigDict(extra="allow", title="WorkflowNode")
    id: str = Field(min_length=1, max_length=128, description="unique among nodes")
    type: Literal["conversation", "static", "menu", "transfer", "end"] | str | None = Field(
        default=None,
        description="a step's type; any other type, or none, is an editor-only node (a group, a note) "
        "when no edge touches it: skipped with a warning (docs/workflows.md#editor-only-nodes)",
    )
    data: dict[str, Any] = Field(
        default_factory=dict,
        description="prompt, scriptedLine, text, options, phoneNumber, isStart, label, sendDigits… "
        "by node type; spoken text is a string or an object of BCP-47 tag -> text; other keys ignored",
    )
    position: dict[str, Any] | None = Field(default=None, description="UI only: ignored")


class EdgeData(BaseModel):
    model_config = _OPEN
    condition: str | dict[str, Any] | None = Field(
        default=None,
        description="always/else, keywords, intent, dtmf, variable or llm (docs/workflows.md#conditions); "
        "a bare string is an llm condition; missing or null is always",
    )
    priority: int | float | None = Field(
        default=None, ge=-1000, le=1000, description="whole number, lower first (default 0)"
    )


class WorkflowEdge(BaseModel):
    """A React Flow edge; `label`, `sourceHandle`, `animated`, `style`… are display-only."""

    model_config = ConfigDict(extra="allow", title="WorkflowEdge")
    id: str = Field(min_length=1, max_length=128, description="unique among edges")
    source: str = Field(description="a node id")
    target: str = Field(description="a node id")
    label: Any = Field(default=None, description="display only: not a condition")
    data: EdgeData | None = None


class WorkflowConfig(BaseModel):
    """Every field optional; an unknown key is refused. Choices match case-insensitively and whole
    numbers may be written as 2.0, so both are typed loosely here (docs/workflows.md#config)."""

    model_config = ConfigDict(extra="forbid", title="WorkflowConfig")
    language: str | None = Field(default=None, description="BCP-47, default en-US", examples=["en-US"])
    languages: list[str] | None = Field(default=None, max_length=10)
    voice: str | None = Field(default=None, max_length=100)
    ttsProvider: str | None = Field(default=None, description="Google | Amazon | ElevenLabs")
    transcriptionProvider: str | None = Field(default=None, description="Google | Deepgram")
    speechModel: str | None = Field(default=None, max_length=100)
    hints: list[str] | None = Field(default=None, max_length=100)
    model: str | None = Field(default=None, max_length=100)
    temperature: float | None = Field(default=None, ge=0, le=2)
    maxTokens: float | None = Field(default=None, ge=1, le=1024, description="whole number")
    providerOrder: list[str] | None = Field(
        default=None, min_length=1, description="from azure, openai, compatible, scripted; no repeats"
    )
    firstTokenTimeoutMs: float | None = Field(default=None, ge=100, le=10_000, description="whole number")
    maxTurns: float | None = Field(default=None, ge=1, le=500, description="whole number")
    maxCallSeconds: float | None = Field(default=None, ge=30, le=14_400, description="whole number")
    ringTimeoutSeconds: float | None = Field(default=None, ge=5, le=600, description="whole number")
    interruptible: str | bool | None = Field(default=None, description="any | speech | dtmf | none")
    interruptSensitivity: str | None = Field(default=None, description="low | medium | high")
    welcomeGreetingInterruptible: str | None = Field(default=None, description="any | speech | dtmf | none")
    dtmfDetection: bool | None = None
    mode: str | None = Field(default=None, description="streaming | classic")
    cacheResponses: bool | None = None
    recordCall: bool | None = None
    machineDetection: str | None = Field(default=None, description="off | Enable | DetectMessageEnd")
    variables: dict[str, Scalar] | None = Field(default=None, description="name -> value, at most 100")


class Workflow(BaseModel):
    """The four workflow fields, shared by make-call and test-optimization."""

    model_config = _OPEN
    nodes: list[WorkflowNode] = Field(min_length=1, max_length=MAX_NODES)
    edges: list[WorkflowEdge] | None = Field(default=None, max_length=MAX_EDGES)
    globalPrompt: str | None = Field(default=None, max_length=MAX_GLOBAL_PROMPT)
    config: WorkflowConfig | None = None
    workflowId: Annotated[str, Field(max_length=MAX_WORKFLOW_ID)] | int = Field(
        default="", description="your id (a whole number is kept as text)"
    )
    variables: dict[str, Scalar] | None = Field(
        default=None, description="the call's values, merged over config.variables"
    )


# --------------------------------------------------------------------------------------- the requests
class MakeCallRequest(Workflow):
    """POST /api/make-call-optimized (docs/make-call.md). Other top-level keys (a builder's `viewport`)
    are ignored, except ones that look like a misspelt field (`dryrun`): those are refused."""

    model_config = ConfigDict(extra="allow", title="MakeCallRequest", populate_by_name=True)
    to: str = Field(
        description="E.164; spaces, dots, dashes and parentheses are removed", examples=["+14155550123"]
    )
    from_: str | None = Field(
        default=None, alias="from", description="E.164 caller ID; default TWILIO_FROM_NUMBER"
    )
    mode: Literal["stream", "streaming", "classic"] | None = Field(
        default=None, description="default config.mode, else stream"
    )
    dryRun: bool = Field(default=False, description="stage the session without dialing")


class SampleTurn(BaseModel):
    model_config = _CLOSED
    say: str | None = Field(default=None, max_length=1000)
    dtmf: str | int | None = Field(default=None, description="one key: 0-9, *, #")


class TestOptimizationRequest(Workflow):
    """POST /api/test-optimization (docs/test-optimization.md)."""

    model_config = ConfigDict(extra="allow", title="TestOptimizationRequest")
    utterances: list[str | SampleTurn] = Field(
        min_length=1, max_length=20, description='each a string, {"say": "…"} or {"dtmf": "1"}'
    )
    repeat: int | float = Field(default=1, ge=1, le=5, description="whole number")
    language: str | None = Field(default=None, description="BCP-47; one the workflow declares")


# -------------------------------------------------------------------------------------- the answers
class FieldProblem(BaseModel):
    model_config = _CLOSED
    path: str = Field(examples=["nodes[3] (id 'confirm').data.prompt"])
    message: str


class ErrorBody(BaseModel):
    """Every error the functions answer (kimiyi.api_errors); extra fields such as `twilio` may follow."""

    model_config = _OPEN
    success: Literal[False]
    error: str = Field(description="a stable code to branch on", examples=["invalid_request"])
    message: str
    problems: list[FieldProblem]


class GatewayMessage(BaseModel):
    """What API Gateway itself answers: 401 Unauthorized (no key), 403 Forbidden (a key not configured),
    404 Not Found (no route), 429, 500 Internal Server Error."""

    model_config = _CLOSED
    message: str = Field(examples=["Unauthorized"])


class ExpectedLatency(BaseModel):
    model_config = _OPEN
    turnP50Ms: float
    turnP90Ms: float


class Optimization(BaseModel):
    model_config = _OPEN
    expectedLatency: ExpectedLatency
    features: list[str]


class MakeCallResponse(BaseModel):
    """201: a call placed (callSid, status) or, with dryRun, staged (dryRun: true)."""

    model_config = _OPEN
    success: Literal[True]
    trackingId: str
    mode: Literal["stream", "classic"]
    twimlUrl: str
    optimization: Optimization
    callSid: str | None = None
    status: str | None = None
    dryRun: bool | None = None
    warnings: list[FieldProblem] | None = None


class TestOptimizationResponse(BaseModel):
    model_config = _OPEN
    success: Literal[True]
    workflowId: str
    language: str
    providers: list[str]
    turns: list[dict[str, Any]]
    summary: dict[str, Any]


class GuideMetrics(BaseModel):
    """The integration guide's names for figures of `summary` (kimiyi.metrics.guide; docs/metrics.md)."""

    model_config = _OPEN
    averageLatency: float | None = Field(
        description="ms: the mean server-side turn latency (prompt received -> first text frame sent) of "
        "the turns that spoke, = summary.turnLatencyMs.avg; null before any turn spoke"
    )
    p50Latency: float | None
    p95Latency: float | None
    averageFirstTokenTime: float | None = Field(description="ms: LLM request -> first token")
    cacheHitRate: float | None = Field(
        ge=0, le=1, description="0-1: cache answers of the turns needing an LLM answer; null when none did"
    )
    totalTurns: int
    errors: int
    failovers: int
    latencyUnit: Literal["ms"]


class MetricsOptimization(BaseModel):
    model_config = _OPEN
    enabled: bool = Field(description="the optimized pipeline: ConversationRelay streaming (mode stream)")
    mode: Literal["stream", "classic"]


class CallMetricsResponse(BaseModel):
    model_config = _OPEN
    success: Literal[True]
    trackingId: str
    summary: dict[str, Any]
    turns: list[dict[str, Any]]
    metrics: GuideMetrics
    optimization: MetricsOptimization


class WindowMetricsResponse(BaseModel):
    model_config = _OPEN
    success: Literal[True]
    window: dict[str, Any]
    summary: dict[str, Any]
    precision: dict[str, Any]
    metrics: GuideMetrics
    optimization: MetricsOptimization


class HealthReport(BaseModel):
    model_config = _OPEN
    status: str = Field(examples=["healthy"])
    version: str | None = None
    dependencies: dict[str, Any] | None = None
    failing: list[str] | None = None


MODELS: tuple[type[BaseModel], ...] = (
    MakeCallRequest,
    TestOptimizationRequest,
    ErrorBody,
    GatewayMessage,
    MakeCallResponse,
    TestOptimizationResponse,
    CallMetricsResponse,
    WindowMetricsResponse,
    HealthReport,
)

# ----------------------------------------------------------------------------------------- the paths
_ERROR_TEXT = {
    400: "not JSON, not an object, or a bad parameter",
    401: "no x-api-key header (API Gateway)",
    403: "a key that is not configured (API Gateway), or a refusal by the function",
    404: "not found",
    409: "the first request with this Idempotency-Key is still running",
    413: f"the body is over {MAX_BODY_BYTES // 1024} KB",
    422: "a field is invalid: `problems` names each",
    429: "rate limited",
    502: "Twilio unavailable",
    503: "not configured, or a dependency unavailable",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int, keyed: bool = True) -> dict[str, Any]:
    answers = {}
    for status in sorted({*statuses, *((401, 403) if keyed else ())}):
        schema: dict[str, Any]
        if status in (401,):
            schema = _ref(GatewayMessage)
        elif status == 403 and keyed:
            schema = {"anyOf": [_ref(ErrorBody), _ref(GatewayMessage)]}
        else:
            schema = _ref(ErrorBody)
        answers[str(status)] = _json(schema, _ERROR_TEXT[status])
    return answers


def _paths() -> dict[str, Any]:
    public: list[dict[str, list[str]]] = []
    return {
        "/api/make-call-optimized": {
            "post": {
                "operationId": "makeCall",
                "summary": "Validate a workflow, stage the call and dial it (or only stage it: dryRun)",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "a request served with this key returns its stored answer for 24 h",
                        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(MakeCallRequest)}},
                },
                "responses": {
                    "201": _json(_ref(MakeCallResponse), "placed, or staged (dryRun)"),
                    **_errors(400, 403, 409, 413, 422, 429, 502, 503),
                },
            }
        },
        "/api/test-optimization": {
            "post": {
                "operationId": "testOptimization",
                "summary": "Run sample turns through the traditional and the optimized pipeline",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(TestOptimizationRequest)}},
                },
                "responses": {
                    "200": _json(_ref(TestOptimizationResponse), "the comparison"),
                    **_errors(400, 413, 422, 503),
                },
            }
        },
        "/api/performance-metrics/{trackingId}": {
            "get": {
                "operationId": "callMetrics",
                "summary": "One call's turns and summary",
                "parameters": [
                    {
                        "name": "trackingId",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"},
                    }
                ],
                "responses": {
                    "200": _json(_ref(CallMetricsResponse), "the call's metrics"),
                    **_errors(400, 404),
                },
            }
        },
        "/api/performance-metrics": {
            "get": {
                "operationId": "windowMetrics",
                "summary": "The summary over the last N minutes",
                "parameters": [
                    {
                        "name": "minutes",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 14 * 24 * 60, "default": 60},
                    }
                ],
                "responses": {
                    "200": _json(_ref(WindowMetricsResponse), "the window's summary"),
                    **_errors(400, 503),
                },
            }
        },
        "/api/health-optimized": {
            "get": {
                "operationId": "health",
                "summary": "Dependencies reachable, configuration present, targets (public: no key)",
                "security": public,
                "responses": {
                    "200": _json(_ref(HealthReport), "healthy"),
                    "503": _json(_ref(HealthReport), "unhealthy: `failing` names the parts"),
                },
            }
        },
    }


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document, built from the models; deterministic (docs/openapi.json is this)."""
    _, definitions = models_json_schema(
        [(model, "validation") for model in MODELS], ref_template="#/components/schemas/{model}"
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Kimiyi Voice control plane",
            "version": __version__,
            "description": "The HTTP API's keyed routes and health. Twilio's webhooks and the "
            "ConversationRelay WebSocket are signed with the Twilio auth token and follow Twilio's contract.",
        },
        "servers": [{"url": "http://127.0.0.1:3000", "description": "make dev"}],
        "security": [{"apiKey": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}},
            "schemas": dict(sorted(definitions["$defs"].items())),
        },
    }


def render() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m kimiyi_local.openapi docs/openapi.json", file=sys.stderr)
        return 2
    Path(argv[0]).write_text(render(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
