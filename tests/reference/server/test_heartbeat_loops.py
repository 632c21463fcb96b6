"""Heartbeats on every event loop ([#10] finding 6): asyncio and uvloop, standalone and mounted.

uvloop's clock (libuv's, cached once per loop iteration, in milliseconds) is not the
``time.monotonic()`` the server's core reads, so its timers may fire a little before the
core's deadline. The server used to take such a wake-up for a timer that had not fired yet and
never armed another: no ping after the first early wake-up (HEARTBEAT-1) and a silent client
never closed (HEARTBEAT-3) — the FastAPI mount of the guide under ``uvicorn`` on uvloop failed
HB-01 and HB-03 every time.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI

from canaux.server import create_app
from canaux.server.testing import RunningServer, running_server, serve_app

from .wire import close_code, make_config, recv, send, session

pytestmark = pytest.mark.anyio

HEARTBEAT_MS = 1000


@pytest.fixture(
    params=[
        pytest.param("asyncio", id="asyncio"),
        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


@contextlib.asynccontextmanager
async def mounted() -> AsyncIterator[RunningServer]:
    """The guide's FastAPI mount: ``app.mount("/canaux", create_app(config))``."""
    config = make_config(heartbeat_ms=HEARTBEAT_MS)
    canaux_app = create_app(config)
    api = FastAPI()
    api.mount("/canaux", canaux_app)
    async with serve_app(api, canaux_app, config, prefix="/canaux") as server:
        yield server


def standalone() -> contextlib.AbstractAsyncContextManager[RunningServer]:
    return running_server(make_config(heartbeat_ms=HEARTBEAT_MS))


SERVERS = [pytest.param(standalone, id="standalone"), pytest.param(mounted, id="mounted")]


@pytest.mark.parametrize("serve", SERVERS)
async def test_an_idle_session_is_pinged_every_interval_heartbeat_1(serve: Any) -> None:
    """[HEARTBEAT-1] a ping whenever the server sent nothing for heartbeat_ms, again and again."""
    async with serve() as server, session(server) as (ws, welcome):
        assert welcome["heartbeat_ms"] == HEARTBEAT_MS
        for _ in range(4):
            # Bounded by the test's timeout only: each ping is due one interval after the last.
            ping = await recv(ws, timeout_s=10)
            assert ping["type"] == "ping"
            await send(
                ws, {"type": "pong", **({"nonce": ping["nonce"]} if "nonce" in ping else {})}
            )


@pytest.mark.parametrize("serve", SERVERS)
async def test_a_silent_client_is_closed_4410_heartbeat_3(serve: Any) -> None:
    """[HEARTBEAT-3] nothing received for 2 x heartbeat_ms: the server closes with 4410."""
    async with serve() as server, session(server) as (ws, _):
        assert await close_code(ws, timeout_s=15) == 4410
