"""Reconnection delays: exponential backoff with full jitter (spec §16, CLIENT-1).

The one backoff function of the project. Each delay is drawn uniformly from
``[0, min(cap, base * 2**attempt))``; ``attempt`` counts failed attempts since the
last successful ``welcome``. Resetting the backoff means starting a new iterator.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Protocol

__all__ = ["DEFAULT_BASE", "DEFAULT_CAP", "RandomSource", "backoff_ceiling", "backoff_delays"]

DEFAULT_BASE = 0.5
"""Seconds: ceiling of the first delay (CLIENT-1)."""

DEFAULT_CAP = 20.0
"""Seconds: no delay is ever longer (CLIENT-1)."""


class RandomSource(Protocol):
    """Anything with ``random() -> float`` in ``[0, 1)``, such as :class:`random.Random`."""

    def random(self) -> float: ...


def backoff_ceiling(attempt: int, base: float = DEFAULT_BASE, cap: float = DEFAULT_CAP) -> float:
    """Upper bound of the delay before retry ``attempt`` (0-based): min(cap, base·2^attempt)."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    if base <= 0 or cap <= 0:
        raise ValueError("base and cap must be > 0")
    # Compare exponents rather than computing 2**attempt, which overflows a float
    # after about a thousand failed attempts of a client that reconnects forever.
    if attempt >= 64 or base * (2.0**attempt) >= cap:
        return cap
    return base * (2.0**attempt)


def backoff_delays(
    base: float = DEFAULT_BASE,
    cap: float = DEFAULT_CAP,
    rng: RandomSource | None = None,
) -> Iterator[float]:
    """Yield the delays before successive reconnection attempts, forever.

    [CLIENT-1] "delay = random(0, min(cap, base·2^attempt))" — full jitter spreads
    the reconnections of many clients after a server restart instead of letting
    them arrive in waves.
    """
    # Validate now, not at the first next(): a generator body runs lazily.
    if base <= 0 or cap <= 0:
        raise ValueError("base and cap must be > 0")
    source: RandomSource = rng if rng is not None else random.SystemRandom()
    return _delays(base, cap, source)


def _delays(base: float, cap: float, source: RandomSource) -> Iterator[float]:
    attempt = 0
    while True:
        yield source.random() * backoff_ceiling(attempt, base, cap)
        attempt += 1
