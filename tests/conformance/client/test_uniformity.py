"""The backoff goodness-of-fit test: right size on uniform samples, power on broken backoffs."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from canaux_conformance.client.uniformity import DelaySample, judge_uniform, kolmogorov_p_value

CEILINGS = [0.1, 0.2, 0.4, 0.8, 0.8]


def test_the_p_value_matches_the_tabulated_critical_values() -> None:
    # Critical values of the one-sample KS test (Stephens' approximation): n=50, alpha 0.05 and
    # 0.01; n=20, alpha 0.001.
    assert kolmogorov_p_value(0.1884, 50) == pytest.approx(0.05, abs=0.003)
    assert kolmogorov_p_value(0.2260, 50) == pytest.approx(0.01, abs=0.001)
    assert kolmogorov_p_value(0.4250, 20) == pytest.approx(0.001, abs=0.0003)
    assert kolmogorov_p_value(0.0, 10) == 1.0


def test_full_jitter_with_latency_within_the_slack_passes_nearly_always() -> None:
    rng = random.Random(7)
    rejected = 0
    for _ in range(300):
        latency = rng.uniform(0, 0.02)
        samples = [DelaySample(rng.random() * c + latency * rng.random(), c) for c in CEILINGS * 8]
        rejected += not judge_uniform(samples, slack=0.02, alpha=0.01).uniform
    assert rejected <= 10  # about 1 % expected; the latency allowance only lowers it


@pytest.mark.parametrize(
    ("name", "delays"),
    [
        ("no jitter: the ceiling every time", lambda rng, c: c),
        ("no delay at all", lambda rng, c: 0.0),
        ("equal jitter", lambda rng, c: c / 2 + rng.random() * c / 2),
        ("no growth: always base", lambda rng, c: rng.random() * 0.1),
    ],
)
def test_broken_backoffs_are_rejected(
    name: str, delays: Callable[[random.Random, float], float]
) -> None:
    rng = random.Random(3)
    samples = [DelaySample(delays(rng, c) + 0.005, c) for c in CEILINGS * 8]
    verdict = judge_uniform(samples, slack=0.02)
    assert not verdict.uniform, verdict.describe()


def test_delays_over_their_ceiling_are_named() -> None:
    samples = [DelaySample(0.05, 0.1), DelaySample(0.5, 0.2), DelaySample(0.21, 0.2)]
    assert judge_uniform(samples, slack=0.02).over_ceiling == (1,)


def test_nothing_to_judge_is_an_error() -> None:
    with pytest.raises(ValueError, match="no delays"):
        judge_uniform([], slack=0.0)
