"""A reference server in a subprocess of its own, so a test can read its resident memory.

The server listens on 127.0.0.1 port 0; its URL is taken from the line it prints once it
accepts connections. Everything waits with a bound; the process is killed on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect

from canaux_conformance.target import LISTENING_RE

__all__ = [
    "PUBLISH_TOKEN",
    "TIMEOUT",
    "ServerProcess",
    "connect_raw",
    "hello",
    "recv",
    "request",
    "serve",
]

TIMEOUT = 30.0
"""Bound of every single wait: the test machine is shared and can be slow."""

PUBLISH_TOKEN = "hostile-publish-token"


@dataclass(frozen=True)
class ServerProcess:
    """A running ``canaux serve``: its process id and where it listens."""

    pid: int
    ws_url: str
    base_url: str

    def rss_bytes(self) -> int:
        """Resident set size of the server process, from /proc (Linux)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS in /proc/<pid>/status")

    async def health(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            response = await client.get(self.base_url + "/health")
        body = response.json()
        assert isinstance(body, dict)
        return body


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


@contextlib.asynccontextmanager
async def serve(args: Sequence[str] = ()) -> AsyncIterator[ServerProcess]:
    """``canaux serve --conformance`` with the default limits (plus ``args``)."""
    env = dict(os.environ, CANAUX_PUBLISH_TOKEN=PUBLISH_TOKEN, PYTHONUNBUFFERED="1")
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "canaux", "serve", "--host", "127.0.0.1", "--port", "0"),
        *("--conformance", "--log-level", "warning", *args),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    assert process.stdout is not None
    drain: asyncio.Task[None] | None = None
    try:
        output: list[str] = []
        async with asyncio.timeout(TIMEOUT):
            while True:
                raw = await process.stdout.readline()
                assert raw, "the server exited before listening:\n" + "\n".join(output)
                line = raw.decode(errors="replace").rstrip()
                output.append(line)
                found = LISTENING_RE.search(line)
                if found:
                    break
        # Keep reading its output so that a chatty server never blocks on a full pipe.
        drain = asyncio.create_task(_drain(process.stdout))
        ws_url = found.group("url")
        parts = urlsplit(ws_url)
        yield ServerProcess(process.pid, ws_url, f"http://{parts.netloc}")
    finally:
        if process.returncode is None:
            process.kill()
        async with asyncio.timeout(TIMEOUT):
            await process.wait()
        if drain is not None:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain


async def connect_raw(
    server: ServerProcess, *, receive_buffer: int | None = None
) -> ClientConnection:
    """A WebSocket to the server; ``receive_buffer`` shrinks the kernel's receive buffer first
    (and the client then reads at most one frame ahead), for a reader that stops reading."""
    options: dict[str, Any] = {"subprotocols": ["canaux.v1"], "open_timeout": TIMEOUT}
    if receive_buffer is not None:
        parts = urlsplit(server.ws_url)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        assert parts.hostname is not None
        assert parts.port is not None
        async with asyncio.timeout(TIMEOUT):
            await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
        options.update(sock=sock, max_queue=1, compression=None)
    async with asyncio.timeout(TIMEOUT):
        return await connect(server.ws_url, **options)


async def recv(ws: ClientConnection) -> dict[str, Any]:
    """The next frame that is not a server ping (which is answered) [HEARTBEAT-2]."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            frame = json.loads(await ws.recv())
            assert isinstance(frame, dict)
            if frame.get("type") != "ping":
                return frame
            await ws.send(json.dumps({"type": "pong", "nonce": frame.get("nonce")}))


async def hello(ws: ClientConnection, **members: Any) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "hello", "version": 1, **members}))
    welcome = await recv(ws)
    assert welcome["type"] == "welcome", welcome
    return welcome


async def request(ws: ClientConnection, frame: dict[str, Any]) -> dict[str, Any]:
    """Send a frame with an id and return its ack or error (events in between are dropped:
    only for connections whose events the test does not check)."""
    await ws.send(json.dumps(frame))
    while True:
        reply = await recv(ws)
        if reply.get("type") in ("ack", "error") and reply.get("id") == frame["id"]:
            return reply
