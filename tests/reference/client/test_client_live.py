"""The Client against the in-process reference server, over real sockets on 127.0.0.1.

The design note's test plan (seed: "Test de base", "Test de canaux multiples") and an abrupt
network drop in the middle of a burst, through a TCP proxy the test cuts (RESUME-1..6,
DELIVERY-1/2/6, CLIENT-2/3). The process-restart scenario is in test_client_restart.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from canaux.client import CentralWebSocketService, Client, ClientState, WebSocketService
from canaux.server import ServerConfig
from canaux.server.testing import RunningServer, running_server

from .proxy import tcp_proxy
from .support import Recorder, Zero

pytestmark = pytest.mark.anyio

PUBLISH_TOKEN = "test-publish-token"


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    config = ServerConfig(conformance=True, publish_token=PUBLISH_TOKEN)
    async with running_server(config) as running:
        yield running


async def health(server: RunningServer) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{server.base_url}/health", timeout=10)
    body = response.json()
    assert isinstance(body, dict)
    return body


async def http_publish(server: RunningServer, channel: str, data: Any) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{server.base_url}/publish",
            json={"channel": channel, "data": data},
            headers={"Authorization": f"Bearer {PUBLISH_TOKEN}"},
            timeout=10,
        )
    assert response.status_code == 202, response.text


def is_done(request: str) -> Any:
    def check(items: list[Any]) -> bool:
        return any(
            i.get("type") in ("done", "error") and i.get("request") == request for i in items
        )

    return check


async def test_chat_message_gets_a_streamed_reply_chat_1(server: RunningServer) -> None:
    """Seed "Test de base": send a chat message, the answer streams back in chunks."""
    async with Client(server.ws_url) as client:
        replies = Recorder()
        client.register_handler("chat", replies)
        await client.wait_ready()
        request = await client.send("chat", {"type": "message", "text": "Hello streaming world"})
        items = await replies.wait_until(is_done(request))
        mine = [i for i in items if i["request"] == request]
        chunks = [i for i in mine if i["type"] == "chunk"]
        assert [c["index"] for c in chunks] == list(range(len(chunks)))
        assert len(chunks) > 1
        assert mine[-1] == {"type": "done", "request": request, "chunks": len(chunks)}
        assert "Hello streaming world" in "".join(c["text"] for c in chunks)


async def test_publish_round_trip_and_rejection(server: RunningServer) -> None:
    from canaux.client import PublishRejected

    async with Client(server.ws_url) as client:
        got = Recorder()
        client.register_handler("conformance.echo", got)
        await client.wait_ready()
        await client.send("conformance.echo", {"mark": "m-1", "body": [1, {"x": None}]})
        assert await got.wait_for(1) == [{"mark": "m-1", "body": [1, {"x": None}]}]
        with pytest.raises(PublishRejected) as caught:
            await client.send("conformance.echo", 42)
        assert caught.value.code == "invalid_payload"
        assert caught.value.pointer is not None
        assert caught.value.pointer.startswith("/data")
        with pytest.raises(PublishRejected) as forbidden:
            await client.send("system", {"level": "info", "text": "nope"})
        assert forbidden.value.code == "forbidden"


async def test_components_share_one_connection_and_see_only_their_channel(
    server: RunningServer,
) -> None:
    """Seed "Test de canaux multiples": one connection; each handler gets only its channel."""
    chat_ui = CentralWebSocketService(server.ws_url)
    queue_ui = CentralWebSocketService(server.ws_url)
    legacy = WebSocketService(server.ws_url)
    widget = CentralWebSocketService(server.ws_url)
    seen: dict[str, Recorder] = {
        name: Recorder() for name in ("chat", "playqueue", "system", "conformance.widget")
    }
    chat_ui.register_handler("chat", seen["chat"])
    queue_ui.register_handler("playqueue", seen["playqueue"])
    legacy.register_handler(seen["system"])  # registers on "system" by default
    widget.register_handler("conformance.widget", seen["conformance.widget"])
    try:
        await asyncio.gather(chat_ui.connect(), queue_ui.connect(), legacy.connect())
        await widget.connect()
        assert chat_ui.client is widget.client is legacy.central.client
        await widget.client.wait_ready()
        body = await health(server)
        assert body["connections"] == 1

        # The legacy flat chat form is still accepted by the compatibility service.
        request = await chat_ui.send("chat", {"message": "hi there"})
        await queue_ui.send(
            "playqueue",
            {"op": "add", "track": {"id": "t1", "title": "Song", "artist": "A", "duration_ms": 1}},
        )
        await widget.send("conformance.widget", {"mark": "w-1"})
        await http_publish(server, "system", {"level": "info", "text": "scan finished"})

        await seen["chat"].wait_until(is_done(request))
        await seen["playqueue"].wait_until(lambda items: any(i["items"] for i in items))
        await seen["system"].wait_for(1)
        await seen["conformance.widget"].wait_for(1)
        assert all(i["request"] == request for i in seen["chat"].items)
        assert all(i["type"] == "state" for i in seen["playqueue"].items)
        assert seen["system"].items == [{"level": "info", "text": "scan finished"}]
        assert seen["conformance.widget"].items == [{"mark": "w-1"}]
        assert widget.client.connections_opened == 1
    finally:
        for service in (chat_ui, queue_ui, legacy, widget):
            await service.disconnect()
    assert widget.client.state is ClientState.CLOSED


async def test_abrupt_drop_during_a_burst_loses_and_repeats_nothing_resume_3_delivery_6(
    server: RunningServer,
) -> None:
    """A TCP cut (no close frame) mid-burst: every event arrives exactly once, in order;
    publishes made during the outage are applied exactly once (RESUME-6, OPS-9)."""
    total = 300
    channel = "conformance.burst"
    async with tcp_proxy(server.port) as proxy:
        subscriber = Client(proxy.url(), rng=Zero())
        observer = Client(server.ws_url)
        publisher = Client(server.ws_url)
        got = Recorder()
        seen_by_observer = Recorder()
        cut_done = asyncio.Event()
        reset_count = 0

        def on_reset() -> None:
            nonlocal reset_count
            reset_count += 1

        cuts: list[int] = []
        # Publishes the subscriber makes while the burst flows: some are unanswered (or not
        # even written) when the cut comes, and must be re-sent and applied once (OPS-9).
        midway: list[asyncio.Future[str]] = []

        def receive(data: Any) -> None:
            got(data)
            received = len(got.items)
            if received % 25 == 0 and received <= total // 2:
                mark = f"s-{received}"
                midway.append(asyncio.ensure_future(subscriber.send(channel, {"mark": mark})))
            if received == total // 3 and not cut_done.is_set():
                # Cut while the rest of the burst is in flight.
                cuts.append(proxy.cut())
                cut_done.set()

        subscriber.register_handler(channel, receive)
        subscriber.on_reset(on_reset)
        observer.register_handler(channel, seen_by_observer)
        try:
            for client in (subscriber, observer, publisher):
                await client.connect()
                await client.wait_ready()
            session = subscriber.session
            sends = [
                asyncio.ensure_future(publisher.send(channel, {"mark": f"p-{n}"}))
                for n in range(total)
            ]
            async with asyncio.timeout(30):
                await cut_done.wait()
            # The subscriber is cut off now: what it publishes waits for the reconnection.
            outage = [
                asyncio.ensure_future(subscriber.send(channel, {"mark": f"o-{n}"}))
                for n in range(5)
            ]
            async with asyncio.timeout(30):
                await asyncio.gather(*sends, *outage)
                # Every midway send is scheduled by now: the burst reached the subscriber.
                await got.wait_for(total // 2)
                await asyncio.gather(*midway)
            assert cuts == [1]
            midway_marks = {f"s-{n}" for n in range(25, total // 2 + 1, 25)}
            expected = total + 5 + len(midway_marks)
            items = await got.wait_for(expected, within=30)
            observed = await seen_by_observer.wait_for(expected, within=30)
            marks = [i["mark"] for i in items]
            assert len(marks) == len(set(marks)) == expected
            assert [m for m in marks if m.startswith("p-")] == [f"p-{n}" for n in range(total)]
            # One order for all receivers (DELIVERY-3), and each publish applied once.
            assert marks == [i["mark"] for i in observed]
            assert sorted(m for m in marks if m.startswith("o-")) == [f"o-{n}" for n in range(5)]
            assert {m for m in marks if m.startswith("s-")} == midway_marks
            assert subscriber.session == session
            assert reset_count == 0
            assert subscriber.connections_opened == 2
        finally:
            for client in (subscriber, observer, publisher):
                await client.close()


async def test_oversized_publish_is_refused_and_the_connection_survives_limit_2(
    server: RunningServer,
) -> None:
    from canaux.client import FrameTooLarge

    async with Client(server.ws_url) as client:
        got = Recorder()
        client.register_handler("conformance.big", got)
        await client.wait_ready()
        assert client.welcome is not None
        limit = client.welcome.limits.max_frame_bytes
        with pytest.raises(FrameTooLarge):
            await client.send("conformance.big", {"mark": "big", "body": "x" * limit})
        await client.send("conformance.big", {"mark": "small"})
        assert await got.wait_for(1) == [{"mark": "small"}]
        assert client.connections_opened == 1
