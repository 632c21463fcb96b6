"""Pacing a client within the token bucket its server announced (spec limits.md "Rate",
LIMIT-3, LIMIT-8)."""

from __future__ import annotations

__all__ = ["Pacer"]


class Pacer:
    """A client-side token bucket that keeps one connection within the server's [LIMIT-3, LIMIT-8].

    The server's bucket holds ``max_rate`` tokens and gains ``max_rate`` per second; frames that
    leave the suite at exactly that pace can still reach the server's bucket closer together
    (a scheduler stall on either side, a batch read), so the suite keeps a margin: a burst of
    half the bucket and 80 % of the rate. A server that closes a client paced like this with
    ``4429`` broke LIMIT-8 whatever the jitter, up to ``burst / rate`` seconds of it (0.6 s).

    ``reserve()`` takes one token and returns how long to wait before sending; reservations
    queue up in call order, so concurrent senders (a case and the reader's pongs) share it.
    """

    BURST_SHARE = 0.5
    RATE_SHARE = 0.8

    def __init__(self, max_rate: int, now: float) -> None:
        if max_rate < 1:
            raise ValueError(f"max_rate must be positive, got {max_rate}")
        self.max_rate = max_rate
        self.capacity = max(1.0, float(max_rate // 2 if max_rate > 1 else 1))
        self.rate = max_rate * self.RATE_SHARE
        self._tokens = self.capacity
        self._at = now
        self.waited = 0.0
        """Seconds of waiting imposed so far (for the transcript)."""

    def reserve(self, now: float) -> float:
        """Take one token; the seconds to wait before the frame may leave (0 when one is free)."""
        if now > self._at:
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now
        self._tokens -= 1.0
        wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        self.waited += wait
        return wait

    def describe(self) -> str:
        return (
            f"paced at {self.rate:g} frames/s with bursts of {self.capacity:g} "
            f"(announced max_rate {self.max_rate})"
        )
