"""The app mounted in a real FastAPI application, served by uvicorn
(spec transport.md, Endpoint)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import socket
from typing import Any

import httpx
import pytest
import uvicorn
import websockets.asyncio.client
from fastapi import FastAPI
from websockets.typing import Subprotocol

from canaux.server import ServerConfig, create_app
from canaux.server.app import runtime_of
from canaux.server.testing import serve_app
from canaux.server.websocket import WebSocketLink
from tests.conftest import DEFAULT_PORT

from .wire import (
    PUBLISH_TOKEN,
    TIMEOUT,
    close_code,
    make_config,
    open_ws,
    recv,
    recv_until,
    request,
    send,
    session,
)

pytestmark = pytest.mark.anyio


async def test_same_traffic_through_a_fastapi_mount() -> None:
    config = make_config()
    canaux_app = create_app(config)
    api = FastAPI()

    @api.get("/api/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    api.mount("/canaux", canaux_app)
    async with (
        serve_app(api, canaux_app, config, prefix="/canaux") as server,
        httpx.AsyncClient(timeout=TIMEOUT) as http,
    ):
        # The host application still answers its own routes.
        assert (await http.get(f"http://{server.host}:{server.port}/api/ping")).json() == {
            "pong": "yes"
        }
        assert (await http.get(server.base_url + "/health")).json()["status"] == "ok"
        async with (
            session(server) as (ws, welcome),
            open_ws(server, "/api/ws", subprotocols=[]) as legacy,
        ):
            assert welcome["resumed"] is False
            await request(ws, {"type": "subscribe", "id": "s", "channel": "conformance.m"})
            await request(ws, {"type": "subscribe", "id": "y", "channel": "system"})
            publish = {"mark": "x"}
            await send(
                ws, {"type": "publish", "id": "p", "channel": "conformance.m", "data": publish}
            )
            seen: list[dict[str, Any]] = []

            def ack_and_event(frame: dict[str, Any]) -> bool:
                seen.append(frame)
                return {f["type"] for f in seen} >= {"ack", "event"}

            await recv_until(ws, ack_and_event)
            # [OPS-7] the order of the ack and the publisher's own event is not specified.
            assert sorted(seen, key=lambda f: f["type"]) == [
                {"type": "ack", "id": "p"},
                {"type": "event", "seq": 1, "channel": "conformance.m", "data": publish},
            ]
            notice = {"level": "info", "text": "mounted"}
            response = await http.post(
                server.base_url + "/publish",
                json={"channel": "system", "data": notice},
                headers={"Authorization": f"Bearer {PUBLISH_TOKEN}"},
            )
            assert response.status_code == 202
            assert (await recv_until(ws, lambda f: f["type"] == "event"))[-1]["data"] == notice
            assert await recv(legacy) == {"channel": "system", "data": notice}
            async with http.stream("GET", server.events_url + "?channels=system") as sse:
                lines = sse.aiter_lines()
                assert await anext(lines) == "event: welcome"
                assert json.loads((await anext(lines))[len("data: ") :])["type"] == "welcome"
            server.uvicorn.should_exit = True
            assert await close_code(ws) == 1001


async def test_a_mounted_test_server_listens_on_a_free_port_not_the_configured_one() -> None:
    """[#10] finding 7: ``serve_app`` ignores ``config.port`` (8001 by default) and binds port 0.

    8001 is held while it runs (tests/conftest.py holds it for the whole run), so binding it
    would fail here.
    """
    config = ServerConfig()
    assert config.port == DEFAULT_PORT
    canaux_app = create_app(config)
    api = FastAPI()
    api.mount("/canaux", canaux_app)
    with contextlib.ExitStack() as held:
        # Taken for this test whatever happened since the run began: the run's own hold, or
        # another process's (which may have ended meanwhile: then this test takes it).
        sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        try:
            sock.bind(("127.0.0.1", DEFAULT_PORT))
            sock.listen(1)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
        async with (
            serve_app(api, canaux_app, config, prefix="/canaux") as server,
            httpx.AsyncClient(timeout=TIMEOUT) as http,
        ):
            assert server.port not in (0, DEFAULT_PORT)
            assert (await http.get(server.base_url + "/health")).json()["status"] == "ok"


@pytest.mark.parametrize("compression", [None, "deflate"])
async def test_the_mount_under_plain_uvicorn_sends_through_asgi(compression: str | None) -> None:
    """Another ASGI server offers no direct writer (ws_protocol.WRITER): every frame goes
    through the ASGI ``send``, in order, none lost [DELIVERY-1]."""
    config = make_config()
    canaux_app = create_app(config)
    api = FastAPI()
    api.mount("/canaux", canaux_app)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # connections wait in the backlog until uvicorn accepts them
    port = sock.getsockname()[1]
    settings = uvicorn.Config(api, ws="websockets-sansio", lifespan="on", log_level="warning")
    plain = uvicorn.Server(settings)
    plain.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(plain.serve(sockets=[sock]))
    try:
        url = f"ws://127.0.0.1:{port}/canaux/ws"
        count = 120
        async with (
            asyncio.timeout(TIMEOUT),
            websockets.asyncio.client.connect(
                url, subprotocols=[Subprotocol("canaux.v1")], compression=compression
            ) as ws,
        ):
            await send(ws, {"type": "hello", "version": 1})
            assert (await recv(ws))["type"] == "welcome"
            (link,) = runtime_of(canaux_app).connections
            assert isinstance(link, WebSocketLink)
            assert link._direct is None  # the fall-back path
            await request(ws, {"type": "subscribe", "id": "s", "channel": "conformance.p"})
            for n in range(count):
                await send(
                    ws,
                    {
                        "type": "publish",
                        "id": f"p{n}",
                        "channel": "conformance.p",
                        "data": {"n": n},
                    },
                )
            got = await recv_until(
                ws, lambda f: f.get("type") == "event" and f["data"]["n"] == count - 1
            )
        events = [f for f in got if f.get("type") == "event"]
        assert [e["data"]["n"] for e in events] == list(range(count))
        assert [e["seq"] for e in events] == list(range(1, count + 1))
    finally:
        plain.should_exit = True
        async with asyncio.timeout(TIMEOUT):
            await task
        sock.close()
