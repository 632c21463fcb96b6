"""The garbage collector's pacing in a server process (spec [SECURITY-4]).

CPython's full collection walks every tracked object: with a thousand sessions open it costs
the server's only thread about 130 ms of CPU on a 2-core machine (measured during the flood
benchmark), several times that in wall time on a busy machine, and every established session
waits for it. While a heap grows, the collector runs a full collection each time it has grown
by a quarter: a flood of handshakes (3,000 connections, a thousand of them welcomed) brought
four of them, 100-600 ms each, while the flood's own work was under way
(``benchmarks/FLOOD_NOTES.md``).

:class:`CollectorPacing` postpones full collections while a flood lasts, that is while
connections wait for a handshake turn (``Admission.waited`` grows, see
:mod:`canaux.server.admission`) and until none has for :data:`CALM_AFTER_S`, for at most
:data:`POSTPONE_AT_MOST_S`; young collections still run (they free what dies young, refused
connections included). Once the flood is over the collector's own thresholds are back, and the
next full collection (one, over the heap the flood left) comes when they call for it. A flood
longer than the bound gets the usual collections again until it is over, so the garbage held
back stays bounded.

A process whose server :func:`canaux.server.run.serve_async` runs (``canaux serve`` does) paces
its collector, as it freezes what start-up loaded; an app mounted in another server leaves the
collector to that server's process.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from typing import Protocol

__all__ = ["CALM_AFTER_S", "CHECK_EVERY_S", "POSTPONE_AT_MOST_S", "Collector", "CollectorPacing"]

CHECK_EVERY_S = 0.25
"""How often the pacing looks whether connections waited for a handshake turn."""

CALM_AFTER_S = 1.0
"""A flood is over once no connection has waited for a turn for this long."""

POSTPONE_AT_MOST_S = 10.0
"""The longest a flood postpones full collections (the garbage they would free is held)."""

_NEVER = 2**31 - 1
"""A third-generation threshold the collector never reaches: no full collection."""


class Collector(Protocol):
    """The part of :mod:`gc` the pacing uses."""

    def get_threshold(self) -> tuple[int, int, int]: ...

    def set_threshold(
        self, threshold0: int, threshold1: int = ..., threshold2: int = ...
    ) -> None: ...


class CollectorPacing:
    """Postpones full collections while ``waited()`` (handshakes that waited) grows."""

    def __init__(
        self,
        waited: Callable[[], int],
        *,
        collector: Collector = gc,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._waited = waited
        self._collector = collector
        self._clock = clock
        self._seen = waited()
        self._last_wait = float("-inf")
        self._saved: tuple[int, int, int] | None = None  # the thresholds while postponing
        self._since = 0.0
        self._spent = False  # this flood used up its postponement
        self._timer: asyncio.TimerHandle | None = None

    @property
    def postponing(self) -> bool:
        return self._saved is not None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._clock is None:
            self._clock = loop.time
        self._timer = loop.call_later(CHECK_EVERY_S, self._tick, loop)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._resume()

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        self.check()
        self._timer = loop.call_later(CHECK_EVERY_S, self._tick, loop)

    def check(self) -> None:
        """One look: postpone, go on postponing, or give the collector its thresholds back."""
        assert self._clock is not None, "start() or a clock first"
        now = self._clock()
        waited = self._waited()
        if waited != self._seen:
            self._seen, self._last_wait = waited, now
        if now - self._last_wait >= CALM_AFTER_S:
            self._spent = False
            self._resume()
        elif self._saved is None and not self._spent:
            self._saved = self._collector.get_threshold()
            self._since = now
            young, middle, _ = self._saved
            self._collector.set_threshold(young, middle, _NEVER)
        elif self._saved is not None and now - self._since >= POSTPONE_AT_MOST_S:
            self._spent = True
            self._resume()

    def _resume(self) -> None:
        if self._saved is not None:
            self._collector.set_threshold(*self._saved)
            self._saved = None
