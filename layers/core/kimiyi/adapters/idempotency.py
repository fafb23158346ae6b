"""Run an action at most once per idempotency key, with Powertools idempotency on DynamoDB.

The key is the client's identity (which API key) plus its Idempotency-Key header; the request body is
the payload Powertools validates, so the same key with a different body is refused rather than
answered with another request's result. A stored result is returned with `replayed` set. An action
that raises leaves no record, so the client may retry with the same key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)

# How long a key is remembered: retries come within minutes, but a client replaying a queue after an
# outage should still not dial twice.
KEY_LIFETIME_SECONDS = 24 * 3600


class KeyReused(Exception):
    """The key was used before with a different body."""


class KeyInProgress(Exception):
    """A request with this key is still being served."""


class StoreUnavailable(Exception):
    """The idempotency table could not be read or written before the action ran: nothing was done."""


class Once:
    def __init__(self, table_name: str, boto3_client: Any = None) -> None:
        store = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=boto3_client)
        self._config = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="body",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=KEY_LIFETIME_SECONDS,
            response_hook=lambda stored, _record: {**stored, "replayed": True},
        )
        self._run = idempotent_function(
            _invoke,
            data_keyword_argument="request",
            persistence_store=store,
            config=self._config,
            key_prefix="make-call",  # stable across function names and deployments
        )

    def register_lambda_context(self, context: Any) -> None:
        """Lets an in-progress record expire with the invocation, so a timed-out request can be retried."""
        self._config.register_lambda_context(context)

    def run(
        self, key: list[str], body: dict[str, Any], action: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """action()'s result (a JSON-ready dict), or the stored result of the first request with `key`."""
        done: dict[str, Any] = {}

        def act() -> dict[str, Any]:
            try:
                done["result"] = action()
            except Exception as error:
                done["error"] = error
                raise
            return done["result"]

        try:
            stored = self._run(request={"key": key, "body": body}, action=act)
        except IdempotencyValidationError:
            raise KeyReused() from None
        except IdempotencyAlreadyInProgressError:
            raise KeyInProgress() from None
        except IdempotencyPersistenceLayerError as error:
            if "result" in done:
                # The action ran (the call is placed) but its result could not be stored: answer it anyway;
                # failing now would invite a retry that dials again.
                return {**done["result"], "unrecorded": True}
            if "error" in done:  # the action failed and its record could not be removed: report the failure
                raise done["error"] from None
            raise StoreUnavailable(str(error)) from None
        result = json.loads(stored["result"])
        return {**result, "replayed": True} if stored.get("replayed") else result


def _invoke(*, request: dict[str, Any], action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    # Stored as one JSON string, so a replay gives back the same keys in the same order.
    return {"result": json.dumps(action(), ensure_ascii=False)}
