"""POST /api/make-call-optimized: the control plane (FastAPI + Mangum); the work is in kimiyi.make_call.

Clients live at module scope so warm invocations reuse them; settings and secrets are read per request
(Powertools caches the SSM ones for five minutes).
"""

import asyncio
import threading
from functools import lru_cache

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from mangum import Mangum
from starlette.exceptions import HTTPException

from kimiyi.adapters.idempotency import Once
from kimiyi.adapters.staged_calls import StagedCalls
from kimiyi.adapters.twilio_calls import TwilioCalls, default_http_client
from kimiyi.api_errors import ApiError, FieldProblem
from kimiyi.api_keys import caller_keys, require_tenant
from kimiyi.make_call import CallSettings, MakeCall, public_base_url
from kimiyi.settings import Settings

logger = Logger()
tables = Settings().tables
once = Once(tables.idempotency)
twilio_http = default_http_client()  # the transport; tests put a fake Twilio here


@lru_cache(maxsize=4)
def _twilio(account_sid: str, auth_token: str, http: object) -> TwilioCalls:
    return TwilioCalls(account_sid, auth_token, http_client=http)  # type: ignore[arg-type]


def dialer() -> TwilioCalls | None:
    settings = Settings()
    account_sid, token = settings.get("TWILIO_ACCOUNT_SID"), settings.secret("twilio-auth-token")
    return _twilio(account_sid, token, twilio_http) if account_sid and token else None


service = MakeCall(StagedCalls(boto3.resource("dynamodb").Table(tables.calls)), dialer, once, logger)
app = FastAPI(title="Kimiyi Voice control plane", docs_url=None, redoc_url=None, openapi_url=None)


@app.post("/api/make-call-optimized")
async def make_call(request: Request) -> JSONResponse:
    event = request.scope["aws.event"]
    context = event.get("requestContext") or {}
    settings = Settings()
    try:
        tenant_id = require_tenant(event)
        reply = service(
            await request.body(),
            CallSettings(
                allowed_country_codes=settings.get("ALLOWED_COUNTRY_CODES"),
                public_base_url=public_base_url(
                    settings.get("PUBLIC_BASE_URL"), context.get("domainName", "")
                ),
                default_from=settings.get("TWILIO_FROM_NUMBER"),
            ),
            idempotency_key=request.headers.get("idempotency-key"),
            tenant_id=tenant_id,
        )
    except ApiError as error:
        return error_response(error)
    except Exception:
        logger.exception("make-call failed")
        return error_response(ApiError(500, "internal_error", "internal error"))
    return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


@app.exception_handler(RequestValidationError)
async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
    problems = [
        FieldProblem(".".join(str(part) for part in item["loc"]), item["msg"]) for item in error.errors()
    ]
    return error_response(ApiError(422, "invalid_request", "the request is invalid", problems))


@app.exception_handler(HTTPException)
async def http_error(_: Request, error: HTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
    return error_response(ApiError(error.status_code, code, str(error.detail)))


_loops = threading.local()


def _use_thread_event_loop() -> None:
    # Mangum runs the app on the current thread's event loop; the local stack invokes handlers on worker
    # threads, which have none, so each thread gets its own (created once, reused while it lives).
    loop = getattr(_loops, "loop", None)
    if loop is None:
        loop = _loops.loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)


_use_thread_event_loop()
asgi = Mangum(app, lifespan="off")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    _use_thread_event_loop()
    once.register_lambda_context(context)
    logger.append_keys(**caller_keys(event))
    return asgi(event, context)
