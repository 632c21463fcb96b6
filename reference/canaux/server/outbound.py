"""The bounded outbound queue of one connection (spec §11 [LIMIT-4], [SECURITY-4]).

Fan-out never waits for a connection: it appends to the connection's queue and moves on. When
a queue is full the connection is a slow consumer: the queue is marked overflowed, its writer
wakes up and the connection is closed with 4503, while every other connection carries on.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["Outbound"]


class Outbound:
    """Frames waiting to be written to one connection, at most ``limit`` of them."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._limit = limit
        self._frames: deque[str] = deque()
        self._wake = asyncio.Event()
        self.overflowed = False
        """Set once a frame did not fit: the connection must be cut [LIMIT-4]."""
        self.closed = False

    def __len__(self) -> int:
        return len(self._frames)

    def put(self, text: str, *, bounded: bool = True) -> bool:
        """Queue ``text`` without waiting; ``False`` when it was dropped (closed or overflowed).

        ``bounded=False`` is for what a connection sends before it takes live events (the
        welcome and the resume replay, bounded by ``resume_buffer`` already).
        """
        if self.closed or self.overflowed:
            return False
        if bounded and len(self._frames) >= self._limit:
            self.overflowed = True
            self._frames.clear()  # nothing more will be written to this connection
            self._wake.set()
            return False
        self._frames.append(text)
        self._wake.set()
        return True

    def close(self) -> None:
        """Stop accepting frames and wake the writer (it drains what is queued, then stops)."""
        self.closed = True
        self._wake.set()

    def take(self) -> list[str]:
        """Everything queued, oldest first, and empty the queue."""
        frames = list(self._frames)
        self._frames.clear()
        if not self.closed and not self.overflowed:
            self._wake.clear()
        return frames

    async def wait(self, max_wait: float | None) -> None:
        """Return once frames are queued, the queue closes or overflows, or ``max_wait`` s pass."""
        if self._frames or self.closed or self.overflowed:
            return
        try:
            async with asyncio.timeout(max_wait):
                await self._wake.wait()
        except TimeoutError:
            pass
