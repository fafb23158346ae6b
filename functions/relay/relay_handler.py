"""ConversationRelay WebSocket: $connect, $default, $disconnect (hot path: lean imports, clients at init)."""

import os

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from kimiyi.adapters.cache_store import open_cache_store
from kimiyi.adapters.calls_store import CallsStore
from kimiyi.adapters.metrics_store import MetricsStore
from kimiyi.cache import NearCacheStore, TurnCache, warm
from kimiyi.llm import FailoverChain, LLMConfigError, chain_from_env, env_with_secrets
from kimiyi.metrics import TurnMetrics, flush_metrics_after
from kimiyi.relay.service import Relay
from kimiyi.settings import Settings

logger = Logger()
# EMF: namespace POWERTOOLS_METRICS_NAMESPACE, the one dimension `service` (POWERTOOLS_SERVICE_NAME).
metrics = Metrics()
settings = Settings()
calls_table = boto3.resource("dynamodb").Table(settings.tables.calls)


def build_chain() -> FailoverChain:
    """The LLM chain, built at init so warm environments have their clients ready."""
    try:
        return chain_from_env(env_with_secrets(settings))
    except LLMConfigError:
        logger.exception("LLM configuration is invalid: every turn uses the scripted responder")
    except Exception:  # SSM unreachable at init: speak scripted lines rather than fail every invocation
        logger.exception("could not read the LLM keys: every turn uses the scripted responder")
    return FailoverChain([])


chain = build_chain()
warm()  # the cache's word lists, loaded at init rather than in the first turn

relay = Relay(
    store=CallsStore(calls_table),
    # The @connections endpoint is the WebSocket URL over https (http for the local stack).
    connections=boto3.client(
        "apigatewaymanagementapi", endpoint_url=os.environ["WEBSOCKET_URL"].replace("ws", "http", 1)
    ),
    chain=chain,
    auth_token=lambda: settings.secret("twilio-auth-token"),
    websocket_url=os.environ["WEBSOCKET_URL"],
    logger=logger,
    # Replies this environment served lately answer from memory; the shared table stays the truth.
    cache=TurnCache(NearCacheStore(open_cache_store(settings.tables.cache))),
    metrics=TurnMetrics(store=MetricsStore(calls_table), emf=metrics, logger=logger),
)


@logger.inject_lambda_context(clear_state=True)
@flush_metrics_after(metrics)  # log_metrics, silent for the invocations that record no turn
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    route = event["requestContext"]["routeKey"]
    if route == "$connect":
        return relay.on_connect(event)
    if route == "$disconnect":
        relay.on_disconnect(event)
    else:
        relay.on_message(event)  # never raises; API Gateway sends nothing back without a route response
    return {"statusCode": 200}
