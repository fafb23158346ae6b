"""Recorded provider answers (tests/data/llm_streams) served over loopback to the real chat-completions
client, alone and through the failover chain: the text, the connection reuse, the 429s."""

from __future__ import annotations

import pytest

from kimiyi.llm import (
    AzureOpenAIProvider,
    CompatibleProvider,
    FailoverChain,
    FailureReason,
    OpenAIProvider,
    RateLimitError,
    parse_azure_endpoint,
)
from tests.llm_replay import ReplayServer
from tests.streams import consume

MESSAGES = [{"role": "user", "content": "Hello?"}]


def azure(server: ReplayServer) -> AzureOpenAIProvider:
    return AzureOpenAIProvider(parse_azure_endpoint(server.base_url, "gpt-4o-mini", "2024-10-21"), "k")


def openai(server: ReplayServer) -> OpenAIProvider:
    return OpenAIProvider("k", base_url=f"{server.base_url}/v1")


def compatible(server: ReplayServer) -> CompatibleProvider:
    return CompatibleProvider(f"{server.base_url}/v1", "llama")


@pytest.mark.parametrize(
    ("recording", "make", "text"),
    [
        (
            "azure_usage.sse",
            azure,
            "Thanks for calling Harbour Dental, this is Mia. How can I help you today?",
        ),
        ("azure_async_filter.sse", azure, "We open at nine."),
        ("openai_usage.sse", openai, "你好，我們九點開門。"),
        ("compatible_comments.sse", compatible, "Sure thing!"),
    ],
)
def test_recorded_streams_are_read_whole_on_one_connection(recording, make, text):
    with ReplayServer(recording) as server:
        provider = make(server)
        for _ in range(3):
            assert "".join(provider.stream(MESSAGES, max_tokens=50, temperature=0)) == text
        assert (server.requests, server.connections) == (3, 1)


@pytest.mark.parametrize(
    ("recording", "make", "retry_after"), [("azure_429.http", azure, 36.5), ("openai_429.http", openai, 1.0)]
)
def test_a_recorded_429_is_a_rate_limit_and_the_chain_moves_on(recording, make, retry_after):
    with ReplayServer(recording) as limited, ReplayServer("openai_usage.sse") as healthy:
        primary = make(limited)
        with pytest.raises(RateLimitError) as error:
            list(primary.stream(MESSAGES, max_tokens=50, temperature=0))
        assert error.value.retry_after_s == retry_after
        chain = FailoverChain([primary, openai(healthy)], hedge_after_s=None, first_token_timeout_s=5)
        stream = chain.stream(MESSAGES)
        assert consume(stream) == "你好，我們九點開門。"
        [failure] = stream.result.failures
        assert (failure.reason, failure.detail) == (FailureReason.RATE_LIMITED, "HTTP 429")
        assert limited.connections == 1  # the 429's connection was kept for the next request
