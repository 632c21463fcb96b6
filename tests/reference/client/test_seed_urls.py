"""The design note's URLs, against a server mounted in FastAPI at ``/canaux`` (real sockets).

``WS_URL=ws://host:8001`` is a base; with the mount path the compatibility services reach
``/canaux/ws``; ``SSE_URL=…/api/events`` is served; without the mount path the refusal names the
URL tried and says what to check (#11).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from canaux.client import CentralWebSocketService, Client, HandshakeRefused, SSEError, SSEReader
from canaux.server import ServerConfig, create_app
from canaux.server.testing import RunningServer, running_server, serve_app

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0


@pytest.fixture
async def mounted() -> AsyncIterator[RunningServer]:
    config = ServerConfig(port=0, conformance=True)
    canaux_app = create_app(config)
    api = FastAPI()
    api.mount("/canaux", canaux_app)
    async with serve_app(api, canaux_app, config, prefix="/canaux") as server:
        yield server


async def test_base_ws_url_plus_mount_path_reaches_the_mounted_server(
    mounted: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WS_URL", f"ws://{mounted.host}:{mounted.port}")
    monkeypatch.setenv("CANAUX_MOUNT_PATH", "/canaux")
    service = CentralWebSocketService(shared=False)
    got: asyncio.Queue[object] = asyncio.Queue()
    service.register_handler("conformance.seed", got.put_nowait)
    try:
        async with asyncio.timeout(TIMEOUT):
            await service.connect()
            await service.send("conformance.seed", {"mark": "m", "body": 1})
            assert await got.get() == {"mark": "m", "body": 1}
    finally:
        await service.disconnect()


async def test_refused_upgrade_names_the_url_and_the_mount_path(mounted: RunningServer) -> None:
    base = f"ws://{mounted.host}:{mounted.port}"
    client = Client(f"{base}/ws")  # the root: nothing there, the app is under /canaux
    with pytest.raises(HandshakeRefused) as raised:
        async with asyncio.timeout(TIMEOUT):
            await client.connect()
    await client.close()
    error = raised.value
    assert (error.url, error.status) == (f"{base}/ws", 403)
    assert f"{base}/ws" in str(error)
    assert "mount_path" in str(error)
    assert "/canaux/ws" in str(error)


@pytest.mark.parametrize("path", ["/events", "/api/events"])
async def test_sse_at_the_note_path_standalone_and_mounted(
    mounted: RunningServer, path: str
) -> None:
    async with running_server(ServerConfig(port=0)) as standalone:
        for server in (standalone, mounted):
            url = f"{server.base_url}{path}"
            async with (
                httpx.AsyncClient(timeout=TIMEOUT) as http,
                http.stream("GET", url, params={"channels": "system"}) as response,
            ):
                assert response.status_code == 200, url
                assert response.headers["content-type"].startswith("text/event-stream")
                async for line in response.aiter_lines():
                    assert line == "event: welcome"
                    break


async def test_sse_reader_from_the_note_sse_url_under_a_mount(
    mounted: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSE_URL", f"http://{mounted.host}:{mounted.port}/api/events")
    service = CentralWebSocketService(
        f"ws://{mounted.host}:{mounted.port}", mount_path="/canaux", shared=False
    )
    reader: SSEReader = service.sse_reader(["system"])
    assert reader.url == f"{mounted.base_url}/events"
    async with reader:
        reading = asyncio.ensure_future(anext(aiter(reader)))
        try:
            async with asyncio.timeout(TIMEOUT):
                welcome = await reader.wait_welcomed()
            assert welcome.resumed is False
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
            await service.disconnect()


async def test_sse_at_a_wrong_path_names_the_url_and_the_mount_path(
    mounted: RunningServer,
) -> None:
    url = f"http://{mounted.host}:{mounted.port}/events"  # the app is under /canaux
    async with SSEReader(url, ["system"], reconnect=False) as reader:
        with pytest.raises(SSEError) as raised:
            async with asyncio.timeout(TIMEOUT):
                await anext(aiter(reader))
    assert raised.value.status == 404
    assert url in str(raised.value)
    assert "mount_path" in str(raised.value)
