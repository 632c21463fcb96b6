"""The backoff cases judge only delays whose ceiling outweighs the latency (CLIENT-1, CLIENT-5)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from canaux_conformance.client.suites.backoff import MIN_INFORMATIVE, _Timeline
from canaux_conformance.client.uniformity import DelaySample
from canaux_conformance.outcomes import CaseFailed, CaseSkipped


class _Notes:
    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        self.notes.append(text)


def _timeline(rtt: float) -> tuple[_Timeline, _Notes]:
    notes = _Notes()
    line = _Timeline(cast(Any, notes), cast(Any, None), cast(Any, None))
    line.rtts.append(rtt)
    return line, notes


CEILINGS = [0.05, 0.1, 0.2, 0.4, 0.8, 1.6] * 2


def test_no_jitter_fails_when_the_latency_is_small() -> None:
    line, _ = _timeline(0.002)
    samples = [(0, DelaySample(c + 0.003, c)) for c in CEILINGS]
    with pytest.raises(CaseFailed):
        line.judge(samples, "CLIENT-1", "delays")


def test_on_a_busy_machine_the_case_cannot_judge_rather_than_pass() -> None:
    """Slowest ping 0.2 s: only the 1.6 s ceilings outweigh 4 allowances of 0.4 s; two of
    them cannot tell no jitter from full jitter, so the case is skipped, not passed."""
    line, _ = _timeline(0.2)
    samples = [(0, DelaySample(c + 0.2, c)) for c in CEILINGS]
    with pytest.raises(CaseSkipped, match="too busy"):
        line.judge(samples, "CLIENT-1", "delays")


def test_enough_informative_uniform_delays_pass_and_say_how_many_were_judged() -> None:
    line, notes = _timeline(0.002)
    samples = [(0, DelaySample(c * (i + 0.5) / len(CEILINGS), c)) for i, c in enumerate(CEILINGS)]
    line.judge(samples, "CLIENT-1", "delays")
    judged = sum(1 for c in CEILINGS if c >= 4 * 0.02)
    assert judged >= MIN_INFORMATIVE
    assert f"{judged} with a ceiling" in notes.notes[0]
