import pytest

from kimiyi.llm import BreakerSettings, CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


def open_breaker(clock, threshold=3, cooldown=30.0):
    breaker = CircuitBreaker(BreakerSettings(failure_threshold=threshold, cooldown_s=cooldown), clock)
    for _ in range(threshold):
        assert breaker.allow_request()
        breaker.record_failure()
    return breaker


def test_opens_after_the_threshold_of_consecutive_failures(clock):
    breaker = CircuitBreaker(BreakerSettings(failure_threshold=3, cooldown_s=30), clock)
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "closed" and breaker.allow_request()
    breaker.record_failure()
    assert breaker.state == "open"
    assert not breaker.allow_request()


def test_a_success_resets_the_count(clock):
    breaker = CircuitBreaker(BreakerSettings(failure_threshold=2, cooldown_s=30), clock)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"


def test_half_open_after_the_cool_down_lets_one_trial_through(clock):
    breaker = open_breaker(clock)
    clock.now += 29.9
    assert not breaker.allow_request()
    clock.now += 0.1
    assert breaker.state == "half-open"
    assert breaker.allow_request()
    assert not breaker.allow_request()  # only one trial at a time


def test_trial_success_closes(clock):
    breaker = open_breaker(clock)
    clock.now += 30
    assert breaker.allow_request()
    breaker.record_success()
    assert breaker.state == "closed"
    assert breaker.allow_request() and breaker.allow_request()


def test_trial_failure_reopens_for_a_new_cool_down(clock):
    breaker = open_breaker(clock)
    clock.now += 30
    assert breaker.allow_request()
    breaker.record_failure()
    assert breaker.state == "open"
    clock.now += 29
    assert not breaker.allow_request()
    clock.now += 1
    assert breaker.allow_request()


def test_a_released_trial_lets_the_next_caller_try(clock):
    breaker = open_breaker(clock)
    clock.now += 30
    assert breaker.allow_request()
    breaker.release()
    assert breaker.allow_request()


@pytest.mark.parametrize(("threshold", "cooldown"), [(0, 30), (3, -1)])
def test_bad_settings_are_rejected(threshold, cooldown):
    with pytest.raises(ValueError, match=r"failure_threshold|cooldown_s"):
        BreakerSettings(failure_threshold=threshold, cooldown_s=cooldown)
