"""The guide "Authenticate and authorise" runs (docs/examples/auth_server.py, auth_client.py).

The FastAPI backend of the guide is served on a free port: its route issues tokens, the guide's
client fetches one per connection and receives an in-process publish, the caps of the token
decide who may change the play queue [CHANNEL-13], and the custom authenticator accepts its
keys only [HANDSHAKE-7].
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from canaux.server import create_app
from canaux.server.testing import RunningServer, serve_app
from docs.examples import auth_client, auth_server

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 10.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_the_guide_includes_the_example_sections() -> None:
    guide = (REPO / "docs/content/guides/auth.md").read_text(encoding="utf-8")
    for section in ("imports", "token", "app", "custom"):
        assert f'--8<-- "docs/examples/auth_server.py:{section}"' in guide
    assert '--8<-- "docs/examples/auth_client.py:provider"' in guide
    nav = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    assert "guides/auth.md" in nav


async def _hello(server: RunningServer, token: str) -> ClientConnection:
    ws = await connect(server.ws_url, subprotocols=["canaux.v1"], open_timeout=TIMEOUT)  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "hello", "version": 1, "token": token}))
    assert json.loads(await ws.recv())["type"] == "welcome"
    return ws


async def _request(ws: ClientConnection, frame: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps(frame))
    while True:
        reply: dict[str, Any] = json.loads(await ws.recv())
        if reply.get("id") == frame["id"] and reply["type"] in ("ack", "error"):
            return reply


async def test_the_backend_issues_tokens_and_their_caps_decide() -> None:
    async with serve_app(
        auth_server.api, auth_server.canaux, auth_server.config, prefix="/canaux"
    ) as server:
        client = auth_client.realtime_client(f"http://{server.host}:{server.port}")
        notices: asyncio.Queue[Any] = asyncio.Queue()
        client.register_handler("system", notices.put_nowait)
        try:
            async with asyncio.timeout(TIMEOUT):
                await client.wait_ready()
                notice = {"level": "info", "text": "library scan finished"}
                await server.runtime.publish("system", notice)
                assert await notices.get() == notice
        finally:
            await client.close()
        command = {"type": "publish", "id": "q1", "channel": "playqueue", "data": {"op": "clear"}}
        async with asyncio.timeout(TIMEOUT):
            listener = await _hello(server, auth_server.realtime_token("bob"))
            refused = await _request(listener, command)
            assert (refused["type"], refused["code"]) == ("error", "forbidden")
            dj = await _hello(server, auth_server.realtime_token("carol", dj=True))
            assert (await _request(dj, command))["type"] == "ack"
            await listener.close()
            await dj.close()


async def test_the_custom_authenticator_accepts_its_keys_only() -> None:
    config = dataclasses.replace(auth_server.config, authenticate=auth_server.api_key_authenticator)
    app = create_app(config)
    async with serve_app(app, app, config) as server, asyncio.timeout(TIMEOUT):
        ws = await _hello(server, "k-7f3a")
        await ws.close()
        refused = await connect(server.ws_url, subprotocols=["canaux.v1"], open_timeout=TIMEOUT)  # type: ignore[list-item]
        await refused.send(json.dumps({"type": "hello", "version": 1, "token": "nope"}))
        with pytest.raises(ConnectionClosed) as closed:
            await refused.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401
