"""A loopback TCP proxy that injects real network faults (spec resume.md, heartbeat.md, limits.md).

A polite WebSocket close is not a network failure. To test resume and heartbeat honestly the
suite puts :class:`FaultProxy` between a client and the server and then:

- :meth:`FaultProxy.cut` resets both TCP connections (RST, no WebSocket close frame);
- :meth:`FaultProxy.stall` stops forwarding in both directions without closing anything,
  :meth:`FaultProxy.resume` starts again (nothing is lost: bytes wait in the kernel buffers);
- :meth:`FaultProxy.half_close` shuts down the write side toward the server (FIN), the
  server → client direction keeps flowing;
- :meth:`FaultProxy.stall_toward_client` holds back the server's bytes only: a client that
  stops reading while it still sends.

An end the proxy did not cause is passed on as it came: an orderly EOF (FIN) from one side
becomes a FIN toward the other, and a reset (RST) from one side resets the other, so a client
behind the proxy sees a server's abrupt end as a client on the direct path would.

The proxy listens on 127.0.0.1 on a free port, holds at most one chunk per direction in
memory, caps the number of connections, and :meth:`FaultProxy.close` releases everything.
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import struct
from dataclasses import dataclass, field
from typing import Self
from urllib.parse import urlsplit, urlunsplit

__all__ = ["FaultProxy", "ProxiedConnection"]

_CHUNK = 65536


@dataclass
class ProxiedConnection:
    """One client connection and its upstream twin."""

    client_reader: asyncio.StreamReader
    client_writer: asyncio.StreamWriter
    server_reader: asyncio.StreamReader
    server_writer: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    half_closed: bool = False

    def reset(self) -> None:
        """Close both sockets with RST: SO_LINGER 0 then abort, so the peers see a reset."""
        for writer in (self.client_writer, self.server_writer):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        for task in self.tasks:
            task.cancel()


class FaultProxy:
    """A TCP relay in front of ``upstream_host:upstream_port`` with fault controls."""

    WATCH_PERIOD = 0.05
    """Seconds between two looks for a server's end while its bytes are held back."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        max_connections: int = 32,
        timeout: float = 5.0,
    ) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.max_connections = max_connections
        self.timeout = timeout
        self.host = "127.0.0.1"
        self.port = 0
        self.connections: list[ProxiedConnection] = []
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._to_client = asyncio.Event()
        self._to_client.set()
        self._watcher: asyncio.Task[None] | None = None
        self.server_end_seen: float | None = None
        """Loop time at which the server was first seen ending a connection while its bytes
        were held back (:meth:`stall_toward_client`); ``None``: not seen."""
        self._end_seen = asyncio.Event()
        self._changed = asyncio.Event()
        self._handlers: set[asyncio.Task[None]] = set()

    @classmethod
    def for_url(cls, url: str, **kwargs: int | float) -> Self:
        """A proxy in front of the host and port of a ws://, http:// … URL."""
        parts = urlsplit(url)
        default = 443 if parts.scheme in ("wss", "https") else 80
        if parts.hostname is None:
            raise ValueError(f"no host in {url!r}")
        return cls(parts.hostname, parts.port or default, **kwargs)  # type: ignore[arg-type]

    async def start(self) -> Self:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aenter__(self) -> Self:
        if self._server is None:
            await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def url(self, target_url: str) -> str:
        """``target_url`` with its host and port replaced by the proxy's."""
        parts = urlsplit(target_url)
        netloc = f"{self.host}:{self.port}"
        if parts.username:
            netloc = f"{parts.username}@{netloc}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    # ----------------------------------------------------------------- faults

    def cut(self) -> None:
        """Reset every current connection in both directions; new connections still work."""
        for conn in self.connections:
            conn.reset()
        self.connections.clear()
        self._notify()

    def stall(self) -> None:
        """Stop forwarding bytes in both directions, closing nothing."""
        self._flowing.clear()

    def stall_toward_client(self) -> None:
        """Stop forwarding bytes from the server only: a client that stops reading while it
        still sends (the server's writes back up into its outbound queue, LIMIT-4).

        Until :meth:`resume`, :attr:`server_end_seen` records when the proxy first saw the
        server end a connection whose bytes it holds back (sampled every
        :attr:`WATCH_PERIOD` seconds, or at the first write toward the server that fails).
        """
        self._to_client.clear()
        self.server_end_seen = None
        self._end_seen.clear()
        self._watcher = asyncio.create_task(self._watch_server_ends())

    def resume(self) -> None:
        """Forward again what waited during a stall."""
        self._flowing.set()
        self._to_client.set()

    def server_ended(self) -> bool:
        """Whether the server has ended one of the current connections (a reset, or a FIN
        that reached the proxy) and the proxy has not relayed that end yet."""
        flags = select.POLLHUP | select.POLLERR | getattr(select, "POLLRDHUP", 0)
        for conn in self.connections:
            sock = conn.server_writer.get_extra_info("socket")
            if sock is None or sock.fileno() < 0:
                return True
            poller = select.poll()
            poller.register(sock.fileno(), flags)
            if poller.poll(0):
                return True
        return False

    async def _watch_server_ends(self) -> None:
        # Sampling, not synchronisation: while the server's bytes are held back nothing reads
        # its sockets, so an end it makes shows only to a poll.
        loop = asyncio.get_running_loop()
        while not self._to_client.is_set():
            if self.server_end_seen is None and self.server_ended():
                self._saw_server_end(loop.time())
            try:
                async with asyncio.timeout(self.WATCH_PERIOD):
                    await self._to_client.wait()
            except TimeoutError:
                continue

    def _saw_server_end(self, when: float) -> None:
        self.server_end_seen = when
        self._end_seen.set()

    async def wait_server_end(self, timeout: float) -> float | None:
        """While the server's bytes are held back (:meth:`stall_toward_client`), wait at most
        ``timeout`` seconds for the server to end a connection; return
        :attr:`server_end_seen` (``None``: not seen by then)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, timeout)):
                await self._end_seen.wait()
        return self.server_end_seen

    @property
    def stalled(self) -> bool:
        return not self._flowing.is_set()

    def half_close(self) -> None:
        """Shut down the write side toward the server (TCP FIN); the server can still send."""
        for conn in self.connections:
            if not conn.half_closed and conn.server_writer.can_write_eof():
                conn.half_closed = True
                with contextlib.suppress(OSError):
                    conn.server_writer.write_eof()

    async def wait_connections(self, count: int, timeout: float | None = None) -> None:
        """Wait until at least ``count`` connections have been accepted in total."""
        async with asyncio.timeout(self.timeout if timeout is None else timeout):
            while self.accepted < count:
                self._changed.clear()
                if self.accepted >= count:
                    break
                await self._changed.wait()

    async def close(self) -> None:
        """Stop listening and reset whatever is still connected."""
        if self._server is not None:
            self._server.close()
        self.cut()
        self._flowing.set()
        self._to_client.set()
        if self._watcher is not None:
            await self._watcher
        # The cut ends every relay; the handlers then return by themselves. Cancelling them
        # instead would make asyncio's stream server log each cancellation as an error.
        if self._handlers:
            _, pending = await asyncio.wait(self._handlers, timeout=self.timeout)
            for task in pending:
                task.cancel()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.timeout):
                    await self._server.wait_closed()
            self._server = None

    # ----------------------------------------------------------------- relay

    def _notify(self) -> None:
        self._changed.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            if len(self.connections) >= self.max_connections:
                writer.transport.abort()
                return
            try:
                async with asyncio.timeout(self.timeout):
                    up_reader, up_writer = await asyncio.open_connection(
                        self.upstream_host, self.upstream_port
                    )
            except (OSError, TimeoutError):
                writer.transport.abort()
                return
            conn = ProxiedConnection(reader, writer, up_reader, up_writer)
            self.connections.append(conn)
            self.accepted += 1
            self._notify()
            conn.tasks = [
                asyncio.create_task(self._pump(conn, reader, up_writer, toward_server=True)),
                asyncio.create_task(self._pump(conn, up_reader, writer, toward_server=False)),
            ]
            await asyncio.gather(*conn.tasks, return_exceptions=True)
            if conn in self.connections:
                self.connections.remove(conn)
                for w in (writer, up_writer):
                    w.transport.abort()
        except asyncio.CancelledError:
            # Only close() cancels a handler (one stuck past its timeout): drop the connection.
            # The task belongs to asyncio's server, which logs a cancelled handler as an error.
            writer.transport.abort()
        finally:
            if task is not None:
                self._handlers.discard(task)

    async def _pump(
        self,
        conn: ProxiedConnection,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        *,
        toward_server: bool,
    ) -> None:
        try:
            while True:
                chunk = await source.read(_CHUNK)
                if not chunk:
                    # Orderly EOF from one side: pass the FIN on, keep the other direction.
                    if sink.can_write_eof() and not sink.is_closing():
                        with contextlib.suppress(OSError):
                            sink.write_eof()
                    return
                await self._flowing.wait()
                if not toward_server:
                    await self._to_client.wait()
                if toward_server and conn.half_closed:
                    continue  # the write side toward the server is shut: nothing more goes out
                sink.write(chunk)
                await sink.drain()
        except (ConnectionError, OSError):
            if not self._to_client.is_set() and self.server_end_seen is None:
                self._saw_server_end(asyncio.get_running_loop().time())
            # A reset from one side (or a write into one that was reset): reset the other
            # side too, as the direct path would have; never leave it open and silent.
            conn.reset()
            return
