"""Fixtures of the hostile tests: asyncio only, servers on 127.0.0.1 port 0."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    # The server is asyncio (uvicorn); trio is out of scope.
    return "asyncio"
