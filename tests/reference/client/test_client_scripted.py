"""The asyncio Client against a scripted server: reconnection rules the real server can't show.

Each test writes the server's side frame by frame (tests/reference/client/scripted.py), so
close codes, seq gaps and silence happen exactly when the test wants (CLIENT-1..4, RESUME-5/6,
HEARTBEAT-4). Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from canaux.client import (
    Client,
    ClientClosed,
    ClientState,
    ConnectionClosedByServer,
    OutboxFull,
    PublishRejected,
)

from .scripted import ScriptedConnection, ScriptedServer, scripted_server, welcome_frame
from .support import Recorder, Zero

pytestmark = pytest.mark.anyio

SESSION_A = "sessionAAAAAAAAAAAAAAAAA"
SESSION_B = "sessionBBBBBBBBBBBBBBBBB"


def fast_client(server: ScriptedServer, **options: Any) -> Client:
    return Client(server.url, rng=Zero(), **options)


async def welcomed(
    server: ScriptedServer, session: str = SESSION_A, **welcome: Any
) -> tuple[ScriptedConnection, dict[str, Any]]:
    """Accept the next connection, read its hello, welcome it."""
    conn = await server.next_connection()
    hello = await conn.recv()
    await conn.send(welcome_frame(session, **welcome))
    return conn, hello


async def test_offers_canaux_v1_and_says_hello_first_transport_1_handshake_1() -> None:
    async with scripted_server() as server:
        client = fast_client(server, token="tok-1")
        client.register_handler("conformance.a", Recorder())
        connecting = asyncio.ensure_future(client.connect())
        conn, hello = await welcomed(server)
        await connecting
        assert conn.subprotocol == "canaux.v1"
        assert hello == {"type": "hello", "version": 1, "token": "tok-1"}
        subscribe = await conn.recv()
        assert subscribe["type"] == "subscribe"
        assert subscribe["channel"] == "conformance.a"
        await client.close()


async def test_close_code_marked_no_stops_the_client_client_4() -> None:
    async with scripted_server() as server:
        client = fast_client(server)
        connecting = asyncio.ensure_future(client.connect())
        conn = await server.next_connection()
        await conn.recv()
        await conn.close(4401, "unauthorized")
        with pytest.raises(ConnectionClosedByServer) as caught:
            await asyncio.wait_for(connecting, 10)
        assert caught.value.code == 4401
        assert client.state is ClientState.CLOSED
        # The run loop has ended: no further connection can ever be attempted.
        assert client.connections_opened == 1
        with pytest.raises(ConnectionClosedByServer):
            await client.send("conformance.a", {"mark": "m"})
        await client.close()


async def test_going_away_reconnects_and_resumes_with_last_seq_client_2_resume_1() -> None:
    async with scripted_server() as server:
        client = fast_client(server)
        states: list[ClientState] = []
        client.on_state(states.append)
        got = Recorder()
        client.register_handler("conformance.a", got)
        connecting = asyncio.ensure_future(client.connect())
        conn, _ = await welcomed(server)
        await connecting
        sub = await conn.recv_type("subscribe")
        await conn.send({"type": "ack", "id": sub["id"]})
        for seq in (1, 2):
            await conn.send({"type": "event", "seq": seq, "channel": "conformance.a", "data": seq})
        await got.wait_for(2)
        await conn.close(1001, "restarting")

        again = await server.next_connection()
        hello = await again.recv()
        assert hello["resume"] == {"session": SESSION_A, "seq": 2}
        await again.send(welcome_frame(SESSION_A, resumed=True, seq=3))
        await again.send({"type": "event", "seq": 3, "channel": "conformance.a", "data": 3})
        assert await got.wait_for(3) == [1, 2, 3]
        await client.close()
        assert states == [
            ClientState.CONNECTING,
            ClientState.CONNECTED,
            ClientState.RECONNECTING,
            ClientState.CONNECTED,
            ClientState.CLOSED,
        ]


async def test_seq_gap_drops_the_socket_and_resumes_from_last_contiguous_client_3() -> None:
    async with scripted_server() as server:
        client = fast_client(server)
        got = Recorder()
        client.register_handler("conformance.a", got)
        connecting = asyncio.ensure_future(client.connect())
        conn, _ = await welcomed(server)
        await connecting
        sub = await conn.recv_type("subscribe")
        await conn.send({"type": "ack", "id": sub["id"]})
        await conn.send({"type": "event", "seq": 1, "channel": "conformance.a", "data": 1})
        await conn.send({"type": "event", "seq": 3, "channel": "conformance.a", "data": 3})

        again = await server.next_connection()
        hello = await again.recv()
        assert hello["resume"] == {"session": SESSION_A, "seq": 1}
        await again.send(welcome_frame(SESSION_A, resumed=True, seq=3))
        for seq in (2, 3):
            await again.send({"type": "event", "seq": seq, "channel": "conformance.a", "data": seq})
        assert await got.wait_for(3) == [1, 2, 3]
        await client.close()


async def test_silent_server_is_dropped_and_resumed_heartbeat_4() -> None:
    async with scripted_server() as server:
        client = fast_client(server)
        connecting = asyncio.ensure_future(client.connect())
        # 1000 ms is the smallest heartbeat: the client gives up after 2 s of silence.
        conn, _ = await welcomed(server, heartbeat_ms=1000)
        await connecting
        again = await server.next_connection()
        hello = await again.recv()
        assert hello["resume"]["session"] == SESSION_A
        conn.abort()
        await client.close()


async def test_ping_is_answered_with_pong_heartbeat_2() -> None:
    async with scripted_server() as server:
        client = fast_client(server)
        connecting = asyncio.ensure_future(client.connect())
        conn, _ = await welcomed(server)
        await connecting
        await conn.send({"type": "ping", "nonce": "n-7"})
        assert await conn.recv_type("pong") == {"type": "pong", "nonce": "n-7"}
        await client.close()


async def test_send_resolves_on_ack_and_raises_on_error_ops_1() -> None:
    async with scripted_server() as server:
        client = fast_client(server)
        connecting = asyncio.ensure_future(client.connect())
        conn, _ = await welcomed(server)
        await connecting

        sending = asyncio.ensure_future(client.send("conformance.a", {"mark": "ok"}))
        publish = await conn.recv_type("publish")
        assert publish["data"] == {"mark": "ok"}
        assert not sending.done()
        await conn.send({"type": "ack", "id": publish["id"]})
        await asyncio.wait_for(sending, 10)

        failing = asyncio.ensure_future(client.send("conformance.a", {}))
        publish = await conn.recv_type("publish")
        await conn.send(
            {
                "type": "error",
                "id": publish["id"],
                "code": "invalid_payload",
                "message": "data/mark: required",
                "pointer": "/data/mark",
            }
        )
        with pytest.raises(PublishRejected) as caught:
            await asyncio.wait_for(failing, 10)
        assert (caught.value.code, caught.value.pointer) == ("invalid_payload", "/data/mark")
        await client.close()


async def test_lost_session_resubscribes_resends_and_resets_resume_5_resume_6() -> None:
    async with scripted_server() as server:
        client = fast_client(server)
        resets: list[str] = []
        client.on_reset(lambda: resets.append("reset"))
        got = Recorder()
        client.register_handler("conformance.a", got)
        connecting = asyncio.ensure_future(client.connect())
        conn, _ = await welcomed(server)
        await connecting
        sub = await conn.recv_type("subscribe")
        await conn.send({"type": "ack", "id": sub["id"]})
        await conn.send({"type": "event", "seq": 1, "channel": "conformance.a", "data": "old"})
        await got.wait_for(1)
        conn.abort()

        # A publish made while disconnected waits in the outbox.
        sending = asyncio.ensure_future(client.send("conformance.a", {"mark": "queued"}))
        again = await server.next_connection()
        hello = await again.recv()
        assert hello["resume"] == {"session": SESSION_A, "seq": 1}
        await again.send(welcome_frame(SESSION_B, resumed=False))
        frames = [await again.recv(), await again.recv()]
        kinds = {f["type"]: f for f in frames}
        assert set(kinds) == {"subscribe", "publish"}
        assert kinds["subscribe"]["channel"] == "conformance.a"
        assert kinds["subscribe"]["id"] != sub["id"]
        assert kinds["publish"]["data"] == {"mark": "queued"}
        await again.send({"type": "ack", "id": kinds["subscribe"]["id"]})
        await again.send({"type": "ack", "id": kinds["publish"]["id"]})
        await asyncio.wait_for(sending, 10)
        # The new session numbers its events from 1 again.
        await again.send({"type": "event", "seq": 1, "channel": "conformance.a", "data": "new"})
        assert await got.wait_for(2) == ["old", "new"]
        assert resets == ["reset"]
        assert client.session == SESSION_B
        await client.close()


async def test_unanswered_publish_is_re_sent_with_its_id_after_resume_resume_6() -> None:
    async with scripted_server() as server:
        client = fast_client(server)
        connecting = asyncio.ensure_future(client.connect())
        conn, _ = await welcomed(server)
        await connecting
        sending = asyncio.ensure_future(client.send("conformance.a", {"mark": "once"}))
        first = await conn.recv_type("publish")
        conn.abort()
        again = await server.next_connection()
        await again.recv()
        await again.send(welcome_frame(SESSION_A, resumed=True))
        second = await again.recv_type("publish")
        assert second == first
        await again.send({"type": "ack", "id": second["id"]})
        await asyncio.wait_for(sending, 10)
        await client.close()


async def test_handlers_see_only_their_channel_and_may_send_delivery_2() -> None:
    async with scripted_server() as server:
        client = fast_client(server)
        seen_a, seen_b = Recorder(), Recorder()
        replies: list[str] = []

        async def answering(data: Any) -> None:
            # A handler awaiting an ack must not stall the socket that brings the ack.
            seen_b(data)
            await client.send("conformance.a", {"mark": "reply"})
            replies.append("acked")

        client.register_handler("conformance.a", seen_a)
        client.register_handler("conformance.b", answering)
        connecting = asyncio.ensure_future(client.connect())
        conn, _ = await welcomed(server)
        await connecting
        for _ in range(2):
            sub = await conn.recv_type("subscribe")
            await conn.send({"type": "ack", "id": sub["id"]})
        await conn.send({"type": "event", "seq": 1, "channel": "conformance.a", "data": "a1"})
        await conn.send({"type": "event", "seq": 2, "channel": "conformance.b", "data": "b1"})
        publish = await conn.recv_type("publish")
        await conn.send({"type": "ack", "id": publish["id"]})
        await conn.send({"type": "event", "seq": 3, "channel": "conformance.a", "data": "a2"})
        assert await seen_a.wait_for(2) == ["a1", "a2"]
        assert await seen_b.wait_for(1) == ["b1"]
        await client.close()
        assert replies == ["acked"]


async def test_last_handler_removed_unsubscribes() -> None:
    async with scripted_server() as server:
        client = fast_client(server)
        one, two = Recorder(), Recorder()
        client.register_handler("conformance.a", one)
        client.register_handler("conformance.a", two)
        connecting = asyncio.ensure_future(client.connect())
        conn, _ = await welcomed(server)
        await connecting
        sub = await conn.recv_type("subscribe")
        await conn.send({"type": "ack", "id": sub["id"]})
        await client.wait_ready()
        client.unregister_handler("conformance.a", one)
        assert client.channels == {"conformance.a"}
        client.unregister_handler("conformance.a", two)
        unsub = await conn.recv_type("unsubscribe")
        assert unsub["channel"] == "conformance.a"
        assert client.channels == frozenset()
        await client.close()


async def test_close_fails_unanswered_sends() -> None:
    async with scripted_server() as server:
        client = fast_client(server)
        connecting = asyncio.ensure_future(client.connect())
        conn, _ = await welcomed(server)
        await connecting
        sending = asyncio.ensure_future(client.send("conformance.a", {"mark": "m"}))
        await conn.recv_type("publish")
        await client.close()
        with pytest.raises(ClientClosed):
            await asyncio.wait_for(sending, 10)
        with pytest.raises(ClientClosed):
            await client.send("conformance.a", {"mark": "late"})


async def test_outbox_overflow_raises_outbox_full() -> None:
    async with scripted_server() as server:
        client = fast_client(server, outbox_limit=2)
        # Two subscriptions wait for a connection: the outbox is full.
        client.register_handler("conformance.a", Recorder())
        client.register_handler("conformance.b", Recorder())
        with pytest.raises(OutboxFull):
            client.register_handler("conformance.c", Recorder())
        with pytest.raises(OutboxFull):
            await client.send("conformance.a", 3)
        assert client.channels == {"conformance.a", "conformance.b"}
        await client.close()


async def test_unreachable_server_keeps_trying_until_closed_client_1() -> None:
    async with scripted_server() as server:
        url = server.url
    # The server is gone: every attempt fails, the client keeps trying in the background.
    client = Client(url, rng=Zero(), backoff_base=0.05)
    states: list[ClientState] = []
    client.on_state(states.append)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1.0):
            await client.connect()
    assert client.state in (ClientState.CONNECTING, ClientState.RECONNECTING)
    await client.close()
    assert states[-1] is ClientState.CLOSED
    assert client.connections_opened == 0


async def test_handler_may_close_its_own_client() -> None:
    async with scripted_server() as server:
        client = fast_client(server)
        closed = asyncio.Event()

        async def closing(data: Any) -> None:
            await client.close()
            closed.set()

        client.register_handler("conformance.a", closing)
        connecting = asyncio.ensure_future(client.connect())
        conn, _ = await welcomed(server)
        await connecting
        sub = await conn.recv_type("subscribe")
        await conn.send({"type": "ack", "id": sub["id"]})
        await conn.send({"type": "event", "seq": 1, "channel": "conformance.a", "data": 1})
        async with asyncio.timeout(10):
            await closed.wait()
        assert client.state is ClientState.CLOSED


async def test_listening_client_keeps_the_link_alive_heartbeat_3() -> None:
    async with scripted_server() as server:
        client = fast_client(server)
        connecting = asyncio.ensure_future(client.connect())
        conn, _ = await welcomed(server, heartbeat_ms=1000)
        await connecting
        # The server says nothing; the client pings within half an interval of silence.
        async with asyncio.timeout(10):
            frame = json.loads(await conn.ws.recv())
        assert frame["type"] == "ping"
        await conn.send({"type": "pong", "nonce": frame.get("nonce", "")})
        await client.close()
