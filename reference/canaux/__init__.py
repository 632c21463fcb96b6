"""Canaux reference implementation: many named channels over one WebSocket.

- :mod:`canaux.protocol` — the sans-I/O protocol core (frames, sessions, state machines).
- :mod:`canaux.server` — the server: WebSocket, SSE, legacy sockets and HTTP publish on one port.
- :mod:`canaux.client` — the client: one connection for every component of an app.
"""

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
