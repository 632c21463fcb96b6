"""Reconnection delays: exponential backoff with full jitter (spec client.md, CLIENT-1, CLIENT-11).

The one owner of a client's reconnection schedule is :class:`Backoff`: it counts the failed
attempts since the last *healthy* connection (CLIENT-11: still open ``heartbeat_ms`` after its
``welcome``) and draws each delay uniformly from ``[0, min(cap, base * 2**attempt))``. Both the
WebSocket client and the SSE reader use it; :func:`backoff_delays` is the bare sequence. Sans
I/O: the caller passes the clock's readings in.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Protocol

__all__ = [
    "DEFAULT_BASE",
    "DEFAULT_CAP",
    "Backoff",
    "RandomSource",
    "backoff_ceiling",
    "backoff_delays",
]

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


class Backoff:
    """The attempt counter of one client and the delays it draws (CLIENT-1, CLIENT-11).

    The I/O layer reports :meth:`welcomed` when a connection's ``welcome`` arrives and
    :meth:`ended` when that connection is gone, both with the clock's reading in seconds, and
    asks :meth:`next_delay` before every reconnection. Only a connection that lasted
    ``heartbeat_ms`` after its ``welcome`` sets the attempt number back to 0: a server that
    welcomes and then fails at once meets growing delays.
    """

    def __init__(
        self,
        base: float = DEFAULT_BASE,
        cap: float = DEFAULT_CAP,
        rng: RandomSource | None = None,
    ) -> None:
        if base <= 0 or cap <= 0:
            raise ValueError("base and cap must be > 0")
        self.base = base
        self.cap = cap
        self._rng: RandomSource = rng if rng is not None else random.SystemRandom()
        self.attempt = 0
        """The attempt number of the next delay: failed attempts since the last healthy one."""
        self._healthy_at: float | None = None

    def welcomed(self, now: float, heartbeat_ms: int) -> None:
        """The current connection was welcomed at ``now``, announcing ``heartbeat_ms``."""
        # [CLIENT-11] "still open heartbeat_ms milliseconds after its welcome".
        self._healthy_at = now + heartbeat_ms / 1000

    def healthy(self, now: float) -> bool:
        """Whether the current connection has proved healthy by ``now``."""
        return self._healthy_at is not None and now >= self._healthy_at

    def ended(self, now: float) -> None:
        """The current connection is gone at ``now`` (never welcomed counts as a failure)."""
        if self.healthy(now):
            # [CLIENT-1] "the attempt number MUST go back to 0 only after a connection has
            # proved healthy" — a welcome alone does not reset it.
            self.attempt = 0
        self._healthy_at = None

    def next_delay(self) -> float:
        """The delay before the next attempt, in seconds; counts that attempt as made."""
        delay = self._rng.random() * backoff_ceiling(self.attempt, self.base, self.cap)
        self.attempt += 1
        return delay
