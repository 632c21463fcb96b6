"""Tests of canaux.protocol.backoff: full-jitter exponential backoff (CLIENT-1, CLIENT-11)."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canaux.protocol.backoff import (
    DEFAULT_BASE,
    DEFAULT_CAP,
    Backoff,
    backoff_ceiling,
    backoff_delays,
)

bases = st.floats(min_value=0.001, max_value=10.0, allow_nan=False)
caps = st.floats(min_value=0.01, max_value=600.0, allow_nan=False)


class _Extreme:
    """A random source that always returns the same value (0 or just below 1)."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def test_defaults_are_the_contract_values_client_1() -> None:
    assert DEFAULT_BASE == 0.5
    assert DEFAULT_CAP == 20.0
    assert [backoff_ceiling(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 20, 20]


@settings(max_examples=60, deadline=None)
@given(base=bases, cap=caps, seed=st.integers(0, 2**32), count=st.integers(1, 80))
def test_every_delay_lies_within_zero_and_its_ceiling_client_1(
    base: float, cap: float, seed: int, count: int
) -> None:
    delays = list(itertools.islice(backoff_delays(base, cap, random.Random(seed)), count))
    assert len(delays) == count
    for attempt, delay in enumerate(delays):
        ceiling = backoff_ceiling(attempt, base, cap)
        assert 0.0 <= delay <= ceiling <= cap


@settings(max_examples=60, deadline=None)
@given(base=bases, cap=caps, attempt=st.integers(0, 5000))
def test_ceiling_doubles_until_the_cap_then_stays_client_1(
    base: float, cap: float, attempt: int
) -> None:
    here, after = backoff_ceiling(attempt, base, cap), backoff_ceiling(attempt + 1, base, cap)
    assert after >= here
    assert after <= cap
    if here < cap / 2:
        assert after == pytest.approx(2 * here)
    assert backoff_ceiling(attempt + 200, base, cap) == cap


def test_full_jitter_reaches_both_ends_of_the_interval() -> None:
    low = list(itertools.islice(backoff_delays(rng=_Extreme(0.0)), 10))
    high = list(itertools.islice(backoff_delays(rng=_Extreme(0.999999)), 10))
    assert low == [0.0] * 10
    assert high == pytest.approx([backoff_ceiling(n) * 0.999999 for n in range(10)])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), used=st.integers(0, 40))
def test_a_new_iterator_restarts_at_attempt_zero_client_1(seed: int, used: int) -> None:
    """Reset after a successful welcome = start a fresh iterator: the first delay is ≤ base."""
    rng = random.Random(seed)
    old = backoff_delays(rng=rng)
    for _ in range(used):
        next(old)
    fresh = backoff_delays(rng=rng)
    assert next(fresh) <= DEFAULT_BASE


def test_same_seed_gives_the_same_delays() -> None:
    a = list(itertools.islice(backoff_delays(rng=random.Random(7)), 20))
    b = list(itertools.islice(backoff_delays(rng=random.Random(7)), 20))
    assert a == b
    assert len(set(a)) > 1


@pytest.mark.parametrize(("base", "cap"), [(0.0, 1.0), (1.0, 0.0), (-1.0, 5.0)])
def test_non_positive_parameters_are_refused_at_once(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        backoff_delays(base, cap)


def test_negative_attempt_is_refused() -> None:
    with pytest.raises(ValueError, match="attempt"):
        backoff_ceiling(-1)


class TestBackoffOwnsTheAttemptNumber:
    """[CLIENT-1] [CLIENT-11] the attempt number goes back to 0 only after a healthy connection."""

    def test_each_delay_counts_an_attempt(self) -> None:
        backoff = Backoff(1.0, 8.0, _Extreme(0.999999))
        delays = [backoff.next_delay() for _ in range(5)]
        assert backoff.attempt == 5
        assert [round(d) for d in delays] == [1, 2, 4, 8, 8]

    def test_a_welcome_alone_does_not_reset(self) -> None:
        backoff = Backoff(rng=_Extreme(0.0))
        for now in (0.0, 10.0, 20.0):
            backoff.welcomed(now, heartbeat_ms=15000)
            backoff.ended(now + 14.999)  # ended before heartbeat_ms had passed
            backoff.next_delay()
        assert backoff.attempt == 3

    def test_a_connection_open_heartbeat_ms_after_its_welcome_resets(self) -> None:
        backoff = Backoff(rng=_Extreme(0.0))
        backoff.next_delay()
        backoff.next_delay()
        backoff.welcomed(100.0, heartbeat_ms=2000)
        assert not backoff.healthy(101.999)
        assert backoff.healthy(102.0)
        backoff.ended(102.5)
        assert backoff.attempt == 0

    def test_a_connection_never_welcomed_is_a_failed_attempt(self) -> None:
        backoff = Backoff(rng=_Extreme(0.0))
        backoff.next_delay()
        backoff.ended(1e9)
        assert backoff.attempt == 1

    @pytest.mark.parametrize(("base", "cap"), [(0.0, 1.0), (1.0, 0.0), (-1.0, 1.0)])
    def test_rejects_non_positive_parameters(self, base: float, cap: float) -> None:
        with pytest.raises(ValueError, match="must be > 0"):
            Backoff(base, cap)
