"""The ``/ws`` door's write path without a writer task (server/websocket.py): one direct
write per connection per event-loop pass, a paused socket skipped until it drains [LIMIT-4]."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, MutableMapping, Sequence
from typing import Any

import pytest
from starlette.websockets import WebSocket, WebSocketState

from canaux.protocol.codes import CloseCode
from canaux.protocol.limits import Limits
from canaux.server.config import ServerConfig
from canaux.server.runtime import ServerRuntime
from canaux.server.websocket import WebSocketLink
from canaux.server.ws_protocol import WRITER

from .wire import TIMEOUT

pytestmark = pytest.mark.anyio


class FakeWriter:
    """A direct writer (ws_protocol.DirectWriter) that records each write."""

    def __init__(self) -> None:
        self.writes: list[list[str]] = []
        self.wrote = asyncio.Event()
        self.paused = False
        self.resume: Callable[[], None] | None = None

    def write_texts(self, texts: Sequence[str]) -> bool:
        self.writes.append(list(texts))
        self.wrote.set()
        return not self.paused

    def on_resume(self, callback: Callable[[], None] | None) -> None:
        self.resume = callback


class Peer:
    """The ASGI side of one connection: what the client sends, and the close it gets."""

    def __init__(self, writer: FakeWriter) -> None:
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[MutableMapping[str, Any]] = []
        self.got_close = asyncio.Event()
        scope = {"type": "websocket", "path": "/ws", "headers": [], "extensions": {WRITER: writer}}
        self.websocket = WebSocket(scope, self.receive, self.send)
        # Accepted already (the door's accept is not what these tests look at).
        self.websocket.client_state = self.websocket.application_state = WebSocketState.CONNECTED

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def send(self, message: MutableMapping[str, Any]) -> None:
        self.sent.append(message)
        if message["type"] == "websocket.close":
            self.got_close.set()

    def say(self, frame: dict[str, Any]) -> None:
        self.incoming.put_nowait({"type": "websocket.receive", "text": json.dumps(frame)})


@contextlib.asynccontextmanager
async def open_link(limits: Limits) -> AsyncIterator[tuple[WebSocketLink, FakeWriter, Peer]]:
    runtime = ServerRuntime(ServerConfig(conformance=True, limits=limits, close_timeout_s=5.0))
    runtime.ensure_started()
    writer = FakeWriter()
    peer = Peer(writer)
    link = WebSocketLink(runtime, peer.websocket)
    task = asyncio.create_task(link.run())
    try:
        peer.say({"type": "hello", "version": 1})
        async with asyncio.timeout(TIMEOUT):
            await writer.wrote.wait()  # the welcome, written on a later loop pass
        assert json.loads(writer.writes[0][0])["type"] == "welcome"
        yield link, writer, peer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await runtime.aclose(announce=False)


def _event(seq: int) -> str:
    return json.dumps({"type": "event", "seq": seq, "channel": "conformance.f", "data": {}})


async def test_a_burst_of_events_leaves_in_one_write_per_loop_pass() -> None:
    async with open_link(Limits()) as (link, writer, _):
        before = len(writer.writes)
        for seq in range(1, 51):
            link.send_event("conformance.f", seq, _event(seq))
        assert len(writer.writes) == before  # fan-out never writes: it marks the link
        await asyncio.sleep(0)  # one loop pass (a yield, not a wait on time)
        assert writer.writes[before:] == [[_event(seq) for seq in range(1, 51)]]


async def test_a_paused_socket_keeps_frames_in_the_bounded_queue_then_4503_limit_4() -> None:
    limits = Limits(outbound_queue=8)
    async with open_link(limits) as (link, writer, peer):
        writer.paused = True
        link.send_event("conformance.f", 1, _event(1))
        await asyncio.sleep(0)
        written = len(writer.writes)
        assert writer.resume is not None  # waiting for the socket to drain
        for seq in range(2, 9):
            link.send_event("conformance.f", seq, _event(seq))
        await asyncio.sleep(0)
        assert len(writer.writes) == written  # nothing more while paused
        assert not link.conn.closed
        link.send_event("conformance.f", 9, _event(9))  # the queue's 8th and 9th entries
        link.send_event("conformance.f", 10, _event(10))
        assert link.conn.close_code == CloseCode.SLOW_CONSUMER
        async with asyncio.timeout(TIMEOUT):
            await peer.got_close.wait()
        assert peer.sent[-1]["type"] == "websocket.close"
        assert peer.sent[-1]["code"] == CloseCode.SLOW_CONSUMER
        assert len(writer.writes) == written  # [LIMIT-4] nothing more for it


async def test_a_drained_socket_gets_what_waited_in_one_write() -> None:
    async with open_link(Limits()) as (link, writer, _):
        writer.paused = True
        link.send_event("conformance.f", 1, _event(1))
        await asyncio.sleep(0)
        written = len(writer.writes)
        for seq in range(2, 6):
            link.send_event("conformance.f", seq, _event(seq))
        await asyncio.sleep(0)
        assert len(writer.writes) == written
        writer.paused = False
        resume = writer.resume
        assert resume is not None
        resume()
        await asyncio.sleep(0)
        assert writer.writes[written:] == [[_event(seq) for seq in range(2, 6)]]
