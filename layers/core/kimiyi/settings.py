"""Configuration from the environment the template sets, and secrets from SSM Parameter Store.

A secret is looked up first in the environment (the local stack, tests, a developer's shell), then under
SSM_PATH/<name> as a SecureString (deployed stacks), through Powertools Parameters, which caches it for
five minutes per execution environment. Secret values are never logged or returned by any endpoint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

# secret name under SECRETS_PATH -> the environment variable that overrides it
SECRET_ENV = {
    "twilio-auth-token": "TWILIO_AUTH_TOKEN",
    "api-keys": "KIMIYI_API_KEYS",
    "azure-openai-api-key": "AZURE_OPENAI_API_KEY",
    "openai-api-key": "OPENAI_API_KEY",
    "llm-api-key": "LLM_API_KEY",
}


@dataclass(frozen=True)
class Tables:
    calls: str
    cache: str
    idempotency: str

    def as_dict(self) -> dict[str, str]:
        return {"calls": self.calls, "cache": self.cache, "idempotency": self.idempotency}


class Settings:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.env = dict(os.environ if environ is None else environ)

    def get(self, name: str, default: str = "") -> str:
        return self.env.get(name, "").strip() or default

    @cached_property
    def tables(self) -> Tables:
        return Tables(self.get("CALLS_TABLE"), self.get("CACHE_TABLE"), self.get("IDEMPOTENCY_TABLE"))

    @property
    def stage(self) -> str:
        return self.get("STAGE", "dev")

    @property
    def secrets_path(self) -> str:
        return self.get("SECRETS_PATH")

    def missing_tables(self) -> list[str]:
        return [role for role, name in self.tables.as_dict().items() if not name]

    def secret(self, name: str) -> str:
        """The secret's value, or '' when it is set nowhere."""
        from_env = self.get(SECRET_ENV[name])
        if from_env or not self.secrets_path:
            return from_env
        return _ssm_secrets(self.secrets_path).get(name, "")

    def secret_source(self, name: str) -> str | None:
        """Where a secret comes from ("environment" or "ssm"), never its value."""
        if self.get(SECRET_ENV[name]):
            return "environment"
        if self.secrets_path and _ssm_secrets(self.secrets_path).get(name):
            return "ssm"
        return None


def _ssm_secrets(path: str) -> dict[str, str]:
    # Imported here: only processes that need a secret from SSM pay for boto3's SSM client.
    from aws_lambda_powertools.utilities import parameters

    return parameters.get_parameters(path, decrypt=True, max_age=300)  # type: ignore[return-value]
