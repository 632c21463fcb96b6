"""The collector's pacing during floods [SECURITY-4]: full collections postponed while
handshakes wait for their turn, for a bounded time, thresholds given back afterwards.

A fake collector and clock: the tests never touch the process's own collector."""

from __future__ import annotations

import asyncio

import pytest

from canaux.server.collector import CALM_AFTER_S, POSTPONE_AT_MOST_S, CollectorPacing

DEFAULT = (700, 10, 10)


class FakeCollector:
    def __init__(self) -> None:
        self.threshold = DEFAULT

    def get_threshold(self) -> tuple[int, int, int]:
        return self.threshold

    def set_threshold(self, threshold0: int, threshold1: int = 10, threshold2: int = 10) -> None:
        self.threshold = (threshold0, threshold1, threshold2)


class Flood:
    """What the pacing reads: handshakes that waited, and the time."""

    def __init__(self) -> None:
        self.waited = 0
        self.now = 100.0

    def pacing(self, collector: FakeCollector) -> CollectorPacing:
        return CollectorPacing(lambda: self.waited, collector=collector, clock=lambda: self.now)


def postponed(collector: FakeCollector) -> bool:
    young, middle, full = collector.threshold
    return (young, middle) == DEFAULT[:2] and full > 1_000_000


def test_full_collections_are_postponed_while_handshakes_wait_then_given_back() -> None:
    collector, flood = FakeCollector(), Flood()
    pacing = flood.pacing(collector)
    pacing.check()
    assert collector.threshold == DEFAULT  # calm: the collector's own thresholds
    flood.waited += 40
    pacing.check()
    assert postponed(collector)
    assert pacing.postponing
    flood.waited += 1
    flood.now += 1
    pacing.check()
    assert postponed(collector)
    flood.now += CALM_AFTER_S / 2
    pacing.check()  # a short pause in the flood
    assert postponed(collector)
    flood.now += CALM_AFTER_S
    pacing.check()  # nobody waited for CALM_AFTER_S: the flood is over
    assert collector.threshold == DEFAULT
    assert not pacing.postponing


def test_a_flood_postpones_them_for_a_bounded_time_only() -> None:
    collector, flood = FakeCollector(), Flood()
    pacing = flood.pacing(collector)
    flood.waited += 1
    pacing.check()
    assert postponed(collector)
    flood.now += POSTPONE_AT_MOST_S
    flood.waited += 1
    pacing.check()
    assert collector.threshold == DEFAULT  # the garbage held back is bounded
    flood.now += 1
    flood.waited += 1
    pacing.check()
    assert collector.threshold == DEFAULT  # the same flood: the usual collections
    flood.now += CALM_AFTER_S
    pacing.check()  # calm
    flood.waited += 1
    pacing.check()
    assert postponed(collector)  # a new flood


def test_stop_gives_the_thresholds_back() -> None:
    collector, flood = FakeCollector(), Flood()
    pacing = flood.pacing(collector)
    flood.waited += 1
    pacing.check()
    assert postponed(collector)
    pacing.stop()
    assert collector.threshold == DEFAULT


@pytest.mark.anyio
async def test_started_on_a_loop_it_looks_by_itself() -> None:
    collector, flood = FakeCollector(), Flood()
    changed = asyncio.Event()
    set_threshold = collector.set_threshold

    def observed(*threshold: int) -> None:
        set_threshold(*threshold)
        changed.set()

    collector.set_threshold = observed  # type: ignore[method-assign,assignment]
    pacing = CollectorPacing(lambda: flood.waited, collector=collector)
    pacing.start(asyncio.get_running_loop())
    flood.waited += 1
    async with asyncio.timeout(10):
        await changed.wait()
    assert postponed(collector)
    pacing.stop()
    assert collector.threshold == DEFAULT
