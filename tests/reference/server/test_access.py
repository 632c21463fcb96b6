"""Origin checks and authentication (spec security.md SECURITY-2/8, HANDSHAKE-7, SSE-8)."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from canaux.server import ServerConfig, Unauthorized
from canaux.server.testing import running_server

from .wire import TIMEOUT, close_code, make_config, open_ws, recv, send, session

pytestmark = pytest.mark.anyio

PRINCIPALS = {"alice-phone": "alice", "alice-laptop": "alice", "bob-key": "bob"}


async def authenticate(token: str | None) -> str:
    if token is None or token not in PRINCIPALS:
        raise Unauthorized(token)
    return PRINCIPALS[token]


def auth_config() -> ServerConfig:
    return dataclasses.replace(make_config(), authenticate=authenticate)


async def test_foreign_origins_are_refused() -> None:
    """SECURITY-8: a browser origin the server does not serve cannot connect."""
    config = dataclasses.replace(make_config(), allowed_origins=frozenset({"https://app.test"}))
    async with running_server(config) as server:
        for path in ("/ws", "/ws/chat", "/api/ws"):
            with pytest.raises(InvalidStatus) as refused:
                async with open_ws(server, path, origin="https://evil.test"):
                    pass
            assert refused.value.response.status_code == 403
        async with session(server, connect_options={"origin": "https://app.test"}) as (_, welcome):
            assert welcome["type"] == "welcome"
        async with session(server) as (_, welcome):  # no Origin: not a browser
            assert welcome["type"] == "welcome"
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            response = await client.get(
                server.events_url + "?channels=system", headers={"Origin": "https://evil.test"}
            )
            assert (response.status_code, response.json()["code"]) == (403, "forbidden")


@pytest.mark.parametrize("token", [None, "stolen"])
async def test_rejected_tokens_close_4401(token: str | None) -> None:
    """HANDSHAKE-7."""
    async with running_server(auth_config()) as server, open_ws(server) as ws:
        hello = {"type": "hello", "version": 1, **({"token": token} if token else {})}
        await send(ws, hello)
        assert await close_code(ws) == 4401


async def test_resume_is_bound_to_the_principal() -> None:
    """SECURITY-2: with authentication the identity is the principal, not the token."""
    async with running_server(auth_config()) as server:
        async with session(server, token="alice-phone") as (_, welcome):
            pass
        resume = {"session": welcome["session"], "seq": 0}
        async with session(server, token="bob-key", resume=resume) as (_, other):
            assert other["resumed"] is False
        async with session(server, token="alice-laptop", resume=resume) as (_, again):
            assert (again["resumed"], again["session"]) == (True, welcome["session"])


async def test_sse_and_legacy_need_credentials() -> None:
    """SSE-8 (401 unauthorized); legacy sockets are refused at the handshake."""
    async with running_server(auth_config()) as server:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            response = await client.get(server.events_url + "?channels=system")
            assert (response.status_code, response.json()["code"]) == (401, "unauthorized")
        with pytest.raises(InvalidStatus):
            async with open_ws(server, "/api/ws", subprotocols=[]):
                pass
        headers = {"Authorization": "Bearer bob-key"}
        async with open_ws(server, "/api/ws", subprotocols=[], additional_headers=headers) as ws:
            await send(ws, {"type": "ping"})
            assert await recv(ws) == {"type": "pong"}
