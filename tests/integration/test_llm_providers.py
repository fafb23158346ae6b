"""Each provider streams from the local LLM server through the lean chat-completions client over loopback."""

from __future__ import annotations

import threading

import pytest

from kimiyi.llm import (
    APIStatusError,
    AzureOpenAIProvider,
    CompatibleProvider,
    OpenAIProvider,
    ProviderTimeouts,
    RateLimitError,
    ReplyCutShort,
    ScriptContext,
    parse_azure_endpoint,
    providers_from_env,
)
from kimiyi.llm.tokens import split_into_tokens
from kimiyi_local.llm_server import LocalLLMServer, reply_for

MESSAGES = [
    {"role": "system", "content": "You are a receptionist."},
    {"role": "user", "content": "Hi, who is this?"},
]
EXPECTED = reply_for(MESSAGES)
TIMEOUTS = ProviderTimeouts(connect_s=2, read_s=5)


@pytest.fixture(scope="module")
def server():
    with LocalLLMServer(first_token_ms=20, token_ms=1, max_hang_s=30) as llm:
        yield llm


@pytest.fixture(autouse=True)
def fresh(server):
    server.configure(mode="ok", api_key=None, reply=None)
    server.reset_stats()


def stream(provider, messages=MESSAGES) -> list[str]:
    return list(provider.stream(messages, max_tokens=100, temperature=0.2, context=ScriptContext()))


def test_openai_streams_the_tokens_as_sent(server):
    server.configure(api_key="sk-local")
    provider = OpenAIProvider("sk-local", base_url=server.openai_base_url, timeouts=TIMEOUTS)
    assert stream(provider) == split_into_tokens(EXPECTED)
    request = server.last_request
    assert (request["path"], request["auth"], request["model"]) == (
        "/v1/chat/completions",
        "bearer",
        "gpt-4o-mini",
    )
    assert request["stream"] and request["max_tokens"] == 100


def test_azure_from_the_full_chat_completions_url(server):
    server.configure(api_key="az-local")
    target = parse_azure_endpoint(server.azure_chat_url("gpt-4o-mini", "2024-08-01-preview"))
    provider = AzureOpenAIProvider(target, "az-local", timeouts=TIMEOUTS)
    assert "".join(stream(provider)) == EXPECTED
    request = server.last_request
    assert request["path"] == "/openai/deployments/gpt-4o-mini/chat/completions"
    assert request["query"] == {"api-version": "2024-08-01-preview"}
    assert request["auth"] == "api-key"


def test_azure_from_endpoint_and_deployment(server):
    target = parse_azure_endpoint(server.base_url, "prod-4o", "2024-10-21")
    provider = AzureOpenAIProvider(target, "az-local", timeouts=TIMEOUTS)
    assert "".join(stream(provider)) == EXPECTED
    assert server.last_request["path"] == "/openai/deployments/prod-4o/chat/completions"
    assert server.last_request["query"] == {"api-version": "2024-10-21"}


def test_compatible_without_a_key(server):
    provider = CompatibleProvider(server.openai_base_url, "llama-3.1-8b", timeouts=TIMEOUTS)
    assert "".join(stream(provider)) == EXPECTED
    assert server.last_request["model"] == "llama-3.1-8b"


def test_providers_built_from_the_environment_reach_the_server(server):
    env = {
        "AZURE_OPENAI_ENDPOINT": server.azure_chat_url("dep-a"),
        "AZURE_OPENAI_API_KEY": "k1",
        "OPENAI_API_KEY": "k2",
        "OPENAI_BASE_URL": server.openai_base_url,
        "LLM_BASE_URL": server.openai_base_url,
        "LLM_MODEL": "m",
    }
    texts = {provider.name: "".join(stream(provider)) for provider in providers_from_env(env)}
    assert texts == {
        "azure": EXPECTED,
        "openai": EXPECTED,
        "compatible": EXPECTED,
        "scripted": "One moment, please.",
    }
    assert server.request_count == 3


def test_cjk_deltas_arrive_one_or_two_characters_at_a_time(server):
    provider = OpenAIProvider("k", base_url=server.openai_base_url, timeouts=TIMEOUTS)
    messages = [{"role": "user", "content": "你好，請問幾點開門？"}]
    deltas = stream(provider, messages)
    assert "".join(deltas) == reply_for(messages)
    assert all(1 <= len(delta) <= 2 for delta in deltas)


def test_one_client_reuses_its_connection_across_calls(server):
    provider = OpenAIProvider("k", base_url=server.openai_base_url, timeouts=TIMEOUTS)
    for _ in range(3):
        stream(provider)
    assert server.stats["requests"] == 3
    assert server.stats["connections"] == 1


def test_a_wrong_key_is_an_authentication_error(server):
    server.configure(api_key="right")
    provider = OpenAIProvider("wrong", base_url=server.openai_base_url, timeouts=TIMEOUTS)
    with pytest.raises(APIStatusError) as refused:
        stream(provider)
    assert refused.value.status_code == 401 and refused.value.message == "Incorrect API key provided."
    assert "wrong" not in str(refused.value)


def test_the_client_does_not_retry(server):
    server.configure(mode="error")
    provider = OpenAIProvider("k", base_url=server.openai_base_url, timeouts=TIMEOUTS)
    with pytest.raises(APIStatusError) as failed:
        stream(provider)
    assert failed.value.status_code == 500
    assert server.request_count == 1


def test_a_rate_limit_carries_the_retry_after(server):
    server.configure(mode="rate_limit", retry_after_s=7)
    provider = OpenAIProvider("k", base_url=server.openai_base_url, timeouts=TIMEOUTS)
    with pytest.raises(RateLimitError) as limited:
        stream(provider)
    assert (limited.value.status_code, limited.value.retry_after_s) == (429, 7.0)


@pytest.mark.parametrize(
    ("fault", "raised"),
    [({"mode": "error"}, APIStatusError), ({"mode": "length", "fail_after_tokens": 2}, ReplyCutShort)],
    ids=["an error answer", "a reply cut short"],
)
def test_a_failed_request_leaves_its_connection_for_the_next_turn(server, fault, raised):
    server.configure(**fault)
    provider = OpenAIProvider("k", base_url=server.openai_base_url, timeouts=TIMEOUTS)
    with pytest.raises(raised):
        stream(provider)
    server.configure(mode="ok")
    assert "".join(stream(provider)) == EXPECTED
    assert server.stats["connections"] == 1


def test_a_connection_the_server_closed_while_idle_is_replaced(server):
    provider = OpenAIProvider("k", base_url=server.openai_base_url, timeouts=TIMEOUTS)
    assert "".join(stream(provider)) == EXPECTED
    server.drop_idle_connections()  # as a server's keep-alive timeout would
    assert "".join(stream(provider)) == EXPECTED
    assert server.stats["requests"] == 2 and server.stats["connections"] == 2


def test_closing_from_another_thread_wakes_a_blocked_reader(server):
    server.configure(mode="hang_after_headers")  # headers, then nothing for max_hang_s (30 s)
    provider = OpenAIProvider("k", base_url=server.openai_base_url, timeouts=ProviderTimeouts(2, 30))
    deltas = provider.stream(MESSAGES, max_tokens=10, temperature=0.0)
    outcome: list[object] = []
    reader = threading.Thread(target=lambda: outcome.append(_drain(deltas)), daemon=True)
    reader.start()
    reader.join(0.3)
    assert reader.is_alive()  # blocked on the hung response
    deltas.close()
    reader.join(10)
    assert not reader.is_alive(), "close() did not wake the reading thread"


@pytest.mark.parametrize("mode", ["hang_before_headers", "hang_after_headers"])
def test_closing_ends_the_iteration_quietly_wherever_it_waits(server, mode):
    server.configure(mode=mode)
    provider = OpenAIProvider("k", base_url=server.openai_base_url, timeouts=ProviderTimeouts(2, 30))
    deltas = provider.stream(MESSAGES, max_tokens=10, temperature=0.0)
    outcome: list[object] = []
    reader = threading.Thread(target=lambda: outcome.append(_drain(deltas)), daemon=True)
    reader.start()
    server.wait_for_requests(1)  # the request is out: the reader waits on the server
    deltas.close()
    reader.join(10)
    assert not reader.is_alive() and outcome == [[]]


def _drain(deltas) -> object:
    try:
        return list(deltas)
    except Exception as error:
        return error
