"""Handler registry and dispatch: order, sync and async callbacks, failures contained."""

from __future__ import annotations

import asyncio
import logging

import pytest

from canaux.client.handlers import Dispatcher, HandlerRegistry

pytestmark = pytest.mark.anyio


def test_first_add_and_last_remove_are_reported() -> None:
    registry = HandlerRegistry()

    def one(data: object) -> None:
        pass

    def two(data: object) -> None:
        pass

    assert registry.add("a", one) is True
    assert registry.add("a", two) is False
    assert registry.add("a", one) is False  # registered once per channel
    assert registry.handlers("a") == [one, two]
    assert registry.handlers("b") == []
    assert registry.remove("a", one) is False
    assert registry.remove("a", one) is False  # not there any more
    assert registry.remove("a", two) is True
    assert registry.channels == []
    registry.add("c", one)
    registry.add("c", two)
    assert registry.remove("c") is True


async def test_callbacks_run_in_order_sync_and_async_and_failures_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []
    finished = asyncio.Event()

    async def slow() -> None:
        await asyncio.sleep(0)  # yields to the loop: the next callback must still wait
        calls.append("async")

    def broken() -> None:
        raise RuntimeError("handler bug")

    dispatcher = Dispatcher()
    dispatcher.start()
    dispatcher.submit(slow)
    dispatcher.submit(broken)
    dispatcher.submit(lambda: calls.append("sync"))
    dispatcher.submit(finished.set)
    with caplog.at_level(logging.ERROR, logger="canaux.client"):
        async with asyncio.timeout(10):
            await finished.wait()
        await dispatcher.stop()
    assert calls == ["async", "sync"]
    assert "client callback failed" in caplog.text


async def test_stop_from_inside_a_callback_does_not_deadlock() -> None:
    dispatcher = Dispatcher()
    dispatcher.start()
    stopped = asyncio.Event()

    async def stop_me() -> None:
        await dispatcher.stop()
        stopped.set()

    dispatcher.submit(stop_me)
    async with asyncio.timeout(10):
        await stopped.wait()
    await dispatcher.stop()
