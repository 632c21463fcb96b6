"""Bounded waits for something a reader task delivers: one loop for the suite's waits.

The suite's readers (the raw client's frame reader, the scripted server's, the adapter's
stdout reader) append what arrives and set an :class:`asyncio.Event`; a wait looks at what
has arrived, and sleeps on the event until something else arrives, the reader ends or the
time is up. Every wait is bounded by its own ``timeout``.
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_until"]

T = TypeVar("T")


async def wait_until(
    look: Callable[[], T | None],
    arrived: asyncio.Event,
    *,
    timeout: float,
    ended: Callable[[], bool],
) -> T | None:
    """What ``look()`` finds, as soon as it finds something (not ``None``); ``None`` once
    ``ended()`` says nothing more will arrive, or after ``timeout`` seconds.

    ``look`` may raise (a finding that ends the wait). ``arrived`` is cleared before each look,
    so that what arrives after a look that found nothing still wakes the wait.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        arrived.clear()
        found = look()
        if found is not None:
            return found
        remaining = deadline - loop.time()
        if remaining <= 0 or ended():
            return None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(remaining):
                await arrived.wait()
