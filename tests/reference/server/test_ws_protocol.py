"""The uvicorn WebSocket protocol of ``canaux serve``: the direct write path, lean receive queue."""

from __future__ import annotations

import asyncio

import pytest

from canaux.server.testing import RunningServer, running_server
from canaux.server.websocket import WebSocketLink
from canaux.server.ws_protocol import ReceiveQueue

from .wire import TIMEOUT, make_config, recv, recv_until, request, reset_within, send, session

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


def _event_overhead(seq: int, channel: str) -> int:
    return len(f'{{"type":"event","seq":{seq},"channel":"{channel}","data":{{"s":""}}}}')


@pytest.mark.parametrize("compression", [None, "deflate"])
async def test_the_direct_write_path_frames_every_length(compression: str | None) -> None:
    # ws_protocol.WRITER: without an extension the frame headers are written here (7-bit,
    # 16-bit and 64-bit lengths, RFC 6455 §5.2), with permessage-deflate websockets frames
    # them; the client's parser checks every frame either way.
    channel = "conformance.sizes"
    sizes = (1, 125, 126, 127, 65535, 65536, 65537, 100_000)
    async with (
        running_server(make_config(max_frame_bytes=262_144)) as server,
        session(server, connect_options={"compression": compression}) as (ws, _),
    ):
        (link,) = server.runtime.connections
        assert isinstance(link, WebSocketLink)
        assert link._direct is not None  # the direct path is taken
        await request(ws, {"type": "subscribe", "id": "s", "channel": channel})
        sent: list[dict[str, str]] = []
        for seq, size in enumerate(sizes, start=1):
            # The frame's UTF-8 length is exactly ``size`` (ASCII data), then a non-ASCII one.
            data = "x" * (size - _event_overhead(seq, channel)) if size > 80 else "y"
            sent.append({"s": data})
        sent.append({"s": "é€" * 20_000})  # 100,000 bytes of UTF-8 in 40,000 characters
        for n, payload in enumerate(sent):
            await send(ws, {"type": "publish", "id": f"p{n}", "channel": channel, "data": payload})
        got = await recv_until(
            ws, lambda f: f.get("type") == "event" and f["seq"] == len(sent), timeout_s=TIMEOUT
        )
    events = [f for f in got if f.get("type") == "event"]
    assert [e["data"] for e in events] == sent
    assert [e["seq"] for e in events] == list(range(1, len(sent) + 1))


async def test_a_reader_cut_with_4503_that_never_reads_again_is_reset() -> None:
    """TRANSPORT-23: once the app gave up on the close frame (its close timeout), the socket,
    whose write buffer the client never drains, is reset instead of kept open for ever."""
    config = make_config(outbound_queue=8, max_rate=10_000)
    async with running_server(config) as server:
        cut = asyncio.Event()
        server.runtime.add_close_listener(lambda kind, code: cut.set() if code == 4503 else None)
        # max_queue=1: the client stops reading from TCP as soon as one frame waits.
        async with session(server, connect_options={"max_queue": 1, "compression": None}) as (
            slow,
            _,
        ):
            await send(slow, {"type": "subscribe", "id": "s", "channel": "conformance.never"})
            assert (await recv(slow))["type"] == "ack"
            async with session(server) as (publisher, _):
                sent = 0
                async with asyncio.timeout(60):
                    while not cut.is_set():
                        frame = {
                            "type": "publish",
                            "id": f"p{sent}",
                            "channel": "conformance.never",
                            "data": {"mark": f"m{sent}", "body": "x" * 30_000},
                        }
                        assert (await request(publisher, frame))["type"] == "ack"
                        sent += 1
            # The close timeout (5 s), then a second; 15 s is the spec's bound.
            assert await reset_within(slow, 15.0)
