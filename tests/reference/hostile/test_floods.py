"""Floods at the door (#10 finding 3): bounded connections and handshakes, slowloris cut, and a
watcher session that notices none of it [SECURITY-4, SECURITY-12, SECURITY-13].

Every socket is real (127.0.0.1, port 0); every wait is bounded; no test measures time: the
watcher asserts what it receives (every event, in order, consecutive seq, no close). The
flood's latency figures are the benchmark's (``python -m benchmarks.run --flood``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from canaux.cli import build_parser
from canaux.commands.serve import config_from_args
from canaux.server import ServerConfig, run, testing
from canaux.server.admission import ADMIT_PER_PASS, Admission
from canaux.server.testing import RunningServer, running_server
from tests.reference.server.wire import (
    PUBLISH_TOKEN,
    TIMEOUT,
    make_config,
    open_ws,
    recv,
    send,
)

from .watcher import Watcher

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["httptools", "h11"])
def http(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each HTTP implementation uvicorn may pick ("auto" is httptools when installed)."""
    implementation = str(request.param)
    serve_with = functools.partial(run.uvicorn_config, http=implementation)
    monkeypatch.setattr(testing, "uvicorn_config", serve_with)
    return implementation


def bounded(**fields: object) -> ServerConfig:
    return dataclasses.replace(make_config(), **fields)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def raw(
    server: RunningServer,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    async with asyncio.timeout(TIMEOUT):
        reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def answer(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes (bounded)."""
    async with asyncio.timeout(TIMEOUT):
        return await reader.read()


def head(server: RunningServer, path: str = "/ws") -> bytes:
    """The start of a request head that never ends (a slowloris)."""
    return f"GET {path} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n".encode()


async def welcomed_or_refused(server: RunningServer) -> int:
    """One connection attempt: 101 and welcome (returns 101) or the HTTP status it got."""
    try:
        async with open_ws(server) as ws:
            await send(ws, {"type": "hello", "version": 1})
            assert (await recv(ws))["type"] == "welcome"
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


async def admitted_again(server: RunningServer) -> None:
    """Once a connection has gone, a new one is admitted (bounded: the server notices the close
    on its own loop, so a few attempts may still find it full)."""
    for _ in range(200):
        if await welcomed_or_refused(server) == 101:
            return
    raise AssertionError("no connection admitted after one closed")


class TestOpenConnections:
    async def test_a_connection_over_the_bound_gets_503_on_every_door(self, http: str) -> None:
        """SECURITY-12: WebSocket, legacy, SSE and HTTP publish all count and are refused."""
        async with running_server(bounded(max_connections=3)) as server:
            async with Watcher.watching(server) as watcher, open_ws(server), open_ws(server):
                for path in ("/ws", "/ws/chat", "/api/ws"):
                    with pytest.raises(InvalidStatus) as refused:
                        async with open_ws(server, path):
                            pass
                    assert refused.value.response.status_code == 503
                    assert refused.value.response.headers["retry-after"] == "1"
                async with httpx.AsyncClient(timeout=TIMEOUT) as client:
                    sse = await client.get(server.events_url + "?channels=system")
                    publish = await client.post(server.base_url + "/publish", json={})
                assert (sse.status_code, publish.status_code) == (503, 503)
                await watcher.check()
            await admitted_again(server)

    async def test_a_refused_connection_creates_no_session(self) -> None:
        """SECURITY-12: no welcome, no session for a connection over the bound."""
        async with (
            running_server(bounded(max_connections=1)) as server,
            Watcher.watching(server) as watcher,
        ):
            before = len(server.runtime.registry)
            assert await welcomed_or_refused(server) == 503
            assert len(server.runtime.registry) == before
            await watcher.check()


class TestHandshakes:
    async def test_a_connection_over_the_handshake_bound_gets_503(self, http: str) -> None:
        """SECURITY-12: sockets still sending their request head hold the handshake slots."""
        async with (
            running_server(bounded(max_handshakes=3)) as server,
            Watcher.watching(server) as watcher,
        ):
            async with contextlib.AsyncExitStack() as stack:
                for _ in range(3):
                    _, writer = await stack.enter_async_context(raw(server))
                    writer.write(head(server))
                    await writer.drain()
                assert await welcomed_or_refused(server) == 503
                await watcher.check()
            await admitted_again(server)
            await watcher.check()


class TestSlowloris:
    async def test_an_incomplete_request_head_is_answered_408_and_closed(self, http: str) -> None:
        """SECURITY-13: 100 slowloris sockets (and an idle one) are all cut; the watcher is not."""
        async with (
            running_server(bounded(handshake_timeout_s=1.0)) as server,
            Watcher.watching(server) as watcher,
            contextlib.AsyncExitStack() as stack,
        ):
            sockets = [await stack.enter_async_context(raw(server)) for _ in range(100)]
            for n, (_, writer) in enumerate(sockets[1:]):  # the first sends nothing at all
                writer.write(head(server, "/ws" if n % 2 else "/events"))
            answers = await asyncio.gather(*(answer(reader) for reader, _ in sockets))
            assert all(text.startswith(b"HTTP/1.1 408 ") for text in answers), answers[:3]
            await watcher.check()
            assert server.uvicorn.admission.handshaking == 0

    async def test_a_kept_alive_connection_has_the_same_deadline_for_its_next_request(
        self, http: str
    ) -> None:
        """SECURITY-13: a complete request, then a head that never ends."""
        async with running_server(bounded(handshake_timeout_s=1.0)) as server:
            async with raw(server) as (reader, writer):
                writer.write(
                    f"GET /health HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode()
                    + head(server, "/health")
                )
                text = await answer(reader)
            first, _, rest = text.partition(b"\r\n")
            assert first == b"HTTP/1.1 200 OK"
            assert b"HTTP/1.1 408 " in rest


class TestFlood:
    async def test_a_flood_of_connections_leaves_the_watcher_whole(self) -> None:
        """SECURITY-4: 300 connections at once, an event to the watcher after each: every
        attempt is welcomed or refused with 503 (never dropped), the watcher gets every
        event in order and stays open."""
        async with (
            running_server(bounded(max_handshakes=32)) as server,
            Watcher.watching(server) as watcher,
        ):

            async def attempt() -> int:
                status = await welcomed_or_refused(server)
                await watcher.publish()
                return status

            statuses = await asyncio.gather(*(attempt() for _ in range(300)))
            assert set(statuses) <= {101, 503}, sorted(set(statuses))
            assert 101 in statuses
            await watcher.check()
            assert len(watcher.events) == 301


class _Waiting:
    """A connection as :class:`Admission` sees it, recording when it got its turn."""

    def __init__(self, name: int, turns: list[int], gone: bool = False) -> None:
        self.name, self.turns, self.gone = name, turns, gone

    def resume(self) -> bool:
        if self.gone:
            return False
        self.turns.append(self.name)
        return True


class TestTurns:
    async def test_handshakes_beyond_the_turns_of_a_pass_wait_for_later_passes_in_order(
        self,
    ) -> None:
        """SECURITY-4: at most ADMIT_PER_PASS handshakes handle what they received per pass of
        the event loop; the others wait, first come first served, and a gone one takes no
        turn."""
        admission = Admission(max_connections=100, max_handshakes=100, handshake_timeout_s=10)
        loop = asyncio.get_running_loop()
        turns: list[int] = []
        gates = [
            _Waiting(n, turns, gone=n == ADMIT_PER_PASS + 1) for n in range(3 * ADMIT_PER_PASS)
        ]
        now = [n for n, gate in enumerate(gates) if admission.turn(gate, loop)]
        assert now == list(range(ADMIT_PER_PASS))
        assert admission.waited == 2 * ADMIT_PER_PASS
        passes: list[list[int]] = []
        for _ in range(4):  # bounded: each sleep(0) lets the loop run one more pass
            await asyncio.sleep(0)
            passes.append(turns[:])
            turns.clear()
        waiting = [n for n in range(ADMIT_PER_PASS, 3 * ADMIT_PER_PASS) if n != ADMIT_PER_PASS + 1]
        assert passes[0] == waiting[:ADMIT_PER_PASS]
        assert passes[1] == waiting[ADMIT_PER_PASS:]
        assert passes[2:] == [[], []]
        # The turns of a pass with nobody waiting are counted again from the next pass.
        assert all(admission.turn(_Waiting(n, turns), loop) for n in range(ADMIT_PER_PASS))
        assert not admission.turn(_Waiting(99, turns), loop)

    async def test_request_heads_arriving_together_are_all_upgraded(self, http: str) -> None:
        """SECURITY-4: 40 upgrade requests read in one pass: those beyond the pass's turns keep
        their bytes and are answered 101 in later passes; none is lost or refused."""
        count = 5 * ADMIT_PER_PASS
        async with (
            running_server(make_config()) as server,
            Watcher.watching(server) as watcher,
            contextlib.AsyncExitStack() as stack,
        ):
            sockets = [await stack.enter_async_context(raw(server)) for _ in range(count)]
            request = (
                f"GET /ws HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Protocol: canaux.v1\r\n\r\n"
            ).encode()
            for _, writer in sockets:  # all in one pass of this loop, no await in between
                writer.write(request)
            async with asyncio.timeout(TIMEOUT):
                heads = [await reader.readuntil(b"\r\n\r\n") for reader, _ in sockets]
            assert all(h.startswith(b"HTTP/1.1 101 ") for h in heads), heads[:3]
            assert server.uvicorn.admission.waited > 0
            assert server.uvicorn.admission.handshaking == 0
            await watcher.check()

    async def test_hellos_arriving_together_are_all_welcomed(self, http: str) -> None:
        """SECURITY-4: the first bytes after the 101 (hello) take a turn too: 40 hellos read
        in one pass are all welcomed, those beyond the pass's turns in later passes."""
        count = 5 * ADMIT_PER_PASS
        async with (
            running_server(make_config()) as server,
            Watcher.watching(server) as watcher,
            contextlib.AsyncExitStack() as stack,
        ):
            sockets = [await stack.enter_async_context(open_ws(server)) for _ in range(count)]
            before = server.uvicorn.admission.waited
            hello = json.dumps({"type": "hello", "version": 1})
            # Each send writes at once: all 40 are on the wire before the server's next pass.
            await asyncio.gather(*(ws.send(hello) for ws in sockets))
            frames = [await recv(ws) for ws in sockets]
            assert [f["type"] for f in frames] == ["welcome"] * count, frames[:3]
            assert server.uvicorn.admission.waited > before
            await watcher.check()


class TestFlags:
    def test_canaux_serve_flags_set_the_bounds(self) -> None:
        flags = [
            "--max-connections",
            "7",
            "--max-handshakes",
            "3",
            "--handshake-timeout-ms",
            "2500",
        ]
        args = build_parser().parse_args(["serve", *flags])
        config = config_from_args(args)
        assert (config.max_connections, config.max_handshakes) == (7, 3)
        assert config.handshake_timeout_s == 2.5

    @pytest.mark.parametrize(
        "flags",
        [
            ["--max-connections", "0"],
            ["--max-handshakes", "-1"],
            ["--handshake-timeout-ms", "0"],
            ["--handshake-timeout-ms", "30001"],  # SECURITY-13: at most 30 s
        ],
    )
    def test_a_bound_out_of_range_is_refused(self, flags: list[str]) -> None:
        with pytest.raises(ValueError, match=r"max_connections|max_handshakes|timeout"):
            config_from_args(build_parser().parse_args(["serve", *flags]))


class TestSlowBody:
    async def test_a_request_body_sent_slowly_is_answered_408_and_closed(self, http: str) -> None:
        """SECURITY-13: the body of POST /publish has the head's deadline; the watcher is fine."""
        async with (
            running_server(bounded(handshake_timeout_s=1.0)) as server,
            Watcher.watching(server) as watcher,
            raw(server) as (reader, writer),
        ):
            writer.write(
                f"POST /publish HTTP/1.1\r\nHost: {server.host}\r\n".encode()
                + f"Authorization: Bearer {PUBLISH_TOKEN}\r\n".encode()
                + b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
            )
            text = await answer(reader)
            assert text.startswith(b"HTTP/1.1 408 "), text
            await watcher.check()
