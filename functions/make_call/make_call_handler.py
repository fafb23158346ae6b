"""POST /api/make-call-optimized: the control plane's call placement; the work is in kimiyi.make_call.

Routed by Powertools' APIGatewayHttpResolver, as every other function here. (It ran FastAPI + Mangum
until the body's validation and the OpenAPI document were settled: the hand-written checks name every
faulty field by its path, which pydantic's errors cannot, and the document is generated from pydantic
models outside the Lambda (kimiyi_local.openapi). FastAPI then did nothing but route one path, for
about half a second of cold import.) Clients live at module scope so warm invocations reuse them; settings
and secrets are read per request (the SSM ones are cached for five minutes).
"""

from functools import lru_cache

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from kimiyi.adapters.idempotency import Once
from kimiyi.adapters.staged_calls import StagedCalls
from kimiyi.adapters.twilio_calls import TwilioCalls, default_http_client
from kimiyi.answers import answer_errors, error_response, json_response
from kimiyi.api_errors import ApiError
from kimiyi.api_keys import caller_keys, require_tenant
from kimiyi.inputs import event_body
from kimiyi.make_call import CallSettings, MakeCall, public_base_url
from kimiyi.settings import Settings

PATH = "/api/make-call-optimized"

logger = Logger()
tables = Settings().tables
once = Once(tables.idempotency)
twilio_http = default_http_client()  # the transport; tests put a fake Twilio here
app = APIGatewayHttpResolver()
answer_errors(app, logger, serves=f"POST {PATH}")


@lru_cache(maxsize=4)
def _twilio(account_sid: str, auth_token: str, http: object) -> TwilioCalls:
    return TwilioCalls(account_sid, auth_token, http_client=http)


def dialer() -> TwilioCalls | None:
    settings = Settings()
    account_sid, token = settings.get("TWILIO_ACCOUNT_SID"), settings.secret("twilio-auth-token")
    return _twilio(account_sid, token, twilio_http) if account_sid and token else None


service = MakeCall(StagedCalls(boto3.resource("dynamodb").Table(tables.calls)), dialer, once, logger)


@app.post(PATH)
def make_call() -> Response:
    event = app.current_event
    settings = Settings()
    try:
        raw = event_body(event.raw_event)
    except ValueError as error:
        raise ApiError(400, "invalid_json", str(error)) from None
    reply = service(
        raw,
        CallSettings(
            allowed_country_codes=settings.get("ALLOWED_COUNTRY_CODES"),
            public_base_url=public_base_url(
                settings.get("PUBLIC_BASE_URL"), event.request_context.domain_name
            ),
            default_from=settings.get("TWILIO_FROM_NUMBER"),
        ),
        idempotency_key=event.headers.get("idempotency-key"),
        tenant_id=require_tenant(event.raw_event),
    )
    return json_response(reply.status, reply.body, reply.headers)


@app.route(PATH, method=["GET", "PUT", "PATCH", "DELETE", "HEAD"])
def other_method() -> Response:
    return error_response(
        ApiError(405, "method_not_allowed", f"{PATH} accepts POST only", headers={"Allow": "POST"})
    )


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    once.register_lambda_context(context)
    logger.append_keys(**caller_keys(event))
    return app.resolve(event, context)
