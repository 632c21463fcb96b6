"""An asyncio loop in a thread, for synchronous Hypothesis rules that drive async clients."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["EventLoopThread", "MachineStopped"]

T = TypeVar("T")


class MachineStopped(Exception):
    """The run was stopped from outside (a cancelled case); not a finding about the server."""


class EventLoopThread:
    """An asyncio loop in a daemon thread; synchronous code submits coroutines with a bound."""

    def __init__(self, name: str = "canaux-conformance-machine") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop; cancel it and raise :class:`TimeoutError` after ``timeout``."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"the machine's step did not finish within {timeout:g}s") from None

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel what is left, stop the loop, join the thread."""
        if not self.loop.is_running():
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=timeout)

        with contextlib.suppress(Exception):
            self.run(cancel_all(), timeout + 1)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()
