"""POST /api/twiml-optimized: Twilio's voice webhook (hot path: lean imports, clients at init).

Stream mode needs no LLM, so the LLM chain is built on the first classic turn that needs one: a
stream-only environment never imports `openai` nor reads the LLM keys.
"""

import os
from functools import cache

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from kimiyi.adapters.call_records import CallRecords
from kimiyi.adapters.calls_store import CallsStore
from kimiyi.classic import ClassicCall
from kimiyi.llm import FailoverChain, chain_from_env, env_with_secrets
from kimiyi.settings import Settings
from kimiyi.twiml import TwimlWebhook

logger = Logger()
settings = Settings()
table = boto3.resource("dynamodb").Table(settings.tables.calls)
store = CallsStore(table)
records = CallRecords(table)


@cache
def llm_chain() -> FailoverChain:
    try:
        return chain_from_env(env_with_secrets(settings))
    except Exception:  # a bad LLM configuration or SSM unreachable: scripted lines rather than silence
        logger.exception("could not build the LLM chain: classic turns use the scripted responder")
        return FailoverChain([])


webhook = TwimlWebhook(
    store=store,
    records=records,
    classic=ClassicCall(store=store, records=records, chain=llm_chain, logger=logger),
    auth_token=lambda: settings.secret("twilio-auth-token"),
    public_base_url=settings.get("PUBLIC_BASE_URL"),
    websocket_url=os.environ.get("WEBSOCKET_URL", ""),
    logger=logger,
)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return webhook.handle(event)
