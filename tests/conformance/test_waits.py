"""Tests of the suite's one wait loop (conformance/canaux_conformance/waits.py)."""

from __future__ import annotations

import asyncio

import pytest

from canaux_conformance.waits import wait_until


def _run(coro: object) -> object:
    async def main() -> object:
        async with asyncio.timeout(10):
            return await coro  # type: ignore[misc]

    return asyncio.run(main())


class TestWaitUntil:
    def test_what_has_arrived_is_found_at_once(self) -> None:
        async def scenario() -> str | None:
            return await wait_until(lambda: "x", asyncio.Event(), timeout=5, ended=lambda: False)

        assert _run(scenario()) == "x"

    def test_what_arrives_later_wakes_the_wait(self) -> None:
        async def scenario() -> str | None:
            arrived = asyncio.Event()
            box: list[str] = []

            async def deliver() -> None:
                await asyncio.sleep(0)
                box.append("late")
                arrived.set()

            task = asyncio.create_task(deliver())
            found = await wait_until(
                lambda: box[0] if box else None, arrived, timeout=5, ended=lambda: False
            )
            await task
            return found

        assert _run(scenario()) == "late"

    def test_nothing_after_the_timeout_or_once_the_reader_ended(self) -> None:
        async def scenario(ended: bool, seconds: float) -> str | None:
            return await wait_until(
                lambda: None, asyncio.Event(), timeout=seconds, ended=lambda: ended
            )

        assert _run(scenario(False, 0.05)) is None
        assert _run(scenario(True, 60)) is None

    def test_a_look_that_raises_ends_the_wait(self) -> None:
        def look() -> None:
            raise ValueError("finding")

        async def scenario() -> None:
            await wait_until(look, asyncio.Event(), timeout=5, ended=lambda: False)

        with pytest.raises(ValueError, match="finding"):
            _run(scenario())
