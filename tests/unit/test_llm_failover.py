"""The failover chain's rules, with in-process fake providers (the real client is in tests/integration)."""

from __future__ import annotations

import threading

import pytest

from kimiyi.llm import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    BreakerSettings,
    FailoverChain,
    FailureReason,
    RateLimitError,
    ScriptContext,
    ScriptedProvider,
)
from kimiyi.llm.failover import classify
from tests.streams import consume

HANG = object()  # a step that blocks until the stream is closed
SAFETY_S = 10  # a bound for "it finished", far above any deadline used here
MESSAGES = [{"role": "user", "content": "When are you open?"}]


class FakeStream:
    def __init__(self, provider: FakeProvider) -> None:
        self._provider = provider
        self._steps = iter(provider.steps)

    def __iter__(self) -> FakeStream:
        return self

    def __next__(self) -> str:
        step = next(self._steps)
        if step is HANG:
            self._provider.released.wait(SAFETY_S)
            raise StopIteration
        if isinstance(step, BaseException):
            raise step
        return step

    def close(self) -> None:
        self._provider.closed += 1
        self._provider.released.set()


class FakeProvider:
    """Streams `steps`: text deltas, exceptions to raise, or HANG."""

    def __init__(self, name: str, *steps: object) -> None:
        self.name = name
        self.steps = steps
        self.calls = 0
        self.closed = 0
        self.released = threading.Event()
        self.contexts: list[ScriptContext] = []

    def stream(self, messages, *, max_tokens, temperature, context):
        self.calls += 1
        self.contexts.append(context)
        return FakeStream(self)

    def describe(self):
        return {"name": self.name, "model": "fake", "host": "nowhere"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def chain(*providers, **options) -> FailoverChain:
    # Short enough for a quick run, long enough that a healthy fake never misses it on a busy machine.
    options.setdefault("first_token_timeout_s", 0.2)
    options.setdefault("stall_timeout_s", 0.2)
    options.setdefault("lag_probe", lambda woke_late_s: 0.0)  # this process always runs on time
    return FailoverChain(list(providers), **options)


def test_the_first_healthy_provider_answers():
    primary = FakeProvider("primary", "Hello", " there", ".")
    secondary = FakeProvider("secondary", "No")
    stream = chain(primary, secondary).stream(MESSAGES)
    assert consume(stream) == "Hello there."
    assert stream.result.provider == "primary"
    assert stream.result.failures == []
    assert stream.result.chunks_sent and stream.result.first_token_ms is not None
    assert secondary.calls == 0


def test_an_error_before_the_first_token_moves_to_the_next_provider():
    primary = FakeProvider("primary", RuntimeError("boom"))
    secondary = FakeProvider("secondary", "Hi", "!")
    stream = chain(primary, secondary).stream(MESSAGES)
    assert consume(stream) == "Hi!"
    assert stream.result.provider == "secondary"
    [failure] = stream.result.failures
    assert (failure.provider, failure.reason, failure.detail) == (
        "primary",
        FailureReason.ERROR,
        "RuntimeError",
    )
    assert stream.result.failovers == 1


def test_a_hang_is_abandoned_at_the_deadline_and_the_next_provider_answers():
    primary = FakeProvider("primary", HANG)
    secondary = FakeProvider("secondary", "Still", " here")
    stream = chain(primary, secondary, first_token_timeout_s=0.2).stream(MESSAGES)
    assert consume(stream) == "Still here"
    assert stream.result.provider == "secondary"
    assert [(f.provider, f.reason) for f in stream.result.failures] == [("primary", FailureReason.TIMEOUT)]
    assert primary.closed >= 1  # the hung request was cut off, not left running


def test_a_provider_that_blocks_inside_stream_cannot_hold_the_caller():
    class BlockingProvider(FakeProvider):
        def stream(self, messages, **options):
            self.released.wait(SAFETY_S)
            return super().stream(messages, **options)

    primary = BlockingProvider("primary", "late")
    stream = chain(primary, FakeProvider("secondary", "on time")).stream(MESSAGES)
    assert consume(stream) == "on time"
    primary.released.set()


def test_a_reply_with_no_text_counts_as_a_failure():
    stream = chain(FakeProvider("primary", "", ""), FakeProvider("secondary", "ok")).stream(MESSAGES)
    assert consume(stream) == "ok"
    assert stream.result.failures[0].detail == "reply with no text"


def test_no_retry_after_the_first_delta_and_the_holding_phrase_follows_a_drop():
    primary = FakeProvider("primary", "Our", " hours", " are", ConnectionResetError("gone"))
    secondary = FakeProvider("secondary", "should not be called")
    context = ScriptContext(language="en-US", holding_phrase="Sorry, one moment.")
    stream = chain(primary, secondary).stream(MESSAGES, context=context)
    assert consume(stream) == "Our hours are Sorry, one moment."
    assert secondary.calls == 0
    result = stream.result
    assert result.provider == "primary" and result.dropped and result.holding_phrase_added
    assert [(f.provider, f.reason) for f in result.failures] == [("primary", FailureReason.DROPPED)]
    assert result.failovers == 0


def test_a_drop_can_end_the_stream_without_the_holding_phrase():
    primary = FakeProvider("primary", "Our", " hours", RuntimeError("gone"))
    stream = chain(primary, holding_phrase_on_drop=False).stream(MESSAGES)
    assert consume(stream) == "Our hours"
    assert stream.result.dropped and not stream.result.holding_phrase_added


def test_cjk_text_is_joined_to_the_holding_phrase_without_a_space():
    primary = FakeProvider("primary", "我哋", "嘅", RuntimeError("gone"))
    context = ScriptContext(language="zh-HK", holding_phrase="請稍等。")
    assert consume(chain(primary).stream(MESSAGES, context=context)) == "我哋嘅請稍等。"


def test_a_stall_after_the_first_delta_ends_as_a_drop():
    primary = FakeProvider("primary", "Well", HANG)
    stream = chain(primary, stall_timeout_s=0.2).stream(MESSAGES)
    assert consume(stream) == "Well One moment, please."
    assert stream.result.failures[0].reason == FailureReason.DROPPED
    assert "stalled" in stream.result.failures[0].detail
    assert primary.closed >= 1


def test_when_everything_fails_the_scripted_responder_speaks_the_node_line():
    context = ScriptContext(language="es-ES", scripted_line={"en-US": "Hello.", "es-ES": "Hola."})
    providers = [FakeProvider("a", RuntimeError()), FakeProvider("b", HANG), FakeProvider("c", "")]
    stream = chain(*providers).stream(MESSAGES, context=context)
    assert consume(stream) == "Hola."
    assert stream.result.provider == "scripted"
    assert [f.provider for f in stream.result.failures] == ["a", "b", "c"]
    for provider in providers:
        assert provider.contexts == [context]  # every provider saw the call's context


def test_scripted_is_always_last_even_when_listed_first():
    scripted = ScriptedProvider()
    live = FakeProvider("live", "answer")
    failover = chain(scripted, live)
    assert failover.providers == [live, scripted]
    assert consume(failover.stream(MESSAGES)) == "answer"


def test_an_empty_chain_still_answers():
    stream = chain().stream(MESSAGES)
    assert consume(stream) == "One moment, please."
    assert stream.result.provider == "scripted"


def test_the_breaker_skips_a_failing_provider_until_the_cool_down():
    clock = FakeClock()
    primary = FakeProvider("primary", RuntimeError("down"))
    secondary = FakeProvider("secondary", "ok")
    failover = chain(
        primary, secondary, breaker=BreakerSettings(failure_threshold=2, cooldown_s=30), clock=clock
    )
    for _ in range(2):
        consume(failover.stream(MESSAGES))
    assert primary.calls == 2
    assert failover.describe()[0]["circuit"] == "open"

    skipped = failover.stream(MESSAGES)
    assert consume(skipped) == "ok"
    assert primary.calls == 2  # not called while open
    assert [(f.provider, f.reason) for f in skipped.result.failures] == [
        ("primary", FailureReason.CIRCUIT_OPEN)
    ]

    clock.now += 30  # half-open: one trial, which succeeds and closes the breaker
    primary.steps = ("back",)
    trial = failover.stream(MESSAGES)
    assert consume(trial) == "back"
    assert trial.result.provider == "primary"
    assert failover.describe()[0]["circuit"] == "closed"


def test_a_failed_half_open_trial_reopens_the_breaker():
    clock = FakeClock()
    primary = FakeProvider("primary", RuntimeError("down"))
    failover = chain(primary, breaker=BreakerSettings(failure_threshold=1, cooldown_s=10), clock=clock)
    consume(failover.stream(MESSAGES))
    clock.now += 10
    consume(failover.stream(MESSAGES))
    assert primary.calls == 2
    consume(failover.stream(MESSAGES))
    assert primary.calls == 2
    assert failover.describe()[0]["circuit"] == "open"


def test_closing_the_stream_mid_answer_abandons_the_provider():
    primary = FakeProvider("primary", "one", HANG)
    stream = chain(primary, stall_timeout_s=SAFETY_S).stream(MESSAGES)
    assert next(stream) == "one"
    stream.close()
    assert primary.closed >= 1
    assert stream.result.finished and not stream.result.dropped


def test_describe_lists_providers_with_their_circuit_and_no_secrets():
    described = chain(FakeProvider("primary")).describe()
    assert described == [
        {"name": "primary", "model": "fake", "host": "nowhere", "circuit": "closed"},
        {"name": "scripted", "model": "scripted", "host": "local", "circuit": "closed"},
    ]


@pytest.mark.parametrize(
    ("error", "reason", "detail"),
    [
        (RateLimitError(429, "slow down", retry_after_s=3), FailureReason.RATE_LIMITED, "HTTP 429"),
        (APIStatusError(500, "oops"), FailureReason.ERROR, "HTTP 500"),
        (APITimeoutError("no bytes"), FailureReason.TIMEOUT, "APITimeoutError"),
        (APIConnectionError("refused"), FailureReason.ERROR, "APIConnectionError"),
        (ValueError("bad json"), FailureReason.ERROR, "ValueError"),
    ],
)
def test_errors_are_classified(error, reason, detail):
    assert classify(error) == (reason, detail)


def test_deadlines_must_be_positive():
    with pytest.raises(ValueError, match="first_token_timeout_s"):
        FailoverChain([], first_token_timeout_s=0)


class NeverAnswers(FakeProvider):
    """Every request hangs until it is abandoned (FakeProvider's HANG releases once for all)."""

    def stream(self, messages, *, max_tokens, temperature, context):
        self.calls += 1
        return FakeProvider(self.name, HANG).stream(messages, max_tokens=0, temperature=0, context=context)


def test_a_missed_deadline_while_this_process_was_starved_does_not_open_the_breaker():
    starved = chain(
        NeverAnswers("primary"),
        first_token_timeout_s=0.01,
        breaker=BreakerSettings(failure_threshold=2),
        lag_probe=lambda woke_late_s: 0.2,  # every thread of this process woke 200 ms late
    )
    for _ in range(4):
        stream = starved.stream(MESSAGES, context=ScriptContext(scripted_line="Hello."))
        assert consume(stream) == "Hello."  # the caller still hears the next in line at once
        (failure,) = stream.result.failures
        assert failure.reason == FailureReason.TIMEOUT and "starved: 200 ms late" in failure.detail
    assert starved.breakers[0].state == "closed"


def test_a_missed_deadline_while_this_process_ran_on_time_counts_against_the_provider():
    punctual = chain(NeverAnswers("primary"), first_token_timeout_s=0.01, breaker=BreakerSettings(2))
    for _ in range(2):
        consume(punctual.stream(MESSAGES))
    assert punctual.breakers[0].state == "open"


def test_start_sends_the_request_before_anything_is_read():
    primary = FakeProvider("primary", "Hi")
    stream = chain(primary).stream(MESSAGES).start()
    for _ in range(1000):  # the reader thread calls the provider at once
        if primary.calls:
            break
        threading.Event().wait(0.005)
    assert primary.calls == 1
    assert consume(stream) == "Hi" and primary.calls == 1


def test_a_started_stream_closed_unread_abandons_its_request_and_frees_the_breaker():
    primary = FakeProvider("primary", HANG)
    failover = chain(primary, breaker=BreakerSettings(failure_threshold=1))
    stream = failover.stream(MESSAGES).start()
    stream.close()
    assert primary.released.wait(SAFETY_S)  # the request was cut off
    assert failover.breakers[0].state == "closed" and stream.result.failures == []


def test_a_cancelled_wait_for_the_first_token_ends_the_stream_with_nothing():
    primary = FakeProvider("primary", HANG)
    asked = threading.Event()

    def cancelled() -> bool:
        asked.set()
        return True

    failover = chain(primary, first_token_timeout_s=SAFETY_S, breaker=BreakerSettings(failure_threshold=1))
    stream = failover.stream(MESSAGES, cancelled=cancelled)
    assert consume(stream) == ""  # no scripted line either: the turn is no longer wanted
    assert asked.is_set() and stream.result.cancelled and stream.result.failures == []
    assert primary.released.is_set() and failover.breakers[0].state == "closed"


def test_skipped_providers_are_not_asked():
    primary, secondary = FakeProvider("primary", "No"), FakeProvider("secondary", "Yes")
    stream = chain(primary, secondary).stream(MESSAGES, skip={"primary"})
    assert consume(stream) == "Yes" and primary.calls == 0 and stream.result.failures == []


def test_the_holding_phrase_after_a_drop_can_be_turned_off_per_stream():
    primary = FakeProvider("primary", "Hi.", RuntimeError("reset"))
    stream = chain(primary).stream(MESSAGES, holding_phrase_on_drop=False)
    assert consume(stream) == "Hi." and stream.result.dropped


class Gated(FakeProvider):
    """Its first token waits for `go`; it counts how often its request was cut off."""

    def __init__(self, name: str, *steps: object) -> None:
        super().__init__(name, *steps)
        self.go = threading.Event()

    def stream(self, messages, *, max_tokens, temperature, context):
        inner = FakeProvider.stream(
            self, messages, max_tokens=max_tokens, temperature=temperature, context=context
        )
        gate, provider = self.go, self

        class Waiting:
            first = True

            def __iter__(self):
                return self

            def __next__(self):
                if self.first:
                    self.first = False
                    gate.wait(SAFETY_S)
                    if provider.released.is_set():
                        raise StopIteration
                return next(inner)

            def close(self):
                inner.close()
                gate.set()

        return Waiting()


def test_a_silent_provider_gets_the_next_one_asked_beside_it_and_the_first_to_answer_is_heard():
    primary, secondary = Gated("primary", "late"), FakeProvider("secondary", "Here", " I am.")
    hedging = chain(primary, secondary, first_token_timeout_s=SAFETY_S, hedge_after_s=0.01)
    stream = hedging.stream(MESSAGES)
    assert consume(stream) == "Here I am."
    assert (primary.calls, secondary.calls) == (1, 1)
    (failure,) = stream.result.failures
    assert (failure.provider, failure.reason, failure.detail) == (
        "primary",
        "timeout",
        "slower than secondary",
    )
    assert primary.released.is_set()  # the slower request was cut off


def test_a_provider_that_answers_before_the_hedge_is_the_only_one_asked():
    primary, secondary = FakeProvider("primary", "Quick."), FakeProvider("secondary", "No")
    stream = chain(primary, secondary, first_token_timeout_s=SAFETY_S, hedge_after_s=SAFETY_S).stream(
        MESSAGES
    )
    assert consume(stream) == "Quick." and secondary.calls == 0 and stream.result.failures == []


def test_the_first_provider_still_wins_when_it_answers_after_the_hedge_began():
    primary, secondary = Gated("primary", "First."), Gated("secondary", "Second.")
    hedging = chain(primary, secondary, first_token_timeout_s=SAFETY_S, hedge_after_s=0.01)
    stream = hedging.stream(MESSAGES)
    heard: dict = {}
    reader = threading.Thread(target=lambda: heard.update(text=consume(stream)), daemon=True)
    reader.start()  # the consumer waits, so the hedge goes out
    for _ in range(1000):
        if secondary.calls:
            break
        threading.Event().wait(0.005)
    assert secondary.calls == 1
    primary.go.set()
    reader.join(SAFETY_S)
    assert heard["text"] == "First."
    assert stream.result.provider == "primary" and stream.result.failures[0].detail == "slower than primary"
    assert secondary.released.is_set()


def test_with_nobody_left_to_ask_the_hedge_waits_for_the_deadline_then_the_scripted_line():
    lone = chain(NeverAnswers("primary"), first_token_timeout_s=0.05, hedge_after_s=0.01)
    stream = lone.stream(MESSAGES, context=ScriptContext(scripted_line="Hello."))
    assert consume(stream) == "Hello."
    assert [f.detail for f in stream.result.failures] == ["no first token by the deadline"]


def test_a_hedge_must_not_be_negative():
    with pytest.raises(ValueError, match="hedge_after_s"):
        FailoverChain([], hedge_after_s=-1)
