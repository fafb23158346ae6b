"""Building the provider chain from environment variables (no network: clients connect lazily)."""

import pytest

from kimiyi.llm import LLMConfigError, ScriptedProvider, chain_from_env, env_with_secrets, providers_from_env
from kimiyi.settings import Settings

AZURE_KEY = "azure-secret-key-0123456789"
OPENAI_KEY = "sk-openai-secret-0123456789"
LLM_KEY = "compatible-secret-0123456789"
AZURE_URL = "https://myres.openai.azure.com/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-08-01-preview"

ALL = {
    "AZURE_OPENAI_ENDPOINT": AZURE_URL,
    "AZURE_OPENAI_API_KEY": AZURE_KEY,
    "OPENAI_API_KEY": OPENAI_KEY,
    "OPENAI_MODEL": "gpt-4.1-mini",
    "LLM_BASE_URL": "http://gpu-box:8000/v1",
    "LLM_API_KEY": LLM_KEY,
    "LLM_MODEL": "llama-3.1-8b",
}


def names(providers) -> list[str]:
    return [provider.name for provider in providers]


def test_no_keys_means_only_the_scripted_responder():
    providers = providers_from_env({})
    assert len(providers) == 1 and isinstance(providers[0], ScriptedProvider)


def test_every_configured_provider_in_the_default_order():
    assert names(providers_from_env(ALL)) == ["azure", "openai", "compatible", "scripted"]


def test_describe_gives_name_model_and_host():
    described = [provider.describe() for provider in providers_from_env(ALL)]
    assert described == [
        {"name": "azure", "model": "gpt-4o-mini", "host": "myres.openai.azure.com"},
        {"name": "openai", "model": "gpt-4.1-mini", "host": "api.openai.com"},
        {"name": "compatible", "model": "llama-3.1-8b", "host": "gpu-box:8000"},
        {"name": "scripted", "model": "scripted", "host": "local"},
    ]


def test_keys_never_appear_in_describe_or_repr():
    chain = chain_from_env(ALL)
    exposed = repr(chain.describe()) + repr(chain.providers)
    for key in (AZURE_KEY, OPENAI_KEY, LLM_KEY):
        assert key not in exposed


def test_credentials_in_a_base_url_stay_out_of_describe():
    env = {"LLM_BASE_URL": "http://user:url-secret@gpu-box:8000/v1", "LLM_MODEL": "m"}
    described = providers_from_env(env)[0].describe()
    assert described["host"] == "gpu-box:8000"
    assert "url-secret" not in repr(described)


def test_order_from_the_variable_or_the_argument():
    assert names(providers_from_env({**ALL, "LLM_PROVIDER_ORDER": "compatible, openai"})) == [
        "compatible",
        "openai",
        "scripted",
    ]
    assert names(providers_from_env(ALL, order=["openai"])) == ["openai", "scripted"]


def test_scripted_stays_last_whatever_the_order_says():
    order = "scripted,openai,azure"
    assert names(providers_from_env({**ALL, "LLM_PROVIDER_ORDER": order})) == ["openai", "azure", "scripted"]


def test_providers_without_settings_are_skipped():
    env = {"OPENAI_API_KEY": OPENAI_KEY, "LLM_PROVIDER_ORDER": "azure,openai,compatible"}
    [openai_provider, scripted] = providers_from_env(env)
    assert openai_provider.describe()["model"] == "gpt-4o-mini"  # the fast default
    assert isinstance(scripted, ScriptedProvider)


def test_azure_from_endpoint_and_deployment_variables():
    env = {
        "AZURE_OPENAI_ENDPOINT": "https://myres.openai.azure.com",
        "AZURE_OPENAI_DEPLOYMENT": "prod-4o",
        "AZURE_OPENAI_API_KEY": AZURE_KEY,
    }
    assert providers_from_env(env)[0].describe() == {
        "name": "azure",
        "model": "prod-4o",
        "host": "myres.openai.azure.com",
    }


def test_a_compatible_server_needs_no_key():
    env = {"LLM_BASE_URL": "http://127.0.0.1:11434/v1", "LLM_MODEL": "qwen2.5"}
    assert names(providers_from_env(env)) == ["compatible", "scripted"]


def test_the_process_environment_does_not_leak_into_a_provider(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://elsewhere.invalid/v1")
    provider = providers_from_env({"OPENAI_API_KEY": OPENAI_KEY})[0]
    assert provider.describe()["host"] == "api.openai.com"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"AZURE_OPENAI_ENDPOINT": AZURE_URL}, "AZURE_OPENAI_API_KEY"),
        ({"AZURE_OPENAI_API_KEY": AZURE_KEY}, "AZURE_OPENAI_ENDPOINT"),
        (
            {"AZURE_OPENAI_ENDPOINT": "https://myres.openai.azure.com", "AZURE_OPENAI_API_KEY": "k"},
            "AZURE_OPENAI_DEPLOYMENT",
        ),
        ({"AZURE_OPENAI_ENDPOINT": "not a url", "AZURE_OPENAI_API_KEY": "k"}, "AZURE_OPENAI_ENDPOINT"),
        ({"LLM_BASE_URL": "http://127.0.0.1:8000/v1"}, "LLM_MODEL"),
        ({"LLM_BASE_URL": "127.0.0.1:8000", "LLM_MODEL": "m"}, "LLM_BASE_URL"),
        ({"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "api.openai.com"}, "OPENAI_BASE_URL"),
        ({"LLM_PROVIDER_ORDER": "azure,gemini"}, "LLM_PROVIDER_ORDER"),
        ({"LLM_CONNECT_TIMEOUT_MS": "fast"}, "LLM_CONNECT_TIMEOUT_MS"),
    ],
)
def test_partial_or_malformed_settings_name_the_variable(env, variable):
    with pytest.raises(LLMConfigError, match=variable):
        providers_from_env(env)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LLM_FIRST_TOKEN_TIMEOUT_MS", "0"),
        ("LLM_FIRST_TOKEN_TIMEOUT_MS", "soon"),
        ("LLM_STALL_TIMEOUT_MS", "-5"),
        ("LLM_HEDGE_AFTER_MS", "-1"),
        ("LLM_BREAKER_FAILURES", "2.5"),
        ("LLM_BREAKER_COOLDOWN_S", "nan"),
    ],
)
def test_bad_chain_settings_name_the_variable(variable, value):
    with pytest.raises(LLMConfigError, match=variable):
        chain_from_env({variable: value})


def test_chain_settings_from_the_environment():
    chain = chain_from_env(
        {
            "LLM_FIRST_TOKEN_TIMEOUT_MS": "300",
            "LLM_STALL_TIMEOUT_MS": "2500",
            "LLM_HEDGE_AFTER_MS": "0",
            "LLM_BREAKER_FAILURES": "5",
            "LLM_BREAKER_COOLDOWN_S": "12",
            "OPENAI_API_KEY": OPENAI_KEY,
        }
    )
    assert chain.first_token_timeout_s == pytest.approx(0.3)
    assert chain.stall_timeout_s == pytest.approx(2.5)
    assert chain.hedge_after_s is None  # 0 turns the hedge off
    assert chain.breakers[0].settings.failure_threshold == 5
    assert chain.breakers[0].settings.cooldown_s == 12


def test_env_with_secrets_adds_keys_from_the_settings():
    settings = Settings({"OPENAI_API_KEY": OPENAI_KEY, "STAGE": "dev"})
    env = env_with_secrets(settings)
    assert env["OPENAI_API_KEY"] == OPENAI_KEY and env["STAGE"] == "dev"
    assert "AZURE_OPENAI_API_KEY" not in env


def test_the_defaults_keep_a_caller_from_waiting_in_silence():
    """A hung provider is hedged at 700 ms and a stalled one given up at 500 ms: with a secondary at a
    300 ms first token, the caller hears words within about a second either way."""
    chain = chain_from_env({})
    assert (chain.first_token_timeout_s, chain.hedge_after_s, chain.stall_timeout_s) == (1.0, 0.7, 0.5)
