"""Fixtures of the reference server tests: asyncio only, servers on 127.0.0.1 port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from canaux.server.testing import RunningServer, running_server

from .wire import make_config


@pytest.fixture
def anyio_backend() -> str:
    # The server is asyncio (uvicorn); trio is out of scope.
    return "asyncio"


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    async with running_server(make_config()) as running:
        yield running
