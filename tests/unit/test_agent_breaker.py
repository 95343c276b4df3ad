from __future__ import annotations

import random

import pytest

from agents.backoff import Backoff
from agents.breaker import CircuitBreaker


def _state(breaker: CircuitBreaker) -> str:
    return breaker.state


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_when_failures_reach_threshold_then_open_then_half_open_then_closed() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(3, 10.0, 1, clock=clock)
    for _ in range(2):
        breaker.record_failure()
    assert _state(breaker) == "closed"
    assert breaker.allow()
    breaker.record_failure()
    assert _state(breaker) == "open"
    assert not breaker.allow()
    clock.now = 9.9
    assert _state(breaker) == "open"
    clock.now = 10.0
    assert _state(breaker) == "half_open"
    assert breaker.allow()
    assert not breaker.allow()
    breaker.record_success()
    assert _state(breaker) == "closed"
    assert breaker.allow()


def test_breaker_when_half_open_probe_fails_then_open_again() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1, 5.0, 2, clock=clock)
    breaker.record_failure()
    clock.now = 5.0
    assert breaker.allow()
    assert breaker.allow()
    assert not breaker.allow()
    breaker.record_failure()
    assert _state(breaker) == "open"
    assert breaker.times_opened == 2
    assert breaker.seconds_until_probe() == pytest.approx(5.0)


def test_breaker_when_success_between_failures_then_count_resets() -> None:
    breaker = CircuitBreaker(2, 1.0, clock=FakeClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert _state(breaker) == "closed"


def test_backoff_when_attempts_grow_then_exponential_capped_with_jitter() -> None:
    backoff = Backoff(0.5, 4.0, 2.0, 0.2, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(6)]
    for delay, base in zip(delays, [0.5, 1.0, 2.0, 4.0, 4.0, 4.0], strict=True):
        assert base * 0.8 <= delay <= min(4.0, base * 1.2)
    backoff.reset()
    assert backoff.next_delay() <= 0.6
    exact = Backoff(1.0, 8.0, 3.0, 0.0)
    assert [exact.next_delay() for _ in range(4)] == [1.0, 3.0, 8.0, 8.0]
