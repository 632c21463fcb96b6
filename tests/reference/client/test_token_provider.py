"""Token providers (CLIENT-10): asked before every connection, retried when they fail."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

import pytest

from canaux.client import Client, ClientClosed, SSEReader
from canaux.client.tokens import resolve_token
from canaux.server import ServerConfig, Unauthorized
from canaux.server.testing import running_server

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0


async def _known(token: str | None) -> str:
    if token is None or not token.startswith("good-"):
        raise Unauthorized("unknown token")
    return "user"


CONFIG = dataclasses.replace(ServerConfig(port=0, conformance=True), authenticate=_known)


async def test_a_failing_provider_is_retried_after_a_backoff() -> None:
    attempts: list[int] = []

    def provider() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("auth service down")
        return f"good-{len(attempts)}"

    async with running_server(CONFIG) as server:
        client = Client(server.ws_url, token=provider, backoff_base=0.01, backoff_cap=0.05)
        try:
            async with asyncio.timeout(TIMEOUT):
                await client.connect()
        finally:
            await client.close()
    assert len(attempts) == 3
    assert client.connections_opened == 1


async def test_sse_reader_asks_its_provider_for_each_stream() -> None:
    issued: list[str] = []

    async def provider() -> str:
        issued.append(f"good-{len(issued)}")
        return issued[-1]

    async with running_server(CONFIG) as server:
        reader = SSEReader(server.events_url, ["system"], token=provider)
        async with reader:
            reading = asyncio.ensure_future(anext(aiter(reader)))
            try:
                async with asyncio.timeout(TIMEOUT):
                    welcome = await reader.wait_welcomed()
            finally:
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reading
    assert welcome.resumed is False
    assert issued == ["good-0"]


async def test_resolve_token_checks_what_a_provider_returns() -> None:
    assert await resolve_token("fixed") == "fixed"
    assert await resolve_token(None) is None
    assert await resolve_token(lambda: None) is None
    with pytest.raises(TypeError, match="int"):
        await resolve_token(lambda: 3)  # type: ignore[arg-type,return-value]


async def test_close_does_not_wait_for_a_hanging_provider() -> None:
    asked = asyncio.Event()

    async def provider() -> str:
        asked.set()
        await asyncio.Event().wait()  # never answers
        return "good-never"

    async with running_server(CONFIG) as server:
        client = Client(server.ws_url, token=provider, open_timeout=60.0)
        connecting = asyncio.ensure_future(client.connect())
        async with asyncio.timeout(TIMEOUT):
            await asked.wait()
            await client.close()  # bounded by TIMEOUT, not by the provider's 60 s
            with pytest.raises(ClientClosed):
                await connecting
