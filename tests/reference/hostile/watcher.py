"""A watcher session for the hostile tests: it must notice nothing of what others do [SECURITY-4].

It is subscribed to its own channel, reads every frame as it comes (answering the heartbeat),
and checks that the events published in-process (no new connection is needed to publish, so a
full server can still be tested) all reach it, in order, with consecutive ``seq``, and that its
connection stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from canaux.server.testing import RunningServer
from tests.reference.server.wire import TIMEOUT, request, send, session

__all__ = ["Watcher"]

CHANNEL = "conformance.watcher"


class Watcher:
    """One established session reading in the background."""

    def __init__(self, server: RunningServer, ws: ClientConnection) -> None:
        self.server = server
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self.published: list[str] = []
        self.closed: int | None = None
        self._arrived = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def watching(cls, server: RunningServer) -> AsyncIterator[Watcher]:
        async with session(server) as (ws, _welcome):
            reply = await request(ws, {"type": "subscribe", "id": "watch", "channel": CHANNEL})
            assert reply["type"] == "ack", reply
            watcher = cls(server, ws)
            watcher._reader = asyncio.create_task(watcher._read())
            try:
                yield watcher
            finally:
                watcher._reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher._reader

    async def _read(self) -> None:
        try:
            while True:
                frame = json.loads(await self.ws.recv())
                if frame.get("type") == "ping":
                    await send(self.ws, {"type": "pong", "nonce": frame.get("nonce")})
                elif frame.get("type") == "event":
                    self.events.append(frame)
                    self._arrived.set()
        except ConnectionClosed:
            self.closed = self.ws.close_code
            self._arrived.set()

    async def publish(self) -> None:
        """Publish one event to the watcher, in-process."""
        mark = secrets.token_hex(4)
        self.published.append(mark)
        await self.server.runtime.publish(CHANNEL, {"mark": mark})

    async def check(self) -> None:
        """Everything published so far arrived, in order, with seq 1, 2, 3 … and no close."""
        await self.publish()
        async with asyncio.timeout(TIMEOUT):
            while len(self.events) < len(self.published) and self.closed is None:
                self._arrived.clear()
                await self._arrived.wait()
        assert self.closed is None, f"the watcher was closed with {self.closed}"
        assert [e["data"]["mark"] for e in self.events] == self.published
        assert [e["seq"] for e in self.events] == list(range(1, len(self.events) + 1))
