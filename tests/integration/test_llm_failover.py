"""Every failure mode of the local LLM server, through the real `openai` client and the failover chain."""

from __future__ import annotations

import socket

import pytest

from kimiyi.llm import (
    BreakerSettings,
    FailoverChain,
    FailoverStream,
    FailureReason,
    OpenAIProvider,
    ProviderTimeouts,
    ScriptContext,
)
from kimiyi.llm.tokens import split_into_tokens
from kimiyi_local.llm_server import LocalLLMServer, reply_for
from tests.streams import consume

MESSAGES = [{"role": "user", "content": "What are your opening hours?"}]
EXPECTED = reply_for(MESSAGES)
SAFETY_S = 15  # a bound for "it finished": far above every deadline here, below max_hang_s (30 s)
TIMEOUTS = ProviderTimeouts(connect_s=2, read_s=5)
CONTEXT = ScriptContext(language="en-US", holding_phrase="Sorry, one moment.")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def servers():
    with (
        LocalLLMServer(first_token_ms=20, token_ms=1, max_hang_s=30) as primary,
        LocalLLMServer(first_token_ms=20, token_ms=1, reply="Secondary here.") as secondary,
    ):
        yield primary, secondary


@pytest.fixture
def primary(servers):
    server = servers[0]
    server.configure(mode="ok", fail_after_tokens=3, retry_after_s=1)
    server.reset_stats()
    return server


@pytest.fixture
def secondary(servers):
    servers[1].reset_stats()
    return servers[1]


def provider(server_or_url, name: str) -> OpenAIProvider:
    base_url = server_or_url if isinstance(server_or_url, str) else server_or_url.openai_base_url
    return OpenAIProvider("k", base_url=base_url, timeouts=TIMEOUTS, name=name)


def make_chain(primary, secondary, **options) -> FailoverChain:
    # The server answers in ~20 ms; a 2 s deadline leaves a wide margin on a busy machine (CI shares two
    # cores). Tests of the deadline itself pass a short one.
    options.setdefault("first_token_timeout_s", 2.0)
    options.setdefault("stall_timeout_s", 1.0)
    options.setdefault("hedge_after_s", None)  # the deadline alone; the hedge has tests of its own
    return FailoverChain([provider(primary, "primary"), provider(secondary, "secondary")], **options)


def failures(stream: FailoverStream) -> list[tuple[str, str]]:
    return [(failure.provider, failure.reason) for failure in stream.result.failures]


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_healthy_primary_answers_token_by_token(primary, secondary):
    deltas = list(make_chain(primary, secondary).stream(MESSAGES, context=CONTEXT))
    assert deltas == split_into_tokens(EXPECTED)
    assert secondary.request_count == 0


@pytest.mark.parametrize(
    ("mode", "reason", "detail"),
    [
        ("error", FailureReason.ERROR, "HTTP 500"),
        ("rate_limit", FailureReason.RATE_LIMITED, "HTTP 429"),
    ],
)
def test_http_errors_fail_over_without_retrying(primary, secondary, mode, reason, detail):
    primary.configure(mode=mode, retry_after_s=3600)  # waiting for Retry-After would never finish
    stream = make_chain(primary, secondary).stream(MESSAGES, context=CONTEXT)
    assert consume(stream) == "Secondary here."
    assert stream.result.provider == "secondary"
    [failure] = stream.result.failures
    assert (failure.provider, failure.reason, failure.detail) == ("primary", reason, detail)
    assert primary.request_count == 1  # the client's own retries are off


def test_connection_refused_fails_over(secondary):
    dead = f"http://127.0.0.1:{unused_port()}/v1"
    stream = make_chain(dead, secondary).stream(MESSAGES, context=CONTEXT)
    assert consume(stream) == "Secondary here."
    [failure] = stream.result.failures
    assert (failure.provider, failure.reason, failure.detail) == (
        "primary",
        FailureReason.ERROR,
        "APIConnectionError",
    )


@pytest.mark.parametrize("mode", ["hang_before_headers", "hang_after_headers"])
def test_a_hang_before_the_first_token_is_abandoned_at_the_deadline(primary, secondary, mode):
    primary.configure(mode=mode)  # would hang for max_hang_s (30 s)
    stream = make_chain(primary, secondary, first_token_timeout_s=1.0).stream(MESSAGES, context=CONTEXT)
    assert consume(stream) == "Secondary here."
    assert stream.result.provider == "secondary"
    assert failures(stream) == [("primary", FailureReason.TIMEOUT)]
    assert stream.result.failures[0].detail == "no first token by the deadline"


def test_a_drop_mid_stream_is_not_retried(primary, secondary):
    primary.configure(mode="drop", fail_after_tokens=3)
    stream = make_chain(primary, secondary).stream(MESSAGES, context=CONTEXT)
    text = consume(stream)
    first_three = "".join(split_into_tokens(EXPECTED)[:3])
    assert text == f"{first_three} Sorry, one moment."
    assert secondary.request_count == 0
    result = stream.result
    assert result.provider == "primary" and result.chunks_sent and result.dropped
    assert failures(stream) == [("primary", FailureReason.DROPPED)]


def test_a_stall_mid_stream_ends_the_stream(primary, secondary):
    primary.configure(mode="stall", fail_after_tokens=2)
    stream = make_chain(primary, secondary, holding_phrase_on_drop=False).stream(MESSAGES, context=CONTEXT)
    assert consume(stream) == "".join(split_into_tokens(EXPECTED)[:2])
    assert stream.result.dropped and not stream.result.holding_phrase_added
    assert secondary.request_count == 0


def test_a_malformed_first_chunk_fails_over(primary, secondary):
    primary.configure(mode="malformed", fail_after_tokens=0)
    stream = make_chain(primary, secondary).stream(MESSAGES, context=CONTEXT)
    assert consume(stream) == "Secondary here."
    [failure] = stream.result.failures
    assert (failure.provider, failure.reason, failure.detail) == (
        "primary",
        FailureReason.ERROR,
        "JSONDecodeError",
    )


def test_a_malformed_chunk_after_text_is_a_drop(primary, secondary):
    primary.configure(mode="malformed", fail_after_tokens=4)
    stream = make_chain(primary, secondary).stream(MESSAGES, context=CONTEXT)
    assert consume(stream).startswith("".join(split_into_tokens(EXPECTED)[:4]))
    assert stream.result.dropped
    assert secondary.request_count == 0


def test_every_provider_down_leaves_the_scripted_line(primary, secondary):
    primary.configure(mode="error")
    dead = f"http://127.0.0.1:{unused_port()}/v1"
    context = ScriptContext(
        language="es-MX", scripted_line={"en-US": "We open at nine.", "es-ES": "Abrimos a las nueve."}
    )
    stream = make_chain(primary, dead).stream(MESSAGES, context=context)
    assert consume(stream) == "Abrimos a las nueve."
    assert stream.result.provider == "scripted"
    assert [name for name, _ in failures(stream)] == ["primary", "secondary"]


def test_the_breaker_opens_half_opens_and_closes(primary, secondary):
    clock = FakeClock()
    chain = make_chain(
        primary, secondary, breaker=BreakerSettings(failure_threshold=2, cooldown_s=60), clock=clock
    )
    primary.configure(mode="error")
    for _ in range(2):
        consume(chain.stream(MESSAGES, context=CONTEXT))
    assert primary.request_count == 2

    skipped = chain.stream(MESSAGES, context=CONTEXT)
    assert consume(skipped) == "Secondary here."
    assert failures(skipped) == [("primary", FailureReason.CIRCUIT_OPEN)]
    assert primary.request_count == 2  # an open circuit sends nothing

    primary.configure(mode="ok")
    clock.now += 60
    trial = chain.stream(MESSAGES, context=CONTEXT)
    assert consume(trial) == EXPECTED
    assert trial.result.provider == "primary" and trial.result.failures == []
    assert chain.describe()[0]["circuit"] == "closed"


@pytest.mark.parametrize("mode", ["hang_before_headers", "hang_after_headers"])
def test_a_hanging_primary_is_hedged_by_the_secondary_before_its_deadline(primary, secondary, mode):
    primary.configure(mode=mode)
    chain = make_chain(primary, secondary, first_token_timeout_s=5.0, hedge_after_s=0.2)
    stream = chain.stream(MESSAGES, context=CONTEXT)
    assert consume(stream) == "Secondary here."
    assert failures(stream) == [("primary", FailureReason.TIMEOUT)]
    assert stream.result.failures[0].detail == "slower than secondary"
