"""A loopback TCP proxy the test controls, to cut a connection for real (no close frame).

Closing a WebSocket politely is not what networks do; :meth:`TcpProxy.cut` aborts both TCP
legs at once, so each peer only sees the connection vanish (design: "fault injection").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["TcpProxy", "tcp_proxy"]


class TcpProxy:
    """Forwards every connection accepted on 127.0.0.1:<port> to ``target_port``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self.accepted = 0
        """Connections accepted since the start."""
        self._pairs: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._accepting = asyncio.Event()
        self._accepting.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def url(self, path: str = "/ws") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def cut(self) -> int:
        """Abort every open connection on both sides; returns how many were cut."""
        pairs, self._pairs = self._pairs, []
        for client_writer, upstream_writer in pairs:
            client_writer.transport.abort()
            upstream_writer.transport.abort()
        return len(pairs)

    def hold(self) -> None:
        """Refuse new connections (they are closed at once) until :meth:`release`."""
        self._accepting.clear()

    def release(self) -> None:
        self._accepting.set()

    async def aclose(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if not self._accepting.is_set():
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._pairs.append((writer, up_writer))
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.ensure_future(self._pump(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            dst.transport.abort()


@asynccontextmanager
async def tcp_proxy(target_port: int, target_host: str = "127.0.0.1") -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(target_host, target_port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.aclose()
