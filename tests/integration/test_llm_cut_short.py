"""Replies a provider ends before they are done: Azure's content filter and the token limit, recorded
(tests/data/llm_streams) and served over loopback to the real chat-completions client."""

from __future__ import annotations

import pytest

from kimiyi.llm import AzureOpenAIProvider, FailoverChain, ReplyCutShort, parse_azure_endpoint
from tests.integration.test_relay import TRACKING
from tests.integration.test_relay_never_silent import Caller, FakeLLM, Plan, make_relay, open_call, say
from tests.llm_replay import ReplayServer
from tests.streams import consume

MESSAGES = [{"role": "user", "content": "Tell me about it."}]
CUT_SHORT = {"content_filter": "azure_content_filter.sse", "length": "openai_length.sse"}


@pytest.fixture
def serving():
    """serving(recording): an Azure provider whose every request is answered with the recording."""
    servers: list[ReplayServer] = []

    def provider(recording: str) -> AzureOpenAIProvider:
        server = ReplayServer(recording).__enter__()
        servers.append(server)
        return AzureOpenAIProvider(
            parse_azure_endpoint(server.base_url, "gpt-4o-mini", "2024-10-21"), "test-key"
        )

    yield provider
    for server in servers:
        server.__exit__(None, None, None)


@pytest.mark.parametrize("finish_reason", sorted(CUT_SHORT))
def test_the_provider_raises_after_the_text_that_came(serving, finish_reason):
    stream = serving(CUT_SHORT[finish_reason]).stream(MESSAGES, max_tokens=50, temperature=0)
    received = []
    with pytest.raises(ReplyCutShort) as cut:
        for delta in stream:
            received.append(delta)
    assert received == ["Hi", "!", " How"] and cut.value.finish_reason == finish_reason


@pytest.mark.parametrize("finish_reason", sorted(CUT_SHORT))
def test_the_chain_records_a_drop_not_a_success(serving, finish_reason):
    chain = FailoverChain([serving(CUT_SHORT[finish_reason])], holding_phrase_on_drop=False)
    stream = chain.stream(MESSAGES)
    assert consume(stream) == "Hi! How"
    (failure,) = stream.result.failures
    assert stream.result.dropped and failure.reason == "dropped"
    assert failure.detail == f"error: finish_reason {finish_reason}"


@pytest.mark.parametrize("finish_reason", sorted(CUT_SHORT))
def test_the_caller_hears_the_whole_clause_then_the_next_provider_goes_on(store, serving, finish_reason):
    caller = Caller()
    secondary = FakeLLM(
        "openai",
        Plan(
            (" How can I help", " you today?"),
        ),
    )
    relay = make_relay(store, caller, serving(CUT_SHORT[finish_reason]), secondary)
    open_call(relay, store)
    report = say(relay, "Hello?")
    assert caller.texts() == "Hi! How can I help you today?"
    (recovery,) = report.outcome.recoveries
    assert recovery.fault == f"azure:dropped (error: finish_reason {finish_reason})"
    assert (recovery.kept, recovery.by) == ("Hi!", "openai")
    assert secondary.requests[0][-2] == {"role": "assistant", "content": "Hi!"}
    assert store.load_state(TRACKING)[0]["history"][-1]["content"] == "Hi! How can I help you today?"
