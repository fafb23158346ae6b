"""GET /api/performance-metrics/{trackingId} and GET /api/performance-metrics?minutes=N.

The API key was checked by the HTTP API authorizer before this runs; its context names the tenant,
whose calls and windows alone are answered. The work is in
kimiyi.metrics.api (PerformanceMetrics); this module routes, and shapes errors into the API's one
error body.
"""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from kimiyi.adapters.metrics_store import MetricsReadError, open_metrics_store
from kimiyi.api_errors import ApiError
from kimiyi.api_keys import caller_keys, require_tenant
from kimiyi.metrics import PerformanceMetrics
from kimiyi.settings import Settings

logger = Logger()
app = APIGatewayHttpResolver()
service = PerformanceMetrics(open_metrics_store(Settings().tables.calls))

NO_STORE = {"Cache-Control": "no-store"}  # figures change with every turn


def _json(status: int, body: dict) -> Response:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=NO_STORE
    )


@app.get("/api/performance-metrics/<tracking_id>")
def call_metrics(tracking_id: str) -> Response:
    logger.append_keys(trackingId=tracking_id[:128])
    tenant = require_tenant(app.current_event.raw_event)
    return _json(200, service.call(tracking_id, tenant, app.current_event.query_string_parameters))


@app.get("/api/performance-metrics")
def aggregate_metrics() -> Response:
    tenant = require_tenant(app.current_event.raw_event)
    return _json(200, service.aggregate(tenant, app.current_event.query_string_parameters))


@app.exception_handler(ApiError)
def api_error(error: ApiError) -> Response:
    return _json(error.status, error.body())


@app.exception_handler(MetricsReadError)
def unavailable(error: MetricsReadError) -> Response:
    logger.warning("aggregates unavailable", extra={"problem": str(error)})
    return _json(503, ApiError(503, "metrics_unavailable", "the aggregates could not be read; retry").body())


@app.not_found  # registered, or the resolver hands not-found to the Exception handler below: a 500
def not_found(_: Exception) -> Response:
    event = app.current_event
    message = (
        f"no route {event.http_method} {event.path}; this function serves "
        "GET /api/performance-metrics/{trackingId} and GET /api/performance-metrics"
    )
    return _json(404, ApiError(404, "not_found", message).body())


@app.exception_handler(Exception)
def internal(error: Exception) -> Response:
    logger.exception("performance metrics failed")
    return _json(500, ApiError(500, "internal_error", "internal error").body())


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    logger.append_keys(**caller_keys(event))
    return app.resolve(event, context)
