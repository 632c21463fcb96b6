"""Tests of canaux_conformance.proxy.FaultProxy over real loopback sockets."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from canaux_conformance.proxy import FaultProxy


@dataclass
class Upstream:
    """A TCP server that echoes each chunk upper-cased and records how each connection ended."""

    port: int = 0
    endings: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk.upper())
                await writer.drain()
            await self.endings.put("eof")
        except ConnectionResetError:
            await self.endings.put("reset")


@asynccontextmanager
async def upstream_and_proxy() -> AsyncIterator[tuple[Upstream, FaultProxy]]:
    upstream = Upstream()
    server = await asyncio.start_server(upstream.handle, "127.0.0.1", 0)
    upstream.port = server.sockets[0].getsockname()[1]
    try:
        async with FaultProxy("127.0.0.1", upstream.port, timeout=5) as proxy:
            yield upstream, proxy
    finally:
        for writer in upstream.writers:
            writer.transport.abort()
        server.close()


def run(coro: Awaitable[None]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(20):
            await coro

    asyncio.run(bounded())


async def _drain(reader: asyncio.StreamReader) -> None:
    while await reader.read(1024):
        pass


async def dial(proxy: FaultProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(proxy.host, proxy.port)


def test_forwards_both_ways() -> None:
    async def main() -> None:
        async with upstream_and_proxy() as (_, proxy):
            reader, writer = await dial(proxy)
            writer.write(b"hello")
            assert await reader.readexactly(5) == b"HELLO"
            await proxy.wait_connections(1)
            assert proxy.accepted == 1
            writer.close()

    run(main())


def test_cut_resets_both_sides_without_a_clean_close() -> None:
    async def main() -> None:
        async with upstream_and_proxy() as (upstream, proxy):
            reader, writer = await dial(proxy)
            writer.write(b"x")
            await reader.readexactly(1)
            proxy.cut()
            assert await asyncio.wait_for(upstream.endings.get(), 5) == "reset"
            # The client side was reset too: a read fails rather than returning EOF.
            with pytest.raises(ConnectionResetError):
                await _drain(reader)
            # The proxy still accepts new connections after a cut.
            reader2, writer2 = await dial(proxy)
            writer2.write(b"again")
            assert await reader2.readexactly(5) == b"AGAIN"
            writer2.close()

    run(main())


def test_stall_holds_bytes_until_resume() -> None:
    async def main() -> None:
        async with upstream_and_proxy() as (_, proxy):
            reader, writer = await dial(proxy)
            writer.write(b"a")
            assert await reader.readexactly(1) == b"A"
            proxy.stall()
            assert proxy.stalled
            writer.write(b"bc")
            # Negative observation: nothing may come through while stalled.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(reader.readexactly(2), 0.3)
            proxy.resume()
            assert await asyncio.wait_for(reader.readexactly(2), 5) == b"BC"
            writer.close()

    run(main())


def test_half_close_sends_fin_to_the_server_only() -> None:
    async def main() -> None:
        async with upstream_and_proxy() as (upstream, proxy):
            reader, writer = await dial(proxy)
            writer.write(b"q")
            await reader.readexactly(1)
            proxy.half_close()
            assert await asyncio.wait_for(upstream.endings.get(), 5) == "eof"
            # The server → client direction still works after the half-close.
            upstream.writers[0].write(b"late")
            assert await asyncio.wait_for(reader.readexactly(4), 5) == b"late"
            writer.close()

    run(main())


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def test_a_reset_by_the_server_resets_the_client_too() -> None:
    """An abrupt end the proxy did not make reaches the client as one, never an open socket."""

    async def main() -> None:
        async with upstream_and_proxy() as (upstream, proxy):
            reader, writer = await dial(proxy)
            writer.write(b"r")
            await reader.readexactly(1)
            _reset(upstream.writers[0])
            with pytest.raises(ConnectionResetError):
                await _drain(reader)
            writer.close()

    run(main())


def test_stall_toward_client_holds_the_server_bytes_only_and_sees_a_reset() -> None:
    async def main() -> None:
        async with upstream_and_proxy() as (upstream, proxy):
            reader, writer = await dial(proxy)
            writer.write(b"a")
            assert await reader.readexactly(1) == b"A"
            proxy.stall_toward_client()
            writer.write(b"bc")
            # Negative observation: the echo may not come through while held back.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(reader.readexactly(2), 0.3)
            proxy.resume()
            assert await asyncio.wait_for(reader.readexactly(2), 5) == b"BC"
            # Held back again, the server resets: the proxy records it; the client's next
            # bytes find the reset, which reaches the client.
            proxy.stall_toward_client()
            assert proxy.server_end_seen is None
            _reset(upstream.writers[0])
            writer.write(b"d")
            with pytest.raises(ConnectionResetError):
                await _drain(reader)
            assert proxy.server_end_seen is not None
            proxy.resume()
            writer.close()

    run(main())


def test_url_rewrites_host_and_port_only() -> None:
    proxy = FaultProxy("example.test", 8001)
    proxy.port = 4242
    assert proxy.url("ws://example.test:8001/canaux/ws?x=1") == "ws://127.0.0.1:4242/canaux/ws?x=1"
    assert FaultProxy.for_url("ws://h.test/ws").upstream_port == 80
