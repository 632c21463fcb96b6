"""Application callbacks of the client: per-channel handlers and their dispatch (spec
delivery.md, client.md).

Callbacks may be plain functions or coroutine functions. They run one at a time, in the
order their events arrived, on a task of their own: a handler may ``await client.send(...)``
without stalling the socket that must bring the answer. The queue of events waiting for them is
bounded (CLIENT-12); closing discards it and bounds the wait for a running callback (CLIENT-13).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

__all__ = ["Dispatcher", "Handler", "HandlerRegistry"]

logger = logging.getLogger("canaux.client")

Handler: TypeAlias = Callable[[Any], Awaitable[None] | None]
"""A channel handler: called with each event's ``data``."""

_Call: TypeAlias = Callable[[], Awaitable[None] | None]


class HandlerRegistry:
    """Channel → handlers, in registration order; a function may be registered once per channel."""

    def __init__(self) -> None:
        self._by_channel: dict[str, list[Handler]] = {}

    def add(self, channel: str, fn: Handler) -> bool:
        """Register ``fn``; returns True when it is the channel's first handler."""
        handlers = self._by_channel.setdefault(channel, [])
        first = not handlers
        if fn not in handlers:
            handlers.append(fn)
        return first

    def remove(self, channel: str, fn: Handler | None = None) -> bool:
        """Unregister ``fn`` (every handler when None); returns True when none is left."""
        handlers = self._by_channel.get(channel)
        if not handlers:
            return False
        if fn is None:
            handlers.clear()
        elif fn in handlers:
            handlers.remove(fn)
        else:
            return False
        if handlers:
            return False
        del self._by_channel[channel]
        return True

    def handlers(self, channel: str) -> list[Handler]:
        """A copy of ``channel``'s handlers (safe to iterate while handlers change it)."""
        return list(self._by_channel.get(channel, ()))

    @property
    def channels(self) -> list[str]:
        """Channels with at least one handler."""
        return list(self._by_channel)


class Dispatcher:
    """Runs callbacks one after the other on a dedicated task, logging their failures.

    [CLIENT-12] Event handlers wait in a bounded queue: :meth:`deliver` waits while ``limit``
    event calls are queued, so the reader that calls it stops reading the socket and the
    server sees a slow reader (LIMIT-4) instead of the client buffering without limit.
    State and reset callbacks (:meth:`submit`), a handful per connection, are never refused.
    """

    def __init__(self, limit: int = 1024) -> None:
        if limit < 1:
            raise ValueError("the handler queue limit must be >= 1")
        self.limit = limit
        self._calls: deque[tuple[_Call, bool]] = deque()
        self._queued_events = 0
        self._changed = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.paused = asyncio.Event()
        """Set while :meth:`deliver` waits for room: the caller is not reading its socket."""

    @property
    def queued_events(self) -> int:
        """Event handler calls waiting to run (at most :attr:`limit`)."""
        return self._queued_events

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._run())

    def submit(self, call: _Call) -> None:
        """Queue a state or reset callback (never waits, never refused)."""
        if not self._stopping:
            self._calls.append((call, False))
            self._changed.set()

    async def deliver(self, call: _Call) -> bool:
        """Queue an event handler call, waiting while the queue is full; False once stopping."""
        while self._queued_events >= self.limit and not self._stopping:
            self.paused.set()
            self._changed.clear()
            await self._changed.wait()
        self.paused.clear()
        if self._stopping:
            return False
        self._calls.append((call, True))
        self._queued_events += 1
        self._changed.set()
        return True

    def discard_events(self) -> int:
        """Drop every queued event call (the client is closing, CLIENT-13); returns how many."""
        kept = deque(item for item in self._calls if not item[1])
        dropped = len(self._calls) - len(kept)
        self._calls = kept
        self._queued_events = 0
        self._changed.set()
        return dropped

    async def stop(self, deadline: float | None = None) -> None:
        """Discard queued events, run the other queued callbacks, stop; bounded by ``deadline``.

        ``deadline`` is a reading of the loop's clock: a callback still running then is
        cancelled [CLIENT-13].
        """
        dropped = self.discard_events()
        if dropped:
            logger.info("client closing: %d queued events not handed to handlers", dropped)
        self._stopping = True
        self._changed.set()
        task = self._task
        if task is None:
            return
        if asyncio.current_task() is task:
            # Stopped from inside a callback (a handler closing its client): the flag ends
            # the task once this callback returns; awaiting it here would deadlock.
            return
        try:
            async with asyncio.timeout_at(deadline):
                await asyncio.shield(task)
        except TimeoutError:
            logger.warning("client closing: a callback still running was cancelled")
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None

    async def _run(self) -> None:
        while True:
            if not self._calls:
                if self._stopping:
                    return
                self._changed.clear()
                await self._changed.wait()
                continue
            call, is_event = self._calls.popleft()
            if is_event:
                self._queued_events -= 1
                self._changed.set()  # room for a waiting deliver()
            await run_callback(call)


async def run_callback(call: _Call) -> None:
    """Call ``call``; await its result when it is awaitable; log (never raise) its exception.

    A failing handler must not take the connection or the other handlers down with it.
    """
    try:
        result = call()
        if inspect.isawaitable(result):
            await result
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("client callback failed")
