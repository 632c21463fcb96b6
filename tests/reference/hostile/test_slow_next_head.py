"""A slowloris on a kept-alive connection: its next head, trickled, is still cut [SECURITY-13].

The next head's deadline counts from the end of the answer before it (spec/security.md): a
connection kept alive and idle is cut like one that trickles its head.

Found by the conformance case SLOWREQ-01 (#9): after a complete request and its answer, the
first byte of the next head disarmed the deadline (the admission took the request already
answered for the new one, complete), so a head sent a byte at a time was held for ever. A head
sent in the same packet as the request before it was cut (test_floods.py), which hid it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools

import pytest

from canaux.server import ServerConfig, run, testing
from canaux.server.testing import running_server
from tests.reference.server.wire import TIMEOUT, make_config

pytestmark = pytest.mark.anyio

DEADLINE_S = 1.0


@pytest.fixture(params=["httptools", "h11"])
def http(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each HTTP implementation uvicorn may pick ("auto" is httptools when installed)."""
    implementation = str(request.param)
    monkeypatch.setattr(
        testing, "uvicorn_config", functools.partial(run.uvicorn_config, http=implementation)
    )
    return implementation


def bounded() -> ServerConfig:
    return dataclasses.replace(make_config(), handshake_timeout_s=DEADLINE_S)


async def first_request_answered(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str
) -> None:
    """Send a complete ``GET /health`` and read its whole answer: the connection stays open."""
    writer.write(f"GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    async with asyncio.timeout(TIMEOUT):
        status = await reader.readuntil(b"\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
    assert status == b"HTTP/1.1 200 OK\r\n"
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    async with asyncio.timeout(TIMEOUT):
        await reader.readexactly(length)


async def test_a_next_head_sent_a_byte_at_a_time_is_answered_408_and_closed(http: str) -> None:
    async with running_server(bounded()) as server:
        async with asyncio.timeout(TIMEOUT):
            reader, writer = await asyncio.open_connection(server.host, server.port)
        try:
            await first_request_answered(reader, writer, server.host)
            # The next head, a byte at a time (each the pace of the slowloris, and the bound on
            # the wait for the server's answer), for up to five deadlines.
            slow = f"GET /health HTTP/1.1\r\nHost: {server.host}\r\nX-Slow: ".encode()
            answering = asyncio.create_task(reader.read())  # everything until the close
            for step in range(int(5 * DEADLINE_S / 0.1)):
                with contextlib.suppress(OSError):
                    writer.write(slow[step : step + 1] or b"a")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(answering), 0.1)
                    break
            answer = answering.result() if answering.done() else b""
            answering.cancel()
            assert answer.startswith(b"HTTP/1.1 408 "), answer
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def test_a_kept_alive_connection_left_idle_is_answered_408_and_closed(http: str) -> None:
    async with running_server(bounded()) as server:
        async with asyncio.timeout(TIMEOUT):
            reader, writer = await asyncio.open_connection(server.host, server.port)
        try:
            await first_request_answered(reader, writer, server.host)
            async with asyncio.timeout(TIMEOUT):
                answer = await reader.read()  # nothing more is sent: until the server closes
            assert answer.startswith(b"HTTP/1.1 408 "), answer
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
