"""POST /api/test-optimization: sample caller turns through the traditional and the optimized pipeline.

No phone call and no AWS resource but the LLM keys in SSM; the work is in kimiyi.test_optimization. The
API key was checked by the HTTP API's authorizer before this runs. See docs/test-optimization.md.
"""

from functools import lru_cache

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from kimiyi.answers import answer_errors, json_response
from kimiyi.api_errors import ApiError
from kimiyi.api_keys import caller_keys, require_tenant
from kimiyi.inputs import event_body
from kimiyi.llm import FailoverChain, LLMConfigError, chain_from_env, env_with_secrets
from kimiyi.settings import Settings
from kimiyi.test_optimization import DEFAULT_DEADLINE_S, compare_pipelines, parse_comparison_request

logger = Logger()
app = APIGatewayHttpResolver()
answer_errors(app, logger, serves="POST /api/test-optimization")

# Kept back from the invocation's remaining time: the turn under way when the deadline passes and the
# answer itself must still fit before the Lambda (29 s) and API Gateway time out.
SAFETY_MARGIN_S = 6.0
_LLM_SETTINGS = ("LLM_", "AZURE_OPENAI_", "OPENAI_")


@lru_cache(maxsize=4)
def _chain_for(settings: tuple[tuple[str, str], ...]) -> FailoverChain:
    # One chain per configuration and process, like the relay's: its connections stay open between requests.
    return chain_from_env(dict(settings))


def llm_chain() -> FailoverChain:
    """The configured chain; a bad configuration is an error here, not a silent scripted fallback."""
    try:
        env = env_with_secrets(Settings())
    except Exception:
        logger.exception("could not read the LLM keys")
        raise ApiError(
            503, "secrets_unavailable", "the LLM keys could not be read from SSM Parameter Store; try again"
        ) from None
    settings = tuple(sorted((name, value) for name, value in env.items() if name.startswith(_LLM_SETTINGS)))
    try:
        return _chain_for(settings)
    except LLMConfigError as error:  # the message names the variable, never a key
        raise ApiError(503, "llm_not_configured", f"the LLM configuration is invalid: {error}") from None


def deadline_for(context: LambdaContext | None) -> float:
    if context is None:
        return DEFAULT_DEADLINE_S
    remaining_s = context.get_remaining_time_in_millis() / 1000
    return max(0.0, min(DEFAULT_DEADLINE_S, remaining_s - SAFETY_MARGIN_S))


@app.post("/api/test-optimization")
def compare() -> Response:
    require_tenant(app.current_event.raw_event)  # a run stores nothing: its cache lives in the request
    try:
        raw = event_body(app.current_event.raw_event)
    except ValueError as error:
        raise ApiError(400, "invalid_json", str(error)) from None
    request = parse_comparison_request(raw)
    body = compare_pipelines(request, llm_chain(), deadline_s=deadline_for(app.lambda_context))
    summary = body["summary"]
    logger.info(
        "test-optimization done",
        extra={
            "turns": summary["turns"],
            "truncated": body["truncated"],
            "speedupMean": summary["speedup"]["mean"],
            "cacheHitRate": summary["cacheHitRate"],
            "providers": body["providers"],
        },
    )
    return json_response(200, body)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    logger.append_keys(**caller_keys(event))
    return app.resolve(event, context)
