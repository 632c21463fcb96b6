"""Application callbacks of the client: per-channel handlers and their dispatch (spec §6, §16).

Callbacks may be plain functions or coroutine functions. They run one at a time, in the
order their events arrived, on a task of their own: a handler may ``await client.send(...)``
without stalling the socket that must bring the answer.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
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
    """Runs callbacks one after the other on a dedicated task, logging their failures."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[_Call | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def submit(self, call: _Call) -> None:
        self._queue.put_nowait(call)

    async def stop(self) -> None:
        """Run what is queued, then stop."""
        if self._task is None:
            return
        self._queue.put_nowait(None)
        if asyncio.current_task() is self._task:
            # Stopped from inside a callback (a handler closing its client): the sentinel
            # ends the task once this callback returns; awaiting it here would deadlock.
            return
        await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            call = await self._queue.get()
            if call is None:
                return
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
