"""GET /api/performance-metrics/{trackingId} and GET /api/performance-metrics?minutes=N.

The API key was checked by the HTTP API authorizer before this runs; its context names the tenant,
whose calls and windows alone are answered. The work is in
kimiyi.metrics.api (PerformanceMetrics); this module routes, and shapes errors into the API's one
error body.
"""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from kimiyi.adapters.metrics_store import MetricsReadError, open_metrics_store
from kimiyi.answers import answer_errors, error_response, json_response
from kimiyi.api_errors import ApiError
from kimiyi.api_keys import caller_keys, require_tenant
from kimiyi.metrics import PerformanceMetrics
from kimiyi.settings import Settings

logger = Logger()
app = APIGatewayHttpResolver()
service = PerformanceMetrics(open_metrics_store(Settings().tables.calls))

NO_STORE = {"Cache-Control": "no-store"}  # figures change with every turn
SERVES = "GET /api/performance-metrics/{trackingId} and GET /api/performance-metrics"
answer_errors(app, logger, serves=SERVES, headers=NO_STORE)


def _json(status: int, body: dict) -> Response:
    return json_response(status, body, NO_STORE)


@app.get("/api/performance-metrics/<tracking_id>")
def call_metrics(tracking_id: str) -> Response:
    logger.append_keys(trackingId=tracking_id[:128])
    tenant = require_tenant(app.current_event.raw_event)
    return _json(200, service.call(tracking_id, tenant, app.current_event.query_string_parameters))


@app.get("/api/performance-metrics")
def aggregate_metrics() -> Response:
    tenant = require_tenant(app.current_event.raw_event)
    return _json(200, service.aggregate(tenant, app.current_event.query_string_parameters))


@app.exception_handler(MetricsReadError)
def unavailable(error: MetricsReadError) -> Response:
    logger.warning("aggregates unavailable", extra={"problem": str(error)})
    return error_response(
        ApiError(503, "metrics_unavailable", "the aggregates could not be read; retry"), NO_STORE
    )


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    logger.append_keys(**caller_keys(event))
    return app.resolve(event, context)
