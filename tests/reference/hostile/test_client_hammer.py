"""A client that never hammers ([#10] finding 5): hostile servers against the reference client.

Each server is a small scripted websockets server on 127.0.0.1, port 0
(tests/reference/client/scripted.py): the test writes every frame. Nothing sleeps to
synchronise; attempts are counted at the server and the backoff's attempt numbers read from the
client (``Client.backoff``), with a random source that makes every delay 0 so a client that
hammers does it at once. Each wait is bounded only to stop a broken client from hanging the run.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from canaux.client import Client, ClientState, ConnectionClosedByServer, ServerBrokeProtocol
from tests.reference.client.scripted import (
    ScriptedConnection,
    scripted_server,
    welcome_frame,
)
from tests.reference.client.support import Zero

pytestmark = pytest.mark.anyio

SESSION = "sessionHHHHHHHHHHHHHHHHH"
GUARD = 20.0
"""Seconds: only a client that hangs ever reaches it."""


class Counting:
    """A random source that makes every delay 0 and counts the draws (one per reconnection)."""

    def __init__(self) -> None:
        self.draws = 0

    def random(self) -> float:
        self.draws += 1
        return 0.0


def stopped(client: Client) -> asyncio.Event:
    """An event set when the client reaches CLOSED (it stopped reconnecting)."""
    event = asyncio.Event()

    def seen(state: ClientState) -> None:
        if state is ClientState.CLOSED:
            event.set()

    client.on_state(seen)
    return event


async def welcome(conn: ScriptedConnection, **options: Any) -> dict[str, Any]:
    hello = await conn.recv()
    assert hello["type"] == "hello"
    await conn.send(welcome_frame(SESSION, **options))
    return hello


async def server_close_code(conn: ScriptedConnection) -> int | None:
    async with asyncio.timeout(GUARD):
        await conn.ws.wait_closed()
    return conn.ws.close_code


class TestTheClientsOwnNoCloseStopsIt:
    """[CLIENT-4] "whoever sent the close": after its own 1003/1007/1009 the client stops."""

    @pytest.mark.parametrize(
        ("frame", "code"),
        [
            pytest.param(b"\x00binary", 1003, id="binary-1003"),
            pytest.param("not json at all", 1007, id="garbage-1007"),
            pytest.param('{"type": "ping", "nonce": "\\ud800"}', 1007, id="lone-surrogate-1007"),
            pytest.param('["an", "array"]', 1007, id="not-an-object-1007"),
            pytest.param(json.dumps({"type": "ping", "nonce": "x" * 4096}), 1009, id="big-1009"),
        ],
    )
    async def test_one_connection_then_stopped(self, frame: str | bytes, code: int) -> None:
        async with scripted_server() as server:
            rng = Counting()
            client = Client(server.url, rng=rng, max_size=1024)
            closed = stopped(client)
            connecting = asyncio.ensure_future(client.connect())
            conn = await server.next_connection()
            await welcome(conn)
            await asyncio.wait_for(connecting, GUARD)
            await conn.ws.send(frame)
            assert await server_close_code(conn) == code
            async with asyncio.timeout(GUARD):
                await closed.wait()
            # Today's client came back 10-12 times in 6 s: here, not once, and no delay drawn.
            assert server.connections.empty()
            assert rng.draws == 0
            assert client.connections_opened == 1
            with pytest.raises(ServerBrokeProtocol) as refused:
                await client.connect()
            assert refused.value.code == code
            assert isinstance(refused.value, ConnectionClosedByServer)
            await client.close()


async def test_a_server_that_welcomes_then_fails_meets_growing_backoff() -> None:
    """[CLIENT-11] a welcome followed at once by 1011 is a failed attempt: 0, 1, 2, 3, ...

    Today's client reset its counter at every welcome (46 connections in 15 s).
    """
    async with scripted_server() as server:
        rng = Counting()
        client = Client(server.url, rng=rng)
        connecting = asyncio.ensure_future(client.connect())
        attempts: list[int] = []
        draws: list[int] = []
        for _ in range(6):
            conn = await server.next_connection()
            # The client waits for this welcome: its attempt number cannot move meanwhile.
            attempts.append(client.backoff.attempt)
            draws.append(rng.draws)
            await welcome(conn)
            await conn.close(1011, "failing right after welcome")
        assert attempts == [0, 1, 2, 3, 4, 5]
        assert draws == [0, 1, 2, 3, 4, 5]  # one delay drawn before each reconnection
        await client.close()
        connecting.cancel()


async def test_a_connection_that_proved_healthy_sets_the_attempt_number_back_to_0() -> None:
    """[CLIENT-11] still open heartbeat_ms after its welcome: the next delay is attempt 0 again.

    The client's own keep-alive pings (one per half interval of silence, HEARTBEAT-3) tell the
    server when that time has passed: the third comes at least 1.5 intervals after the welcome.
    """
    async with scripted_server() as server:
        client = Client(server.url, rng=Zero())
        connecting = asyncio.ensure_future(client.connect())
        first = await server.next_connection()
        await welcome(first)
        await asyncio.wait_for(connecting, GUARD)
        await first.close(1011, "failing right after welcome")
        second = await server.next_connection()
        assert client.backoff.attempt == 1
        await welcome(second, heartbeat_ms=1000)
        pings = 0
        async with asyncio.timeout(GUARD):
            while pings < 3:
                frame = json.loads(await second.ws.recv())
                if frame["type"] == "ping":
                    pings += 1
                    await second.send({"type": "pong", "nonce": frame["nonce"]})
        assert client.backoff.healthy(asyncio.get_running_loop().time())
        await second.close(1001, "restarting")
        await server.next_connection()
        # Back to 0 after the healthy connection, then one delay drawn for this attempt.
        assert client.backoff.attempt == 1
        await client.close()


async def flood(conn: ScriptedConnection, *, first: int = 1, count: int | None = None) -> None:
    """Send events seq first, first + 1, ... (forever when count is None) until the socket ends."""
    seq = first
    try:
        while count is None or seq < first + count:
            await conn.send(
                {"type": "event", "seq": seq, "channel": "conformance.f", "data": {"n": seq}}
            )
            seq += 1
            # A send that fits the socket buffer does not yield: let the client in the same
            # loop run (fairness of this fake server, not a synchronisation).
            await asyncio.sleep(0)
    except Exception:
        return


async def test_close_returns_with_a_stuck_handler_and_an_endless_replay() -> None:
    """[CLIENT-13] close() is bounded: today it waited for every queued event (> 10 s, forever)."""
    async with scripted_server() as server:
        client = Client(server.url, rng=Zero(), close_timeout=0.5, handler_queue_limit=8)
        entered = asyncio.Event()
        never = asyncio.Event()

        async def stuck(data: Any) -> None:
            entered.set()
            await never.wait()

        client.register_handler("conformance.f", stuck)
        connecting = asyncio.ensure_future(client.connect())
        conn = await server.next_connection()
        await welcome(conn)
        await asyncio.wait_for(connecting, GUARD)
        replay = asyncio.ensure_future(flood(conn))
        try:
            async with asyncio.timeout(GUARD):
                await entered.wait()
            async with asyncio.timeout(GUARD):
                await client.close()
            assert client.state is ClientState.CLOSED
        finally:
            replay.cancel()


async def test_a_stuck_handler_stops_the_client_reading_the_socket() -> None:
    """[CLIENT-12] the handler queue is bounded and pushes back onto the socket, losing nothing.

    The server sends 64 events then a ping. With handlers stuck and a queue of 4, the client
    takes at most 4 queued + 1 running + 1 waiting events and stops reading: the pong cannot
    come before it pauses. Today's client read every frame into an unbounded queue and ponged.
    """
    async with scripted_server() as server:
        limit = 4
        client = Client(server.url, rng=Zero(), handler_queue_limit=limit)
        release = asyncio.Event()
        seen: list[int] = []
        ahead: list[int] = []
        all_seen = asyncio.Event()

        async def slow(data: Any) -> None:
            ahead.append(client.last_seq - data["n"])
            await release.wait()
            seen.append(data["n"])
            if len(seen) == 64:
                all_seen.set()

        client.register_handler("conformance.f", slow)
        connecting = asyncio.ensure_future(client.connect())
        conn = await server.next_connection()
        await welcome(conn)
        await asyncio.wait_for(connecting, GUARD)
        subscribe = await conn.recv_type("subscribe")
        await conn.send({"type": "ack", "id": subscribe["id"]})
        await flood(conn, count=64)
        await conn.send({"type": "ping", "nonce": "after-64"})

        async def pong() -> str:
            while True:
                frame = json.loads(await conn.ws.recv())
                if frame["type"] == "pong":
                    return str(frame["nonce"])

        dispatcher = client._dispatcher  # the client's handler queue (internal)
        assert dispatcher is not None
        ponged = asyncio.ensure_future(pong())
        paused = asyncio.ensure_future(dispatcher.paused.wait())
        async with asyncio.timeout(GUARD):
            done, _ = await asyncio.wait({ponged, paused}, return_when=asyncio.FIRST_COMPLETED)
        assert paused in done
        assert ponged not in done
        assert client.last_seq <= limit + 2
        release.set()
        async with asyncio.timeout(GUARD):
            assert await ponged == "after-64"
            await all_seen.wait()
        assert seen == list(range(1, 65))
        assert max(ahead) <= limit + 1
        await client.close()
