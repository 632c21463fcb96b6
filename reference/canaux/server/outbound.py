"""The outbound queue of an SSE stream or a legacy socket, in asyncio (spec limits.md [LIMIT-4]).

The queue itself is the core's :class:`~canaux.protocol.outbound.OutboundQueue`, the one queue
type of every connection (the WebSocket's core connection keeps one too); :class:`Outbound`
only adds the wake-up its writer waits on. Fan-out never waits for a connection: it appends
and moves on. When the queue overflows, its writer wakes up and the connection is closed with
4503, while every other connection carries on [SECURITY-4].
"""

from __future__ import annotations

import asyncio

from canaux.protocol.outbound import OutboundQueue

__all__ = ["Outbound"]


class Outbound:
    """Frames waiting to be written to one connection: at most ``limit`` of them and
    ``max_bytes`` bytes of UTF-8 [LIMIT-4]."""

    def __init__(self, limit: int, max_bytes: int | None = None) -> None:
        self._queue = OutboundQueue(limit, max_bytes)
        self._wake = asyncio.Event()

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def overflowed(self) -> bool:
        """Set once a frame did not fit: the connection must be cut [LIMIT-4]."""
        return self._queue.overflowed

    @property
    def closed(self) -> bool:
        return self._queue.closed

    def put(self, text: str, *, bounded: bool = True) -> bool:
        """Queue ``text`` without waiting; ``False`` when it was dropped (closed or overflowed).

        ``bounded=False`` is for what a connection sends before it takes live events (the
        welcome and the resume replay, bounded by ``resume_buffer`` already).
        """
        queued = self._queue.put(text, bounded=bounded)
        if queued or self._queue.overflowed:
            self._wake.set()
        return queued

    def close(self) -> None:
        """Stop accepting frames and wake the writer (it drains what is queued, then stops)."""
        self._queue.close()
        self._wake.set()

    def take(self) -> list[str]:
        """Everything queued, oldest first, and empty the queue."""
        frames = self._queue.take()
        if not self._queue.closed and not self._queue.overflowed:
            self._wake.clear()
        return frames

    async def wait(self, max_wait: float | None) -> None:
        """Return once frames are queued, the queue closes or overflows, or ``max_wait`` s pass."""
        queue = self._queue
        if queue or queue.closed or queue.overflowed:
            return
        try:
            async with asyncio.timeout(max_wait):
                await self._wake.wait()
        except TimeoutError:
            pass
