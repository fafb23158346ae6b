"""POST /api/call-status: Twilio's status callbacks and the <Connect action> callback."""

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from kimiyi.adapters.call_records import CallRecords
from kimiyi.adapters.calls_store import CallsStore
from kimiyi.settings import Settings
from kimiyi.webhooks import CallStatusWebhook

logger = Logger()
settings = Settings()
table = boto3.resource("dynamodb").Table(settings.tables.calls)

webhook = CallStatusWebhook(
    store=CallsStore(table),
    records=CallRecords(table),
    auth_token=lambda: settings.secret("twilio-auth-token"),
    public_base_url=settings.get("PUBLIC_BASE_URL"),
    logger=logger,
)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return webhook.handle(event)
