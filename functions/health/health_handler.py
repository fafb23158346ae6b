"""GET /api/health-optimized: dependencies reachable, configuration present, targets."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from kimiyi.settings import Settings
from kimiyi.status import check_health

logger = Logger()
app = APIGatewayHttpResolver()


@app.get("/api/health-optimized")
def health() -> Response:
    status, body = check_health(Settings())
    if status != 200:
        logger.warning("unhealthy", extra={"failing": body["failing"]})
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
