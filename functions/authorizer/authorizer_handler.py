"""HTTP API Lambda authorizer (payload 2.0, simple responses): which tenant does `x-api-key` open?

API Gateway answers 401 itself when the header is missing (it is the identity source) and 403 when this
returns isAuthorized false; results are cached per key for five minutes (template: ReauthorizeEvery).
The context carries the tenant and the key's id (a short hash), never the key. Keys: kimiyi.api_keys.
"""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from kimiyi.adapters.tenant_keys import load_tenant_keys
from kimiyi.api_keys import authorize
from kimiyi.settings import Settings

logger = Logger()


def presented_key(event: dict) -> str | None:
    headers = event.get("headers") or {}
    # HTTP API lower-cases header names; identitySource holds the same value, in order.
    key = headers.get("x-api-key")
    if key is None and event.get("identitySource"):
        key = event["identitySource"][0]
    return key


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    try:
        keys = load_tenant_keys(Settings())
    except Exception:
        # Fail closed: a key that cannot be checked opens nothing (API Gateway answers 403).
        logger.exception("could not read the tenants' API keys: denying")
        return {"isAuthorized": False}
    for problem in keys.problems:
        logger.error("API key configuration problem", extra={"problem": problem})
    if not keys:
        logger.error("no API keys configured (SSM <SECRETS_PATH>/tenants/* or KIMIYI_API_KEYS): denying")
        return {"isAuthorized": False}
    response = authorize(presented_key(event), keys)
    route = event.get("routeKey", "")
    if response["isAuthorized"]:
        logger.info("authorized", extra={"route": route, **response["context"]})
    else:
        logger.warning("wrong or missing API key", extra={"route": route})
    return response
