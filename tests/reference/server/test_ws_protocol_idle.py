"""The idle part of ``canaux serve``'s uvicorn WebSocket protocol (issue #14): its own
``__init__`` sets what uvicorn's does, with less kept per connection; the writable flag."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from canaux.server.ws_protocol import CoalescingWebSocketProtocol, Flag

from .wire import TIMEOUT

pytestmark = pytest.mark.anyio

SIMPLE = (type(None), bool, int, float, str, tuple)


async def _app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - never run
    pass


@pytest.mark.parametrize("deflate", [True, False])
async def test_the_protocol_starts_as_uvicorns_does(deflate: bool) -> None:
    config = uvicorn.Config(_app, ws_per_message_deflate=deflate, ws_max_size=12345)
    config.load()
    state = ServerState()
    theirs = WebSocketsSansIOProtocol(config, state, {"k": 1})
    ours = CoalescingWebSocketProtocol(config, state, {"k": 1})
    for name, value in vars(theirs).items():
        mine = getattr(ours, name)  # every attribute uvicorn sets reads the same here
        if isinstance(value, SIMPLE):
            assert mine == value, name
        elif name == "queue":
            assert mine.empty()
            assert value.empty()
        elif name == "writable":
            assert mine.is_set()
            assert value.is_set()
        elif name == "conn":
            assert type(mine) is type(value)
            assert mine.max_message_size == value.max_message_size == 12345
            offered = [vars(f) for f in mine.available_extensions or ()]
            assert offered == [vars(f) for f in value.available_extensions or ()]
            assert mine.logger is value.logger
        else:
            assert mine is value or mine == value, name
    # What differs per connection only: fewer than CPython's shared-dictionary bound (30).
    assert len(vars(ours)) <= 15 < len(vars(theirs))


async def test_the_writable_flag_wakes_its_waiters_and_stores_none_while_idle() -> None:
    flag = Flag()
    assert not flag.is_set()
    waiters = [asyncio.ensure_future(flag.wait()) for _ in range(2)]
    await asyncio.sleep(0)  # let them start waiting (not a synchronisation on time)
    assert not any(w.done() for w in waiters)
    flag.set()
    async with asyncio.timeout(TIMEOUT):
        assert await asyncio.gather(*waiters) == [True, True]
    assert flag._waiters is None
    assert await flag.wait() is True  # set: no wait at all
    flag.clear()
    assert not flag.is_set()
    cancelled = asyncio.ensure_future(flag.wait())
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert not flag._waiters
