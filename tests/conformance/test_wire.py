"""Tests of canaux_conformance.wire: RawClient sends raw frames and checks every frame received.

The peers here are tiny scripted WebSocket servers (websockets' own server), not the reference
implementation, so each test controls exactly which frame the client sees.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from canaux_conformance.eventstream import SseStream
from canaux_conformance.outcomes import CaseFailed, SuiteError
from canaux_conformance.wire import (
    SUBPROTOCOL,
    HandshakeRefused,
    Pacer,
    RawClient,
    Transcript,
    catalogue_entry,
)

WELCOME: dict[str, Any] = {
    "type": "welcome",
    "version": 1,
    "session": "q1ZpX8vB3kT0aLm2Nc7RdA",
    "resumed": False,
    "seq": 0,
    "heartbeat_ms": 15000,
    "limits": {
        "max_frame_bytes": 65536,
        "max_subscriptions": 64,
        "max_rate": 200,
        "resume_window_ms": 120000,
        "resume_buffer": 1024,
    },
    "channels": [
        {
            "name": "conformance.*",
            "publish": "client",
            "schema": "https://canaux.dev/schemas/v1/channels/conformance.json",
        }
    ],
}

Script = Callable[[ServerConnection], Awaitable[None]]


@asynccontextmanager
async def scripted_server(script: Script, *, refuse: int | None = None) -> AsyncIterator[str]:
    """A WebSocket server on 127.0.0.1:0 that runs ``script`` for each connection."""

    def process_request(_: ServerConnection, request: Request) -> Response | None:
        if refuse is not None:
            return Response(refuse, "Refused", Headers(), b"no\n")
        return None

    async def handler(ws: ServerConnection) -> None:
        await script(ws)

    async with serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
        process_request=process_request,
        ping_interval=None,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws"


async def welcome_then(ws: ServerConnection, *frames: str | bytes) -> None:
    """Read the hello, answer the welcome, then send ``frames`` and wait for the client to go."""
    await ws.recv()
    await ws.send(json.dumps(WELCOME))
    for frame in frames:
        await ws.send(frame)
    await ws.wait_closed()


def run(coro: Awaitable[None]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(20):
            await coro

    asyncio.run(bounded())


class TestHandshakeAndReplies:
    def test_hello_returns_welcome_and_request_matches_reply_by_id(self) -> None:
        async def script(ws: ServerConnection) -> None:
            await ws.recv()
            await ws.send(json.dumps(WELCOME))
            sub = json.loads(await ws.recv())
            # An unrelated event first: request() must skip it and leave it for later.
            await ws.send(
                json.dumps(
                    {"type": "event", "seq": 1, "channel": "conformance.x", "data": {"mark": "m"}}
                )
            )
            await ws.send(json.dumps({"type": "ack", "id": sub["id"]}))
            await ws.wait_closed()

        async def main() -> None:
            async with scripted_server(script) as url:
                transcript = Transcript()
                async with RawClient(url, transcript=transcript) as client:
                    assert client.subprotocol == SUBPROTOCOL
                    welcome = await client.hello()
                    assert welcome["session"] == WELCOME["session"]
                    reply = await client.subscribe("conformance.x", id="s1")
                    assert reply == {"type": "ack", "id": "s1"}
                    (event,) = await client.events(1, channel="conformance.x")
                    assert event["seq"] == 1
                replay = transcript.replay()
                assert replay["A"][0] == {"type": "hello", "version": 1}
                assert replay["A"][1]["id"] == "s1"
                assert "<-" in transcript.render()

        run(main())

    def test_error_reply_fails_when_ok_is_required(self) -> None:
        async def script(ws: ServerConnection) -> None:
            await ws.recv()
            await ws.send(json.dumps(WELCOME))
            pub = json.loads(await ws.recv())
            error = {"type": "error", "id": pub["id"], "code": "forbidden", "message": "no"}
            await ws.send(json.dumps(error))
            await ws.wait_closed()

        async def main() -> None:
            async with scripted_server(script) as url, RawClient(url) as client:
                await client.hello()
                with pytest.raises(CaseFailed) as failure:
                    await client.publish("conformance.x", {"mark": "m"})
                assert failure.value.requirement == "OPS-7"

        run(main())

    def test_first_frame_other_than_welcome_breaks_handshake_2(self) -> None:
        async def script(ws: ServerConnection) -> None:
            await ws.recv()
            await ws.send(json.dumps({"type": "pong"}))
            await ws.wait_closed()

        async def main() -> None:
            async with scripted_server(script) as url, RawClient(url) as client:
                with pytest.raises(CaseFailed) as failure:
                    await client.hello()
                assert failure.value.requirement == "HANDSHAKE-2"

        run(main())

    def test_refused_opening_handshake_reports_http_status(self) -> None:
        async def script(ws: ServerConnection) -> None:
            await ws.wait_closed()

        async def main() -> None:
            async with scripted_server(script, refuse=400) as url:
                with pytest.raises(HandshakeRefused) as refused:
                    await RawClient(url, subprotocols=None).open()
                assert refused.value.status == 400

        run(main())


class TestValidationOfReceivedFrames:
    """TRANSPORT-3: every received frame is one JSON object; OPS-12: valid against frame.json."""

    @pytest.mark.parametrize(
        ("frame", "requirement"),
        [
            ("not json", "TRANSPORT-3"),
            ("[1, 2]", "TRANSPORT-3"),
            (b"\x00\x01", "TRANSPORT-3"),
            ('{"type": "event", "seq": 0, "channel": "conformance.x", "data": {}}', "OPS-12"),
            ('{"type": "teleport"}', "OPS-12"),
            # The frame is fine, the data fails channels/conformance.json#/$defs/event.
            ('{"type": "event", "seq": 1, "channel": "conformance.x", "data": []}', "CONF-1"),
        ],
    )
    def test_invalid_frame_is_a_failure(self, frame: str | bytes, requirement: str) -> None:
        async def main() -> None:
            async with (
                scripted_server(lambda ws: welcome_then(ws, frame)) as url,
                RawClient(url) as client,
            ):
                await client.hello()
                with pytest.raises(CaseFailed) as failure:
                    await client.next_frame(timeout=5)
                assert failure.value.requirement == requirement

        run(main())

    def test_welcome_without_limits_is_a_failure(self) -> None:
        async def script(ws: ServerConnection) -> None:
            await ws.recv()
            broken = {k: v for k, v in WELCOME.items() if k != "limits"}
            await ws.send(json.dumps(broken))
            await ws.wait_closed()

        async def main() -> None:
            async with scripted_server(script) as url, RawClient(url) as client:
                with pytest.raises(CaseFailed) as failure:
                    await client.hello()
                assert failure.value.requirement == "OPS-12"
                assert "limits" in failure.value.message

        run(main())


class TestPingAndClose:
    def test_server_ping_is_answered_with_same_nonce(self) -> None:
        answered: asyncio.Queue[Any] = asyncio.Queue()

        async def script(ws: ServerConnection) -> None:
            await ws.recv()
            await ws.send(json.dumps(WELCOME))
            await ws.send(json.dumps({"type": "ping", "nonce": "n7"}))
            await answered.put(json.loads(await ws.recv()))
            await ws.wait_closed()

        async def main() -> None:
            async with scripted_server(script) as url, RawClient(url) as client:
                await client.hello()
                pong = await asyncio.wait_for(answered.get(), 5)
                assert pong == {"type": "pong", "nonce": "n7"}
                assert [p["nonce"] for _, p in client.pings] == ["n7"]
                assert client.unclaimed() == []

        run(main())

    def test_without_auto_pong_the_ping_reaches_the_case(self) -> None:
        async def main() -> None:
            ping = json.dumps({"type": "ping", "nonce": "n8"})
            async with (
                scripted_server(lambda ws: welcome_then(ws, ping)) as url,
                RawClient(url, auto_pong=False) as client,
            ):
                await client.hello()
                frame = await client.expect("ping", timeout=5)
                assert frame["nonce"] == "n8"

        run(main())

    def test_expect_close_returns_the_close_code(self) -> None:
        async def script(ws: ServerConnection) -> None:
            await ws.recv()
            await ws.close(4400, "first frame must be hello")

        async def main() -> None:
            async with scripted_server(script) as url, RawClient(url) as client:
                await client.send({"type": "subscribe", "id": "x", "channel": "chat"})
                assert await client.expect_close(timeout=5) == 4400
                assert client.close_reason == "first frame must be hello"
                with pytest.raises(CaseFailed, match="closed"):
                    await client.next_frame(timeout=1)

        run(main())

    def test_expect_close_fails_when_the_server_keeps_the_connection(self) -> None:
        async def main() -> None:
            async with (
                scripted_server(lambda ws: welcome_then(ws)) as url,
                RawClient(url) as client,
            ):
                await client.hello()
                with pytest.raises(CaseFailed, match="still open"):
                    await client.expect_close(timeout=0.3, requirement="HANDSHAKE-6")

        run(main())

    def test_expect_nothing_catches_a_frame_in_the_window(self) -> None:
        event = json.dumps(
            {"type": "event", "seq": 1, "channel": "conformance.y", "data": {"mark": "m"}}
        )

        async def main() -> None:
            async with (
                scripted_server(lambda ws: welcome_then(ws, event)) as url,
                RawClient(url) as client,
            ):
                await client.hello()
                with pytest.raises(CaseFailed) as failure:
                    await client.expect_nothing(5, requirement="DELIVERY-2")
                assert failure.value.requirement == "DELIVERY-2"

        run(main())


def test_catalogue_family_matching_follows_channel_2() -> None:
    catalogue = [{"name": "chat"}, {"name": "conformance.*"}]
    assert catalogue_entry(catalogue, "chat") == {"name": "chat"}
    assert catalogue_entry(catalogue, "conformance.a.b") == {"name": "conformance.*"}
    assert catalogue_entry(catalogue, "conformance") is None
    assert catalogue_entry(catalogue, "conformancex.a") is None


class TestEventStreamReader:
    """The suite's own text/event-stream parser (spec sse.md), fed by a raw HTTP server."""

    BODY = (
        ": ping\r\n\r\n"
        "event: welcome\r\n"
        'data: {"type":"welcome"}\r\n\r\n'
        "event: conformance.x\n"
        "id: sess:1\n"
        'data: {"a":\n'
        "data: 1}\n"
        "\n"
        "data:no-space\n\n"
    )

    @staticmethod
    @asynccontextmanager
    async def raw_http(status: str, content_type: str, body: str) -> AsyncIterator[str]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n"
            writer.write(head.encode() + body.encode())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}/events"
        finally:
            server.close()

    def test_messages_comments_and_end_of_stream(self) -> None:
        async def main() -> None:
            async with self.raw_http("200 OK", "text/event-stream", self.BODY) as url:
                transcript = Transcript()
                stream = SseStream(url, transcript, timeout=5)
                await stream.open({"channels": "conformance.x"})
                try:
                    assert stream.status == 200
                    welcome = await stream.next()
                    assert (welcome.event, welcome.id, welcome.json()) == (
                        "welcome",
                        None,
                        {"type": "welcome"},
                    )
                    event = await stream.next()
                    assert (event.event, event.id, event.data) == (
                        "conformance.x",
                        "sess:1",
                        '{"a":\n1}',
                    )
                    bare = await stream.next()
                    assert (bare.event, bare.data) == (None, "no-space")
                    assert [text for _, text in stream.comments] == ["ping"]
                    with pytest.raises(CaseFailed, match="ended"):
                        await stream.next()
                finally:
                    await stream.close()
                assert "GET" in transcript.render()

        run(main())

    def test_non_stream_answer_keeps_status_and_body(self) -> None:
        body = '{"code":"unknown_channel","message":"no"}'

        async def main() -> None:
            async with self.raw_http("400 Bad Request", "application/json", body) as url:
                stream = SseStream(url, Transcript(), timeout=5)
                await stream.open({"channels": "nowhere"})
                await stream.close()
                assert stream.status == 400
                assert json.loads(stream.body)["code"] == "unknown_channel"

        run(main())


# --------------------------------------------------------------------------- staying in limits


def _welcome_with(**limits: int) -> dict[str, Any]:
    return {**WELCOME, "limits": {**WELCOME["limits"], **limits}}


def strict_bucket_server(max_rate: int, max_frame_bytes: int = 4096) -> Script:
    """A server that enforces exactly the spec's bucket (LIMIT-3) and size (LIMIT-2), and
    answers every ping with a pong."""

    async def script(ws: ServerConnection) -> None:
        await ws.recv()
        loop = asyncio.get_running_loop()
        welcome = _welcome_with(max_rate=max_rate, max_frame_bytes=max_frame_bytes)
        await ws.send(json.dumps(welcome))
        tokens, at = float(max_rate), loop.time()
        async for message in ws:
            now = loop.time()
            tokens = min(float(max_rate), tokens + (now - at) * max_rate)
            at = now
            if len(str(message).encode()) > max_frame_bytes:
                await ws.close(1009, "too big")
                return
            if tokens < 1:
                await ws.close(4429, "over the rate")
                return
            tokens -= 1
            frame = json.loads(message)
            if frame.get("type") == "ping":
                await ws.send(json.dumps({"type": "pong", "nonce": frame.get("nonce", "")}))

    return script


class TestPacer:
    @given(
        max_rate=st.integers(min_value=10, max_value=500),
        gaps=st.lists(st.floats(min_value=0, max_value=0.3), min_size=1, max_size=300),
        jitter=st.lists(st.floats(min_value=0, max_value=0.5), min_size=300, max_size=300),
    )
    def test_paced_frames_fit_the_servers_bucket_despite_jitter(
        self, max_rate: int, gaps: list[float], jitter: list[float]
    ) -> None:
        """Frames leave when the pacer says; each reaches the server up to 0.5 s late, in
        order: the server's bucket (capacity and refill max_rate) never runs dry [LIMIT-8]."""
        pacer = Pacer(max_rate, 0.0)
        now, sent = 0.0, []
        for gap in gaps:
            now += gap
            now += pacer.reserve(now)
            sent.append(now)
        arrivals, last = [], 0.0
        for at, late in zip(sent, jitter, strict=False):
            last = max(last, at + late)  # one TCP stream: frames arrive in order
            arrivals.append(last)
        tokens, at = float(max_rate), 0.0
        for arrival in arrivals:
            tokens = min(float(max_rate), tokens + (arrival - at) * max_rate)
            at = arrival
            assert tokens >= 1, f"bucket empty at {arrival:.3f}s"
            tokens -= 1

    def test_reservations_queue_up(self) -> None:
        pacer = Pacer(10, 0.0)
        waits = [pacer.reserve(0.0) for _ in range(8)]
        assert waits[:5] == [0.0] * 5  # a burst of half the bucket
        assert waits[5:] == pytest.approx([1 / 8, 2 / 8, 3 / 8])  # then 80 % of the rate


class TestStayingWithinTheAnnouncedLimits:
    def test_a_burst_of_requests_is_paced_within_max_rate(self) -> None:
        """30 pings at once to a server with max_rate 10 that closes 4429 on an empty bucket:
        every one is answered (without the pacer the 11th frame is closed)."""

        async def main() -> None:
            async with scripted_server(strict_bucket_server(10)) as url, RawClient(url) as client:
                await client.hello()
                assert client.pacer is not None
                for index in range(15):
                    await client.send({"type": "ping", "nonce": f"n{index}"})
                for index in range(15):
                    await client.expect("pong", nonce=f"n{index}")
                assert not client.closed

        run(main())

    def test_a_frame_over_max_frame_bytes_is_the_suites_error(self) -> None:
        async def main() -> None:
            async with (
                scripted_server(strict_bucket_server(200, 4096)) as url,
                RawClient(url) as client,
            ):
                await client.hello()
                assert client.max_frame_bytes == 4096
                big = {"type": "ping", "nonce": "x", "pad": "x" * 5000}
                assert not client.fits(big)
                with pytest.raises(SuiteError, match="max_frame_bytes 4096"):
                    await client.send(big)
                assert not client.closed

        run(main())

    def test_an_unexpected_limit_close_after_a_deliberate_breach_is_the_suites_error(
        self,
    ) -> None:
        async def main() -> None:
            async with (
                scripted_server(strict_bucket_server(200, 4096)) as url,
                RawClient(url) as client,
            ):
                await client.hello()
                await client.send_text(
                    json.dumps({"type": "ping", "pad": "x" * 5000}), beyond_limits=True
                )
                with pytest.raises(SuiteError, match="beyond the announced limits"):
                    await client.ping("after")

        run(main())

    def test_a_rate_close_of_a_paced_client_breaks_limit_8(self) -> None:
        """A server that closes with 4429 a client within the bucket is at fault."""

        async def script(ws: ServerConnection) -> None:
            await ws.recv()
            await ws.send(json.dumps(_welcome_with(max_rate=10)))
            await ws.recv()
            await ws.close(4429, "over the rate")

        async def main() -> None:
            async with scripted_server(script) as url, RawClient(url) as client:
                await client.hello()
                with pytest.raises(CaseFailed) as failed:
                    await client.ping("one")
                assert failed.value.requirement == "LIMIT-8"

        run(main())

    def test_a_close_during_a_deliberate_oversize_send_is_the_servers_answer(self) -> None:
        """The server closes 1009 before a 1 MiB frame is written: the send returns and the
        close code is read by expect_close (it used to raise ConnectionClosed)."""

        async def script(ws: ServerConnection) -> None:
            await ws.recv()
            await ws.send(json.dumps(_welcome_with(max_frame_bytes=4096)))
            await ws.close(1009, "too big")

        async def main() -> None:
            async with scripted_server(script) as url, RawClient(url) as client:
                await client.hello()
                await client.expect_close()
                await client.send_text("x" * (1 << 20), beyond_limits=True)
                assert client.close_code == 1009

        run(main())


class TestLegacyFrames:
    def test_a_legacy_pong_with_extra_members_reaches_the_case(self) -> None:
        """{"type": "pong", "nonce": "x"} is not an event: the reader must not look for its
        channel (it crashed there, turning a server finding into a suite error)."""

        async def script(ws: ServerConnection) -> None:
            await ws.recv()
            await ws.send(json.dumps({"type": "pong", "nonce": "wrong"}))
            await ws.wait_closed()

        async def main() -> None:
            async with scripted_server(script) as url, RawClient(url, legacy=True) as client:
                await client.send({"type": "ping"})
                pong = await client.expect("pong")
                assert pong == {"type": "pong", "nonce": "wrong"}
                client.check()

        run(main())
