"""Canaux reference implementation: many named channels over one WebSocket.

- :mod:`canaux.protocol` — the sans-I/O protocol core (frames, sessions, state machines).
- :mod:`canaux.server` — the server: WebSocket, SSE, legacy sockets and HTTP publish on one port.
- :mod:`canaux.client` — the client: one connection for every component of an app.

The client names below are loaded on first use, so that ``import canaux.protocol`` (the
sans-I/O core) pulls in no asyncio, websockets or httpx.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from canaux.client import (
        CentralWebSocketService,
        Client,
        ClientState,
        PublishRejected,
        SSEReader,
        WebSocketService,
    )

__all__ = [
    "CentralWebSocketService",
    "Client",
    "ClientState",
    "PublishRejected",
    "SSEReader",
    "WebSocketService",
    "__version__",
]

__version__ = "0.1.0"

_FROM_CLIENT = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    if name in _FROM_CLIENT:
        value = getattr(importlib.import_module("canaux.client"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'canaux' has no attribute {name!r}")
