"""HTTP API Lambda authorizer (payload 2.0, simple responses): is `x-api-key` one of the configured keys?

API Gateway answers 401 itself when the header is missing (it is the identity source) and 403 when this
returns isAuthorized false; results are cached per key for five minutes (template: ReauthorizeEvery).
The context carries the key's id (a short hash), never the key.
"""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from kimiyi.api_keys import ApiKeys, authorize
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
    keys = ApiKeys.parse(Settings().secret("api-keys"))
    if not keys:
        # Fail closed: with no key configured nobody gets in, and the operator is told why.
        logger.error("no API keys configured (SSM <SECRETS_PATH>/api-keys or KIMIYI_API_KEYS): denying")
        return {"isAuthorized": False}
    response = authorize(presented_key(event), keys)
    route = event.get("routeKey", "")
    if response["isAuthorized"]:
        logger.info("authorized", extra={"route": route, "keyId": response["context"]["keyId"]})
    else:
        logger.warning("wrong or missing API key", extra={"route": route})
    return response
