"""The uvicorn WebSocket protocol of ``canaux serve``: batched writes, lean receive queue."""

from __future__ import annotations

import asyncio

import pytest

from canaux.server.testing import RunningServer
from canaux.server.ws_protocol import ReceiveQueue

from .wire import TIMEOUT, recv_until, request, send, session

pytestmark = pytest.mark.anyio


async def test_receive_queue_is_first_in_first_out() -> None:
    queue = ReceiveQueue()
    assert queue.empty()
    assert queue.qsize() == 0
    queue.put_nowait({"type": "websocket.receive", "text": "a"})
    queue.put_nowait({"type": "websocket.receive", "text": "b"})
    assert not queue.empty()
    assert queue.qsize() == 2
    async with asyncio.timeout(TIMEOUT):
        first, second = await queue.get(), await queue.get()
    assert (first.get("text"), second.get("text")) == ("a", "b")
    assert queue.empty()


async def test_receive_queue_wakes_a_waiting_get() -> None:
    queue = ReceiveQueue()
    getter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)  # let the getter start waiting (not a synchronisation on time)
    assert not getter.done()
    queue.put_nowait({"type": "websocket.disconnect", "code": 1005})
    async with asyncio.timeout(TIMEOUT):
        message = await getter
    assert message["type"] == "websocket.disconnect"


async def test_a_cancelled_get_loses_no_message() -> None:
    queue = ReceiveQueue()
    cancelled = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    queue.put_nowait({"type": "websocket.receive", "text": "kept"})
    async with asyncio.timeout(TIMEOUT):
        message = await queue.get()
    assert message.get("text") == "kept"


async def test_a_burst_of_events_arrives_whole_and_in_order(server: RunningServer) -> None:
    # Publishes sent back to back queue several events per subscriber before its writer runs:
    # they leave as one batch (one socket write) and must arrive as separate, ordered frames.
    count = 150  # within the default rate limit's burst [LIMIT-3]
    async with session(server) as (sub, _), session(server) as (pub, _):
        await request(sub, {"type": "subscribe", "id": "s", "channel": "conformance.burst"})
        for n in range(count):
            await send(
                pub,
                {
                    "type": "publish",
                    "id": f"p{n}",
                    "channel": "conformance.burst",
                    "data": {"n": n},
                },
            )
        await recv_until(pub, lambda f: f.get("type") == "ack" and f.get("id") == f"p{count - 1}")
        events = await recv_until(
            sub, lambda f: f.get("type") == "event" and f["data"]["n"] == count - 1
        )
    events = [e for e in events if e.get("type") == "event"]
    assert [e["data"]["n"] for e in events] == list(range(count))
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + count))
