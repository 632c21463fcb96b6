"""Small helpers shared by the client tests: recording handlers and a zero-delay backoff."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["Recorder", "Zero"]


class Zero:
    """A random source that makes every backoff delay 0: reconnections happen at once."""

    def random(self) -> float:
        return 0.0


class Recorder:
    """A handler that records what it is called with; a test can wait for a number of calls."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Event()

    def __call__(self, item: Any) -> None:
        self.items.append(item)
        self._changed.set()

    async def wait_for(self, count: int, within: float = 10.0) -> list[Any]:
        """Wait until at least ``count`` calls were recorded (at most ``within`` seconds)."""
        async with asyncio.timeout(within):
            while len(self.items) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.items

    async def wait_until(self, predicate: Any, within: float = 10.0) -> list[Any]:
        """Wait until ``predicate(items)`` holds (at most ``within`` seconds)."""
        async with asyncio.timeout(within):
            while not predicate(self.items):
                self._changed.clear()
                await self._changed.wait()
        return self.items
