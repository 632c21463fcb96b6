"""The Canaux client: many channels over one WebSocket that repairs itself (spec client.md).

- :class:`Client` — handlers per channel, ``send`` with acks, reconnect/resume.
- :class:`SSEReader` — read-only streams over Server-Sent Events (sse.md).
- :class:`CentralWebSocketService`, :class:`WebSocketService` — the legacy names (legacy.md
  "Client library names").
"""

from canaux.client.client import SUBPROTOCOL, Client, ClientState, ResetCallback, StateCallback
from canaux.client.compat import (
    CentralWebSocketService,
    WebSocketService,
    resolve_sse_url,
    resolve_ws_url,
)
from canaux.client.errors import (
    ClientClosed,
    ClientError,
    ConnectionClosedByServer,
    HandshakeRefused,
    PublishRejected,
    ServerBrokeProtocol,
)
from canaux.client.handlers import Handler
from canaux.client.sse import SSEError, SSEReader
from canaux.client.tokens import TokenProvider, TokenSource
from canaux.protocol.client import FrameTooLarge, OutboxFull

__all__ = [
    "SUBPROTOCOL",
    "CentralWebSocketService",
    "Client",
    "ClientClosed",
    "ClientError",
    "ClientState",
    "ConnectionClosedByServer",
    "FrameTooLarge",
    "Handler",
    "HandshakeRefused",
    "OutboxFull",
    "PublishRejected",
    "ResetCallback",
    "SSEError",
    "SSEReader",
    "ServerBrokeProtocol",
    "StateCallback",
    "TokenProvider",
    "TokenSource",
    "WebSocketService",
    "resolve_sse_url",
    "resolve_ws_url",
]
