"""Client tests run on asyncio (the client is an asyncio library)."""

from __future__ import annotations

import pytest

__all__ = ["anyio_backend"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
