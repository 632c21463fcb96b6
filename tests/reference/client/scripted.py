"""A WebSocket server whose every frame the test writes: to make a server misbehave on cue.

The reference server is correct; these tests need one that closes with a chosen code,
skips a seq, or falls silent, so the client's reactions (CLIENT-1..4, HEARTBEAT-4) show.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

__all__ = ["ScriptedConnection", "ScriptedServer", "scripted_server", "welcome_frame"]


def welcome_frame(
    session: str, *, resumed: bool = False, seq: int = 0, heartbeat_ms: int = 15000
) -> dict[str, Any]:
    return {
        "type": "welcome",
        "version": 1,
        "session": session,
        "resumed": resumed,
        "seq": seq,
        "heartbeat_ms": heartbeat_ms,
        "limits": {
            "max_frame_bytes": 65536,
            "max_subscriptions": 64,
            "max_rate": 200,
            "resume_window_ms": 120000,
            "resume_buffer": 1024,
        },
        "channels": [
            {
                "name": "conformance.*",
                "publish": "client",
                "schema": "https://canaux.dev/schemas/v1/channels/conformance.json",
            }
        ],
    }


class ScriptedConnection:
    """One accepted socket, driven by the test."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.done = asyncio.Event()

    @property
    def subprotocol(self) -> str | None:
        return self.ws.subprotocol

    async def recv(self) -> dict[str, Any]:
        """The next frame, skipping the client's keep-alive pings (HEARTBEAT-3)."""
        async with asyncio.timeout(10):
            while True:
                frame = json.loads(await self.ws.recv())
                assert isinstance(frame, dict)
                if frame["type"] != "ping":
                    return frame

    async def recv_type(self, kind: str) -> dict[str, Any]:
        """The next frame of type ``kind``, skipping any other on the way."""
        while True:
            frame = await self.recv()
            if frame["type"] == kind:
                return frame

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def close(self, code: int, reason: str = "") -> None:
        await self.ws.close(code, reason)
        self.done.set()

    def abort(self) -> None:
        self.ws.transport.abort()
        self.done.set()


class ScriptedServer:
    def __init__(self) -> None:
        self.connections: asyncio.Queue[ScriptedConnection] = asyncio.Queue()
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def next_connection(self) -> ScriptedConnection:
        async with asyncio.timeout(15):
            return await self.connections.get()

    async def _handler(self, ws: ServerConnection) -> None:
        conn = ScriptedConnection(ws)
        await self.connections.put(conn)
        # Keep the socket open until the test is done with it or the client leaves.
        closed = asyncio.ensure_future(ws.wait_closed())
        done = asyncio.ensure_future(conn.done.wait())
        await asyncio.wait({closed, done}, return_when=asyncio.FIRST_COMPLETED)
        closed.cancel()
        done.cancel()


@asynccontextmanager
async def scripted_server() -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer()
    async with serve(
        server._handler,
        "127.0.0.1",
        0,
        subprotocols=[Subprotocol("canaux.v1")],
        ping_interval=None,
    ) as ws_server:
        server.port = next(iter(ws_server.sockets)).getsockname()[1]
        yield server
