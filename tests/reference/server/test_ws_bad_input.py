"""Bad input on /ws: each gets what the contract requires, and other sessions carry on.

Every test keeps a bystander session subscribed to a channel and checks, after the bad input,
that it still receives events in order [CHANNEL-7, SECURITY-4].
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from canaux.server.testing import running_server

from .wire import (
    Bystander,
    close_code,
    http_publish,
    make_config,
    open_ws,
    recv,
    recv_until,
    request,
    send,
    session,
)

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        pytest.param("{not json", 1007, id="TRANSPORT-5-not-json"),
        pytest.param("[1, 2]", 1007, id="TRANSPORT-5-not-an-object"),
        pytest.param(b"\x00\x01", 1003, id="TRANSPORT-4-binary"),
        # 9000 bytes: over the limit, and over the 8192 bytes a hello may always take.
        pytest.param("x" * 9000, 1009, id="TRANSPORT-6-over-limit"),
    ],
)
@pytest.mark.parametrize("after_hello", [False, True], ids=["before-hello", "after-hello"])
async def test_framing_errors_close_with_their_code(
    frame: str | bytes, code: int, after_hello: bool
) -> None:
    """TRANSPORT-4/5/6, LIMIT-2: binary 1003, not JSON / not an object 1007, too big 1009."""
    async with (
        running_server(make_config(max_frame_bytes=4096)) as server,
        Bystander.watching(server) as bystander,
    ):
        if after_hello:
            async with session(server) as (ws, _):
                await send(ws, frame)
                assert await close_code(ws) == code
        else:
            async with open_ws(server) as ws:
                await send(ws, frame)
                assert await close_code(ws) == code
        await bystander.check()


@pytest.mark.parametrize(
    ("frame", "pointer", "frame_id"),
    [
        pytest.param({"type": "frobnicate", "id": "x1"}, "/type", "x1", id="unknown-type"),
        pytest.param({"id": "x2", "channel": "system"}, "/type", "x2", id="missing-type"),
        pytest.param({"type": "subscribe", "id": "x3"}, "/channel", "x3", id="missing-channel"),
        pytest.param({"type": "subscribe", "channel": "system"}, "/id", None, id="missing-id"),
        pytest.param({"type": "subscribe", "id": 7, "channel": "system"}, "/id", None, id="id-int"),
        pytest.param(
            {"type": "publish", "id": "x4", "channel": 5, "data": {}},
            "/channel",
            "x4",
            id="channel-int",
        ),
        pytest.param(
            {"type": "publish", "id": "x5", "channel": "conformance.a"}, "/data", "x5", id="no-data"
        ),
        pytest.param(
            {"type": "event", "seq": 1, "channel": "system", "data": {}},
            "/type",
            None,
            id="server-type",
        ),
        pytest.param(
            {"type": "subscribe", "id": "x6", "channel": "Not A Name"},
            "/channel",
            "x6",
            id="bad-name",
        ),
    ],
)
async def test_malformed_frames_get_bad_frame_and_the_connection_stays_open(
    frame: dict[str, Any], pointer: str, frame_id: str | None
) -> None:
    """OPS-8: bad_frame with pointer (and id when it had a string id); connection stays open."""
    async with running_server(make_config()) as server, Bystander.watching(server) as bystander:
        async with session(server) as (ws, _):
            await send(ws, frame)
            error = await recv(ws)
            assert error["type"] == "error"
            assert error["code"] == "bad_frame"
            assert error["pointer"] == pointer
            assert error.get("id") == frame_id
            # Still open and answering [CHANNEL-7].
            await send(ws, {"type": "ping", "nonce": "alive"})
            assert await recv(ws) == {"type": "pong", "nonce": "alive"}
        await bystander.check()


async def test_frames_before_hello_close_4400(server: Any) -> None:
    """HANDSHAKE-1, HANDSHAKE-4: the first frame must be a valid hello."""
    async with Bystander.watching(server) as bystander:
        async with open_ws(server) as ws:
            await send(ws, {"type": "subscribe", "id": "s1", "channel": "system"})
            assert await close_code(ws) == 4400
        async with open_ws(server) as ws:
            await send(ws, {"type": "hello"})  # version missing
            assert await close_code(ws) == 4400
        await bystander.check()


async def test_unsupported_version_closes_4406_naming_supported(server: Any) -> None:
    """HANDSHAKE-5."""
    async with open_ws(server) as ws:
        await send(ws, {"type": "hello", "version": 99})
        assert await close_code(ws) == 4406
        assert ws.close_reason == "supported: 1"


async def test_second_hello_closes_4409(server: Any) -> None:
    """HANDSHAKE-6."""
    async with Bystander.watching(server) as bystander:
        async with session(server) as (ws, _):
            await send(ws, {"type": "hello", "version": 1})
            assert await close_code(ws) == 4409
        await bystander.check()


async def test_missing_subprotocol_closes_4400(server: Any) -> None:
    """TRANSPORT-2: the server refuses a client that did not offer canaux.v1."""
    async with open_ws(server, subprotocols=[]) as ws:
        assert await close_code(ws) == 4400


async def test_hello_timeout_closes_4408() -> None:
    """HANDSHAKE-3: no hello within hello_timeout_ms."""
    async with running_server(make_config(hello_timeout_ms=1000)) as server, open_ws(server) as ws:
        assert await close_code(ws) == 4408


async def test_unknown_channel_forbidden_and_invalid_payload(server: Any) -> None:
    """CHANNEL-3, CHANNEL-4, CHANNEL-5: errors with pointer; nothing delivered; connection open."""
    async with Bystander.watching(server) as bystander, session(server) as (ws, _):
        assert (await request(ws, {"type": "subscribe", "id": "s1", "channel": "system"}))[
            "type"
        ] == "ack"
        unknown = await request(ws, {"type": "subscribe", "id": "u1", "channel": "nope"})
        assert (unknown["code"], unknown["pointer"]) == ("unknown_channel", "/channel")
        unknown = await request(
            ws, {"type": "publish", "id": "u2", "channel": "nope.x", "data": {"mark": "m"}}
        )
        assert unknown["code"] == "unknown_channel"
        forbidden = await request(
            ws,
            {
                "type": "publish",
                "id": "f1",
                "channel": "system",
                "data": {"level": "info", "text": "x"},
            },
        )
        assert forbidden["code"] == "forbidden"
        invalid = await request(
            ws, {"type": "publish", "id": "i1", "channel": "conformance.a", "data": {"mark": ""}}
        )
        assert (invalid["code"], invalid["pointer"]) == ("invalid_payload", "/data/mark")
        invalid = await request(
            ws, {"type": "publish", "id": "i2", "channel": "chat", "data": {"type": "message"}}
        )
        assert (invalid["code"], invalid["pointer"]) == ("invalid_payload", "/data/text")
        # The forbidden system publish was not delivered: the next system event is ours.
        response = await http_publish(server, "system", {"level": "info", "text": "from http"})
        assert response.status_code == 202
        events = await recv_until(ws, lambda f: f.get("type") == "event")
        assert events[-1]["data"]["text"] == "from http"
        assert events[-1]["seq"] == 1
        await bystander.check()


async def test_subscription_errors(server: Any) -> None:
    """OPS-3 already_subscribed, OPS-4 not_subscribed; the subscription is unchanged."""
    async with Bystander.watching(server) as bystander, session(server) as (ws, _):
        sub = {"type": "subscribe", "channel": "conformance.s"}
        assert (await request(ws, {**sub, "id": "a"}))["type"] == "ack"
        again = await request(ws, {**sub, "id": "b"})
        assert again["code"] == "already_subscribed"
        missing = await request(ws, {"type": "unsubscribe", "id": "c", "channel": "conformance.t"})
        assert missing["code"] == "not_subscribed"
        # Still subscribed once: one publish, one event.
        await http_publish(server, "conformance.s", {"mark": "one"})
        events = await recv_until(ws, lambda f: f.get("type") == "event")
        assert [e["data"]["mark"] for e in events if e["type"] == "event"] == ["one"]
        await bystander.check()


async def test_too_many_subscriptions() -> None:
    """OPS-5: subscribe beyond limits.max_subscriptions."""
    async with (
        running_server(make_config(max_subscriptions=8)) as server,
        Bystander.watching(server) as bystander,
        session(server) as (ws, welcome),
    ):
        assert welcome["limits"]["max_subscriptions"] == 8
        for n in range(8):
            reply = await request(
                ws, {"type": "subscribe", "id": f"s{n}", "channel": f"conformance.c{n}"}
            )
            assert reply["type"] == "ack"
        over = await request(ws, {"type": "subscribe", "id": "s8", "channel": "conformance.c8"})
        assert over["code"] == "too_many_subscriptions"
        await bystander.check()


async def test_flood_closes_4429() -> None:
    """LIMIT-3: over max_rate frames per second (after a burst of max_rate) → 4429."""
    async with (
        running_server(make_config(max_rate=10)) as server,
        Bystander.watching(server) as bystander,
    ):
        async with session(server) as (ws, _):
            for n in range(40):
                await send(ws, {"type": "ping", "nonce": str(n)})
            assert await close_code(ws) == 4429
        await bystander.check()


async def test_idempotent_publish_is_applied_once(server: Any) -> None:
    """OPS-9: an id already answered gets the same reply again and is not applied twice."""
    async with session(server) as (ws, _):
        await request(ws, {"type": "subscribe", "id": "s", "channel": "conformance.d"})
        publish = {"type": "publish", "id": "p", "channel": "conformance.d", "data": {"mark": "m"}}
        await send(ws, publish)
        first = await recv_until(ws, lambda f: f.get("type") == "ack")
        second = await request(ws, publish)
        assert second == {"type": "ack", "id": "p"}
        bad = {"type": "publish", "id": "q", "channel": "conformance.d", "data": 5}
        assert await request(ws, bad) == await request(ws, bad)
        await http_publish(server, "conformance.d", {"mark": "after"})
        frames = first + await recv_until(
            ws, lambda f: f.get("type") == "event" and f["data"]["mark"] == "after"
        )
        marks = [f["data"]["mark"] for f in frames if f["type"] == "event"]
        assert marks == ["m", "after"]


async def test_slow_consumer_is_cut_with_4503_and_others_are_not_delayed() -> None:
    """LIMIT-4, SECURITY-4: a client that stops reading is closed with 4503; others unaffected."""
    config = make_config(outbound_queue=8, max_rate=10_000)
    async with running_server(config) as server:
        closes: list[tuple[str, int]] = []
        cut = asyncio.Event()

        def on_close(kind: str, code: int) -> None:
            closes.append((kind, code))
            if code == 4503:
                cut.set()

        server.runtime.add_close_listener(on_close)
        # max_queue=1 makes the client stop reading from TCP as soon as one frame waits;
        # without compression the repetitive payload really fills the socket buffers.
        async with (
            Bystander.watching(server) as bystander,
            open_ws(server, max_queue=1, compression=None) as slow,
        ):
            await send(slow, {"type": "hello", "version": 1})
            assert (await recv(slow))["type"] == "welcome"
            await send(slow, {"type": "subscribe", "id": "s", "channel": bystander.channel})
            # From here on the slow client reads nothing; the publisher floods the channel.
            body = "x" * 30_000
            async with session(server) as (publisher, _):
                sent = 0
                async with asyncio.timeout(60):
                    while not cut.is_set():
                        frame = {
                            "type": "publish",
                            "id": f"p{sent}",
                            "channel": bystander.channel,
                            "data": {"mark": f"m{sent}", "body": body},
                        }
                        assert (await request(publisher, frame))["type"] == "ack"
                        sent += 1
            # The bystander received every one of them, in order, no gap.
            frames = await recv_until(
                bystander.ws,
                lambda f: f.get("type") == "event" and f["data"]["mark"] == f"m{sent - 1}",
                timeout_s=30,
            )
            events = [f for f in frames if f["type"] == "event"]
            assert [e["data"]["mark"] for e in events] == [f"m{n}" for n in range(sent)]
            bystander.last_seq = events[-1]["seq"]
            await bystander.check()
            # Once the slow client reads again, it finds the 4503 close after its data.
            assert await close_code(slow, timeout_s=30) == 4503
        assert ("ws", 4503) in closes


async def test_ping_is_answered_and_server_pings_when_idle() -> None:
    """HEARTBEAT-1, HEARTBEAT-2: pong echoes the nonce; the server pings an idle session."""
    async with (
        running_server(make_config(heartbeat_ms=1000)) as server,
        session(server) as (ws, welcome),
    ):
        assert welcome["heartbeat_ms"] == 1000
        await send(ws, {"type": "ping", "nonce": "n1"})
        assert await recv(ws) == {"type": "pong", "nonce": "n1"}
        ping = await recv(ws, timeout_s=10)
        assert ping["type"] == "ping"
        await send(ws, {"type": "pong", "nonce": ping.get("nonce")})


async def test_silent_client_closed_4410() -> None:
    """HEARTBEAT-3: nothing received for 2 x heartbeat_ms → 4410."""
    async with running_server(make_config(heartbeat_ms=1000)) as server, session(server) as (ws, _):
        assert await close_code(ws) == 4410
