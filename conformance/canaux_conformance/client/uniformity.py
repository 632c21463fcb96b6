"""Is a sample of backoff delays spread like full jitter? (spec CLIENT-1, CLIENT-5)

Full jitter draws each delay uniformly from ``[0, ceiling]``, so the delays divided by their
ceilings are a sample of the uniform distribution on ``[0, 1]``. The suite measures the delays
from its side of the network: a measured delay is the client's delay plus the time the closure
took to reach the client and its next connection to reach the suite, a latency between 0 and
``slack`` seconds. :func:`judge_uniform` runs a one-sample Kolmogorov-Smirnov test that gives
the client the benefit of that latency: it rejects only if no latency in ``[0, slack]`` for each
delay could make the sample look uniform, at significance ``alpha``.

With each sample known only within an interval ``[(d - slack) / c, d / c]``, the empirical CDF
of the true normalised delays lies between the empirical CDFs of the interval ends, so the
smallest KS distance any latency allows is at least ``max(D+ of the upper ends, D- of the lower
ends)``; that lower bound is the statistic. It is conservative: a correct client is rejected with
probability at most ``alpha``; a client without jitter (every delay at the ceiling, or none),
with "equal jitter" (half the ceiling plus a draw), or ignoring the ceiling's growth is rejected
once the sample has a few dozen delays and the slack is small against the ceilings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["DelaySample", "UniformityVerdict", "judge_uniform", "kolmogorov_p_value"]


@dataclass(frozen=True)
class DelaySample:
    """One measured delay and the ceiling ``min(cap, base·2^n)`` it must be drawn under."""

    measured: float
    ceiling: float

    def bounds(self, slack: float) -> tuple[float, float]:
        """The normalised delay, allowing 0 to ``slack`` seconds of latency, clipped to [0, 1]."""
        low = (self.measured - slack) / self.ceiling
        high = self.measured / self.ceiling
        return min(max(low, 0.0), 1.0), min(max(high, 0.0), 1.0)


@dataclass(frozen=True)
class UniformityVerdict:
    """The outcome of :func:`judge_uniform`, with what a report needs to show."""

    n: int
    statistic: float
    """The smallest Kolmogorov-Smirnov distance to U(0, 1) the latency allowance permits."""
    p_value: float
    alpha: float
    slack: float
    over_ceiling: tuple[int, ...]
    """Indexes of delays longer than their ceiling plus the slack."""

    @property
    def uniform(self) -> bool:
        return self.p_value >= self.alpha

    def describe(self) -> str:
        return (
            f"{self.n} delays normalised by their ceilings: Kolmogorov-Smirnov distance to "
            f"U(0,1) at least {self.statistic:.3f} allowing up to {self.slack * 1000:.0f} ms "
            f"of latency per delay, p = {self.p_value:.2g} (rejected below {self.alpha:g})"
        )


def kolmogorov_p_value(statistic: float, n: int) -> float:
    """P(D_n >= statistic) for a sample of ``n`` from the hypothesised distribution.

    The Kolmogorov limit distribution with Stephens' small-sample correction (Stephens 1970),
    accurate to a few per cent for n >= 5, which is all a pass/fail threshold needs.
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    if statistic <= 0:
        return 1.0
    root = math.sqrt(n)
    lam = (root + 0.12 + 0.11 / root) * statistic
    if lam < 0.2:
        return 1.0
    total = 0.0
    for j in range(1, 101):
        term = 2 * (-1) ** (j - 1) * math.exp(-2 * j * j * lam * lam)
        total += term
        if abs(term) < 1e-12:
            break
    return min(max(total, 0.0), 1.0)


def judge_uniform(
    samples: Sequence[DelaySample], *, slack: float, alpha: float = 0.001
) -> UniformityVerdict:
    """Test whether ``samples`` are full-jitter delays, up to ``slack`` seconds of latency."""
    if not samples:
        raise ValueError("no delays to judge")
    if slack < 0:
        raise ValueError("slack must be >= 0")
    n = len(samples)
    bounds = [s.bounds(slack) for s in samples]
    highs = sorted(high for _, high in bounds)
    lows = sorted(low for low, _ in bounds)
    # D+ = sup(F_n(x) - x): largest where the sample sits early; the upper ends are the most
    # favourable case for it. D- = sup(x - F_n(x)): the lower ends are the most favourable.
    d_plus = max((i + 1) / n - x for i, x in enumerate(highs))
    d_minus = max(x - i / n for i, x in enumerate(lows))
    statistic = max(d_plus, d_minus, 0.0)
    over = tuple(i for i, s in enumerate(samples) if s.measured > s.ceiling + slack)
    return UniformityVerdict(
        n=n,
        statistic=statistic,
        p_value=kolmogorov_p_value(statistic, n),
        alpha=alpha,
        slack=slack,
        over_ceiling=over,
    )
