"""Raw-frame helpers for the server tests: websockets clients, bounded receives, bystanders."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import select
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from canaux.protocol.limits import Limits
from canaux.server import ServerConfig
from canaux.server.testing import RunningServer

__all__ = [
    "PUBLISH_TOKEN",
    "SUBPROTOCOLS",
    "TIMEOUT",
    "Bystander",
    "SSEReader",
    "close_code",
    "http_publish",
    "make_config",
    "open_ws",
    "recv",
    "recv_until",
    "request",
    "reset_within",
    "send",
    "session",
    "stream",
]

TIMEOUT = 10.0
"""Generous bound of every wait: the test machine is shared and slow."""

SUBPROTOCOLS: list[Any] = ["canaux.v1"]
PUBLISH_TOKEN = "test-publish-token"


def make_config(**limits: int) -> ServerConfig:
    """The configuration most tests use: conformance on, a publish token, given limits."""
    return ServerConfig(
        conformance=True,
        publish_token=PUBLISH_TOKEN,
        limits=Limits(**limits),
        close_timeout_s=5.0,
        log_level="warning",
    )


@contextlib.asynccontextmanager
async def open_ws(
    server: RunningServer, path: str = "/ws", *, subprotocols: list[Any] | None = None, **kw: Any
) -> AsyncIterator[ClientConnection]:
    protocols = SUBPROTOCOLS if subprotocols is None else subprotocols
    async with asyncio.timeout(TIMEOUT):
        ws = await connect(
            server.ws_base + path, subprotocols=protocols or None, open_timeout=TIMEOUT, **kw
        )
    try:
        yield ws
    finally:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(TIMEOUT):
                await ws.close()


async def send(ws: ClientConnection, frame: Any) -> None:
    await ws.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))


async def recv(ws: ClientConnection, timeout_s: float = TIMEOUT) -> dict[str, Any]:
    async with asyncio.timeout(timeout_s):
        text = await ws.recv()
    frame = json.loads(text)
    assert isinstance(frame, dict)
    return frame


async def recv_until(
    ws: ClientConnection, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = TIMEOUT
) -> list[dict[str, Any]]:
    """Frames up to and including the first that matches ``predicate`` (server pings skipped)."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout_s):
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("type") == "ping":
                await send(ws, {"type": "pong", "nonce": frame.get("nonce")})
                continue
            seen.append(frame)
            if predicate(frame):
                return seen


async def request(ws: ClientConnection, frame: dict[str, Any]) -> dict[str, Any]:
    """Send a frame with an id and return its ack or error."""
    await send(ws, frame)
    frames = await recv_until(
        ws, lambda f: f.get("type") in ("ack", "error") and f.get("id") == frame["id"]
    )
    return frames[-1]


async def close_code(ws: ClientConnection, timeout_s: float = TIMEOUT) -> int | None:
    """Read until the server closes; return the close code it sent."""
    async with asyncio.timeout(timeout_s):
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.recv()
    return ws.close_code


@contextlib.asynccontextmanager
async def session(
    server: RunningServer, *, connect_options: dict[str, Any] | None = None, **hello: Any
) -> AsyncIterator[tuple[ClientConnection, dict[str, Any]]]:
    """An open connection that has said hello (``hello`` members added to the frame);
    yields it and the welcome. ``connect_options`` go to websockets' ``connect``."""
    async with open_ws(server, **(connect_options or {})) as ws:
        await send(ws, {"type": "hello", "version": 1, **hello})
        welcome = await recv(ws)
        assert welcome["type"] == "welcome", welcome
        yield ws, welcome


async def http_publish(server: RunningServer, channel: str, data: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        return await client.post(
            server.base_url + "/publish",
            json={"channel": channel, "data": data},
            headers={"Authorization": f"Bearer {PUBLISH_TOKEN}"},
        )


class Bystander:
    """Another session, subscribed to a channel: it must keep receiving, whatever others do."""

    def __init__(self, server: RunningServer, ws: ClientConnection) -> None:
        self.server = server
        self.ws = ws
        self.channel = "conformance.bystander"
        self.last_seq = 0

    @classmethod
    @contextlib.asynccontextmanager
    async def watching(cls, server: RunningServer) -> AsyncIterator[Bystander]:
        async with session(server) as (ws, _welcome):
            bystander = cls(server, ws)
            reply = await request(
                ws, {"type": "subscribe", "id": "watch", "channel": bystander.channel}
            )
            assert reply["type"] == "ack"
            yield bystander

    async def check(self) -> None:
        """An event published now reaches the bystander, with the next seq [SECURITY-4]."""
        mark = secrets.token_hex(4)
        response = await http_publish(self.server, self.channel, {"mark": mark})
        assert response.status_code == 202, response.text
        frames = await recv_until(
            self.ws, lambda f: f.get("type") == "event" and f["data"].get("mark") == mark
        )
        events = [f for f in frames if f.get("type") == "event"]
        assert [e["seq"] for e in events] == list(
            range(self.last_seq + 1, self.last_seq + 1 + len(events))
        )
        self.last_seq = events[-1]["seq"]


class SSEReader:
    """Parses a text/event-stream into messages and comments, one bounded read at a time."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self) -> dict[str, Any]:
        """The next message (``{"event", "id", "data"}``) or comment (``{"comment": …}``)."""
        message: dict[str, Any] = {}
        async with asyncio.timeout(TIMEOUT):
            async for line in self._lines:
                if line == "":
                    if message:
                        return message
                    continue
                if line.startswith(":"):
                    return {"comment": line[1:].strip()}
                field, _, value = line.partition(":")
                message[field] = value[1:] if value.startswith(" ") else value
        raise EOFError("stream ended")

    async def next_message(self) -> dict[str, Any]:
        while "comment" in (message := await self.next()):
            pass
        return message


@contextlib.asynccontextmanager
async def stream(
    server: RunningServer, query: str, headers: dict[str, str] | None = None
) -> AsyncIterator[SSEReader]:
    async with (
        httpx.AsyncClient(timeout=TIMEOUT) as client,
        client.stream("GET", f"{server.events_url}?{query}", headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        yield SSEReader(response)


async def reset_within(ws: ClientConnection, timeout_s: float) -> bool:
    """Whether the server resets or ends ``ws``'s TCP connection within ``timeout_s``, the
    client reading nothing meanwhile (one bounded poll of its socket, in a thread)."""
    sock = ws.transport.get_extra_info("socket")
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLERR | select.POLLHUP | select.POLLRDHUP)
    return bool(await asyncio.to_thread(poller.poll, int(timeout_s * 1000)))
