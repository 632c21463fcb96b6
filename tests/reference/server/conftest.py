"""Fixtures of the reference server tests: asyncio only, servers on 127.0.0.1 port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from canaux.server.testing import RunningServer, running_server

from .redis_server import RedisServer
from .wire import make_config


@pytest.fixture
def anyio_backend() -> str:
    # The server is asyncio (uvicorn); trio is out of scope.
    return "asyncio"


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    async with running_server(make_config()) as running:
        yield running


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One ``redis-server`` for the session's Redis tests (see :mod:`.redis_server`)."""
    with RedisServer() as running:
        yield running


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The URL of an empty Redis database: each test starts from nothing."""
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushall()
        yield redis_server.url
    finally:
        client.close()
