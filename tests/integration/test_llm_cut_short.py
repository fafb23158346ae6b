"""Replies a provider ends before they are done: Azure's content filter and the token limit, fed byte for
byte (tests/data/llm_streams) to the real openai client through an httpx transport."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest

from kimiyi.llm import FailoverChain, ReplyCutShort
from kimiyi.llm.openai_providers import OpenAIChatProvider
from tests.integration.test_relay import TRACKING
from tests.integration.test_relay_never_silent import Caller, FakeLLM, Plan, make_relay, open_call, say
from tests.streams import consume

STREAMS = Path(__file__).resolve().parents[1] / "data" / "llm_streams"
MESSAGES = [{"role": "user", "content": "Tell me about it."}]
CUT_SHORT = {"content_filter": "azure_content_filter.sse", "length": "openai_length.sse"}


def serving(recording: str) -> OpenAIChatProvider:
    """An Azure provider whose every request is answered with the recorded body."""
    body = (STREAMS / recording).read_bytes()

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    client = openai.AsyncAzureOpenAI(
        azure_endpoint="https://myres.openai.azure.com",
        azure_deployment="gpt-4o-mini",
        api_version="2024-10-21",
        api_key="test-key",
        max_retries=0,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(answer)),
    )
    return OpenAIChatProvider("azure", client, "gpt-4o-mini", "myres.openai.azure.com")


@pytest.mark.parametrize("finish_reason", sorted(CUT_SHORT))
def test_the_provider_raises_after_the_text_that_came(finish_reason):
    stream = serving(CUT_SHORT[finish_reason]).stream(MESSAGES, max_tokens=50, temperature=0)
    received = []
    with pytest.raises(ReplyCutShort) as cut:
        for delta in stream:
            received.append(delta)
    assert received == ["Hi", "!", " How"] and cut.value.finish_reason == finish_reason


@pytest.mark.parametrize("finish_reason", sorted(CUT_SHORT))
def test_the_chain_records_a_drop_not_a_success(finish_reason):
    chain = FailoverChain([serving(CUT_SHORT[finish_reason])], holding_phrase_on_drop=False)
    stream = chain.stream(MESSAGES)
    assert consume(stream) == "Hi! How"
    (failure,) = stream.result.failures
    assert stream.result.dropped and failure.reason == "dropped"
    assert failure.detail == f"error: finish_reason {finish_reason}"


@pytest.mark.parametrize("finish_reason", sorted(CUT_SHORT))
def test_the_caller_hears_the_whole_clause_then_the_next_provider_goes_on(store, finish_reason):
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
