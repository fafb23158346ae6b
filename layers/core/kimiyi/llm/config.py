"""Build the provider chain from environment variables: configuration, not code.

See docs/llm-providers.md for every variable. A provider whose settings are absent is skipped; one
whose settings are partial or malformed raises LLMConfigError naming the variable. Keys go into the
providers' request headers only: they are never logged, repr'd or described.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .azure_endpoint import parse_azure_endpoint
from .base import DEFAULT_OPENAI_MODEL, OPENAI_BASE_URL, LLMProvider, ProviderTimeouts
from .breaker import BreakerSettings
from .errors import LLMConfigError
from .failover import FailoverChain
from .providers import AzureOpenAIProvider, CompatibleProvider, OpenAIProvider
from .scripted import ScriptedProvider

if TYPE_CHECKING:
    from kimiyi.settings import Settings

PROVIDER_NAMES = ("azure", "openai", "compatible", "scripted")
DEFAULT_ORDER = PROVIDER_NAMES

# secret name (kimiyi.settings) -> the variable providers_from_env reads
_LLM_SECRETS = {
    "azure-openai-api-key": "AZURE_OPENAI_API_KEY",
    "openai-api-key": "OPENAI_API_KEY",
    "llm-api-key": "LLM_API_KEY",
}


def _get(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or "").strip()


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = _get(env, name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise LLMConfigError(f"{name} must be a number, not {raw!r}") from None
    if value < minimum or value != value:  # value != value: NaN
        raise LLMConfigError(f"{name} must be at least {minimum:g}, not {raw!r}")
    return value


def _integer(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    value = _number(env, name, default, minimum=minimum)
    if not float(value).is_integer():  # a default is an int, and int.is_integer() is 3.12+
        raise LLMConfigError(f"{name} must be a whole number, not {_get(env, name)!r}")
    return int(value)


def _base_url(env: Mapping[str, str], name: str) -> str:
    url = _get(env, name)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise LLMConfigError(f"{name} must be an http(s) URL such as https://host/v1, not {url!r}")
    return url.rstrip("/")


def parse_order(raw: str | Sequence[str] | None) -> list[str]:
    """Provider names in order; unknown names are an error; scripted is moved (or added) last."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        names: Sequence[str] = DEFAULT_ORDER
    elif isinstance(raw, str):
        names = [name.strip().lower() for name in raw.split(",") if name.strip()]
    else:
        names = [name.strip().lower() for name in raw]
    unknown = [name for name in names if name not in PROVIDER_NAMES]
    if unknown:
        raise LLMConfigError(
            f"LLM_PROVIDER_ORDER has unknown provider(s) {', '.join(unknown)}; "
            f"choose from {', '.join(PROVIDER_NAMES)}"
        )
    ordered = list(dict.fromkeys(name for name in names if name != "scripted"))
    return [*ordered, "scripted"]


def provider_timeouts_from_env(env: Mapping[str, str]) -> ProviderTimeouts:
    return ProviderTimeouts(
        connect_s=_number(env, "LLM_CONNECT_TIMEOUT_MS", 2000, minimum=1) / 1000,
        read_s=_number(env, "LLM_READ_TIMEOUT_MS", 10000, minimum=1) / 1000,
    )


def _azure(env: Mapping[str, str], timeouts: ProviderTimeouts) -> LLMProvider | None:
    endpoint, key = _get(env, "AZURE_OPENAI_ENDPOINT"), _get(env, "AZURE_OPENAI_API_KEY")
    if not endpoint and not key:
        return None
    if not endpoint:
        raise LLMConfigError("AZURE_OPENAI_ENDPOINT is required when AZURE_OPENAI_API_KEY is set")
    if not key:
        raise LLMConfigError("AZURE_OPENAI_API_KEY is required when AZURE_OPENAI_ENDPOINT is set")
    target = parse_azure_endpoint(
        endpoint, _get(env, "AZURE_OPENAI_DEPLOYMENT"), _get(env, "AZURE_OPENAI_API_VERSION")
    )
    return AzureOpenAIProvider(target, key, timeouts=timeouts)


def _openai(env: Mapping[str, str], timeouts: ProviderTimeouts) -> LLMProvider | None:
    key = _get(env, "OPENAI_API_KEY")
    if not key:
        return None
    base_url = _base_url(env, "OPENAI_BASE_URL") if _get(env, "OPENAI_BASE_URL") else OPENAI_BASE_URL
    model = _get(env, "OPENAI_MODEL") or DEFAULT_OPENAI_MODEL
    return OpenAIProvider(key, model=model, base_url=base_url, timeouts=timeouts)


def _compatible(env: Mapping[str, str], timeouts: ProviderTimeouts) -> LLMProvider | None:
    if not _get(env, "LLM_BASE_URL"):
        return None
    base_url = _base_url(env, "LLM_BASE_URL")
    model = _get(env, "LLM_MODEL")
    if not model:
        raise LLMConfigError("LLM_MODEL is required when LLM_BASE_URL is set")
    return CompatibleProvider(base_url, model, _get(env, "LLM_API_KEY"), timeouts=timeouts)


_BUILDERS: dict[str, Callable[[Mapping[str, str], ProviderTimeouts], LLMProvider | None]] = {
    "azure": _azure,
    "openai": _openai,
    "compatible": _compatible,
}


def providers_from_env(env: Mapping[str, str], order: Sequence[str] | None = None) -> list[LLMProvider]:
    """The configured providers in order (LLM_PROVIDER_ORDER unless `order` is given), scripted last.

    With no keys at all this is [ScriptedProvider()]: the offline default.
    """
    names = parse_order(order if order is not None else _get(env, "LLM_PROVIDER_ORDER"))
    timeouts = provider_timeouts_from_env(env)
    providers: list[LLMProvider] = []
    for name in names:
        provider = ScriptedProvider() if name == "scripted" else _BUILDERS[name](env, timeouts)
        if provider is not None:
            providers.append(provider)
    return providers


def chain_from_env(
    env: Mapping[str, str], order: Sequence[str] | None = None, *, clock: Callable[[], float] = time.monotonic
) -> FailoverChain:
    """The failover chain with its deadlines and breaker settings from the environment."""
    return FailoverChain(
        providers_from_env(env, order),
        first_token_timeout_s=_number(env, "LLM_FIRST_TOKEN_TIMEOUT_MS", 1000, minimum=1) / 1000,
        stall_timeout_s=_number(env, "LLM_STALL_TIMEOUT_MS", 500, minimum=1) / 1000,
        hedge_after_s=_number(env, "LLM_HEDGE_AFTER_MS", 700) / 1000,  # 0: never
        breaker=BreakerSettings(
            failure_threshold=_integer(env, "LLM_BREAKER_FAILURES", 3, minimum=1),
            cooldown_s=_number(env, "LLM_BREAKER_COOLDOWN_S", 30),
        ),
        clock=clock,
    )


def env_with_secrets(settings: Settings) -> dict[str, str]:
    """The settings' environment plus the LLM keys kept in SSM (the environment wins), for *_from_env."""
    env = dict(settings.env)
    for secret_name, value in settings.secrets(_LLM_SECRETS).items():
        if value:
            env[_LLM_SECRETS[secret_name]] = value
    return env


KEY_STAND_IN = "set-in-ssm"


def env_with_key_stand_ins(settings: Settings) -> dict[str, str]:
    """The settings' environment with a stand-in for each LLM key kept in SSM, for describing the chain
    (health): whether a key is set decides which providers are in it, and no key is read or decrypted."""
    env = dict(settings.env)
    for secret_name, source in settings.secret_sources(_LLM_SECRETS).items():
        if source == "ssm":
            env[_LLM_SECRETS[secret_name]] = KEY_STAND_IN
    return env
