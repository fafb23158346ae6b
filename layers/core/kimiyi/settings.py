"""Configuration from the environment the template sets, and secrets from SSM Parameter Store.

A secret is looked up first in the environment (the local stack, tests, a developer's shell), then in SSM
as the SecureString SECRETS_PATH/<name> (deployed stacks). SSM is asked by name, for exactly the secrets
the caller needs (GetParameters), never by path: each function's IAM policy in template.yaml names the
parameters it may read, and a read by path would need them all. Health asks only whether secrets exist
(DescribeParameters: names, never values), so it can decrypt none. Values and absences are cached for
five minutes per execution environment, as Powertools Parameters would; its batch reader cannot tell a
missing parameter from a failed request, so absences could not be cached through it. Secret values are
never logged or returned by any endpoint.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NotRequired, Protocol, TypedDict

# secret name under SECRETS_PATH -> the environment variable that overrides it
SECRET_ENV = {
    "twilio-auth-token": "TWILIO_AUTH_TOKEN",
    "azure-openai-api-key": "AZURE_OPENAI_API_KEY",
    "openai-api-key": "OPENAI_API_KEY",
    "llm-api-key": "LLM_API_KEY",
}
SECRETS_MAX_AGE_S = 300.0
_SSM_BATCH = 10  # GetParameters' limit per request


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
        return self.secrets([name])[name]

    def secrets(self, names: Iterable[str]) -> dict[str, str]:
        """Each secret's value ('' when it is set nowhere); the ones SSM holds in one request."""
        values = {name: self.get(SECRET_ENV[name]) for name in names}
        wanted = [name for name, value in values.items() if not value]
        if wanted and self.secrets_path:
            values.update(_SSM.values(self.secrets_path, wanted))
        return values

    def secret_source(self, name: str) -> str | None:
        """Where a secret comes from ("environment" or "ssm"), never its value."""
        return self.secret_sources([name])[name]

    def secret_sources(self, names: Iterable[str]) -> dict[str, str | None]:
        """Where each secret comes from, without reading any value from SSM."""
        sources: dict[str, str | None] = {
            name: "environment" if self.get(SECRET_ENV[name]) else None for name in names
        }
        wanted = [name for name, source in sources.items() if source is None]
        if wanted and self.secrets_path:
            present = _SSM.present(self.secrets_path, wanted)
            sources.update({name: "ssm" for name in wanted if name in present})
        return sources

    def tenant_keys_source(self) -> str | None:
        """Where the tenants' API key digests come from (kimiyi.adapters.tenant_keys), never a value."""
        if self.get("KIMIYI_API_KEYS"):
            return "environment"
        if self.secrets_path and _SSM.any_under(f"{self.secrets_path}/tenants"):
            return "ssm"
        return None


class ParameterFilter(TypedDict):
    """One of DescribeParameters' ParameterFilters."""

    Key: str
    Option: NotRequired[str]
    Values: NotRequired[Sequence[str]]


class SsmClient(Protocol):
    """The two calls SsmSecrets makes of boto3's SSM client."""

    def get_parameters(self, *, Names: Sequence[str], WithDecryption: bool) -> Mapping[str, Any]: ...

    def describe_parameters(
        self, *, ParameterFilters: Sequence[ParameterFilter], MaxResults: int = ..., NextToken: str = ...
    ) -> Mapping[str, Any]: ...


class SsmSecrets:
    """Reads SecureStrings by name and asks which exist, caching values and absences for max_age_s."""

    def __init__(
        self, max_age_s: float = SECRETS_MAX_AGE_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()
        self._client: SsmClient | None = None
        self._values: dict[str, tuple[float, str]] = {}  # parameter name -> (expires, value or '')
        self._present: dict[str, tuple[float, bool]] = {}  # parameter name -> (expires, exists)

    def clear(self) -> None:
        with self._lock:
            self._client = None
            self._values.clear()
            self._present.clear()

    def _ssm(self) -> SsmClient:
        with self._lock:
            if self._client is None:
                # Imported here: only processes that need a secret from SSM pay for boto3's SSM client.
                import boto3

                self._client = boto3.client("ssm")
            return self._client

    def values(self, path: str, names: list[str]) -> dict[str, str]:
        """name -> value ('' for a parameter that does not exist); errors other than absence raise."""
        full = {f"{path}/{name}": name for name in names}
        now = self._clock()
        stale = [parameter for parameter in full if self._values.get(parameter, (0.0, ""))[0] <= now]
        for start in range(0, len(stale), _SSM_BATCH):
            chunk = stale[start : start + _SSM_BATCH]
            reply = self._ssm().get_parameters(Names=chunk, WithDecryption=True)
            expires = self._clock() + self._max_age_s
            found = {p["Name"]: p["Value"] for p in reply.get("Parameters", [])}
            for parameter in chunk:  # the rest are in reply["InvalidParameters"]: absent
                self._values[parameter] = (expires, found.get(parameter, ""))
        return {name: self._values[parameter][1] for parameter, name in full.items()}

    def present(self, path: str, names: list[str]) -> set[str]:
        """The names whose parameter exists: DescribeParameters reads names and types, never values."""
        full = {f"{path}/{name}": name for name in names}
        now = self._clock()
        stale = [parameter for parameter in full if self._present.get(parameter, (0.0, False))[0] <= now]
        if stale:
            found: set[str] = set()
            name_filters: list[ParameterFilter] = [{"Key": "Name", "Option": "Equals", "Values": stale}]
            reply = self._ssm().describe_parameters(ParameterFilters=name_filters)
            while True:
                found.update(p["Name"] for p in reply.get("Parameters", []))
                if not reply.get("NextToken"):
                    break
                reply = self._ssm().describe_parameters(
                    ParameterFilters=name_filters, NextToken=reply["NextToken"]
                )
            expires = self._clock() + self._max_age_s
            for parameter in stale:
                self._present[parameter] = (expires, parameter in found)
        return {name for parameter, name in full.items() if self._present[parameter][1]}

    def any_under(self, path: str) -> bool:
        """Whether any parameter sits directly under `path` (DescribeParameters: names, never values)."""
        key = path + "/"
        now = self._clock()
        if self._present.get(key, (0.0, False))[0] <= now:
            reply = self._ssm().describe_parameters(
                ParameterFilters=[{"Key": "Path", "Option": "OneLevel", "Values": [path]}], MaxResults=1
            )
            self._present[key] = (self._clock() + self._max_age_s, bool(reply.get("Parameters")))
        return self._present[key][1]


_SSM = SsmSecrets()


def clear_secrets_cache() -> None:
    """Forgets cached secrets and the SSM client (tests; a new moto mock each time), and what Powertools
    Parameters keeps (the tenants' key digests)."""
    from aws_lambda_powertools.utilities import parameters

    _SSM.clear()
    parameters.clear_caches()
