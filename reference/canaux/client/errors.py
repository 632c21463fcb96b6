"""Exceptions raised by the Canaux client (spec operations.md, error-codes.md,
client.md).

Their root is :class:`~canaux.protocol.errors.CanauxError` (the whole tree is drawn there)::

    ClientError
    ├── PublishRejected          the server answered a publish with an ``error`` frame
    ├── ConnectionClosedByServer the server closed with a code that forbids reconnecting
    │   ├── HandshakeRefused     the WebSocket upgrade itself was refused (HTTP 4xx)
    │   └── ServerBrokeProtocol  the client closed with such a code (the server sent binary,
    │                            a frame that is not I-JSON, one too large)
    └── ClientClosed             the client was closed before the operation completed

:class:`~canaux.protocol.client.OutboxFull` (too many unanswered operations) comes from the
sans-I/O core and is re-exported by :mod:`canaux.client`.
"""

from __future__ import annotations

from canaux.protocol.errors import CanauxError

__all__ = [
    "ClientClosed",
    "ClientError",
    "ConnectionClosedByServer",
    "HandshakeRefused",
    "PublishRejected",
    "ServerBrokeProtocol",
]


class ClientError(CanauxError):
    """Root of the client's exceptions."""


class PublishRejected(ClientError):
    """The server refused a publish (OPS-1): ``code`` is from the registry (error-codes.md)."""

    def __init__(
        self,
        code: str,
        message: str,
        pointer: str | None = None,
        channel: str | None = None,
    ) -> None:
        where = f" at {pointer}" if pointer else ""
        super().__init__(f"{code}{where}: {message}")
        self.code = code
        self.message = message
        self.pointer = pointer
        self.channel = channel


class ConnectionClosedByServer(ClientError):
    """The server closed the connection with a code after which clients must not reconnect.

    [CLIENT-4] the client stops and reports the code to the application instead.
    """

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"connection closed by the server: {code} {reason}".rstrip())
        self.code = code
        self.reason = reason


class ServerBrokeProtocol(ConnectionClosedByServer):
    """The client itself closed with a code marked "no" because of what the server sent.

    [CLIENT-4] "whoever sent the close": ``1003`` after a binary frame (TRANSPORT-4), ``1007``
    after a frame that is not an I-JSON object (TRANSPORT-5), ``1009`` after one over the
    client's ``max_size``. The client does not reconnect: the next connection would most likely
    bring the same frame.
    """

    def __init__(self, code: int, reason: str) -> None:
        ClientError.__init__(self, f"connection closed by the client: {code} {reason}".rstrip())
        self.code = code
        self.reason = reason


class HandshakeRefused(ConnectionClosedByServer):
    """The server answered the WebSocket upgrade with HTTP ``status`` (a 4xx): no retry helps.

    The message names the URL tried and what to check: almost always the path (a server
    mounted under a prefix serves ``<prefix>/ws``), else the credentials or the ``Origin``.
    """

    def __init__(self, url: str, status: int) -> None:
        ClientError.__init__(self, f"{url}: the server refused the WebSocket upgrade with "
                             f"HTTP {status}; {_hint(status)}")  # fmt: skip
        self.url = url
        self.status = status
        self.code = None
        self.reason = f"http status {status}"


def _hint(status: int) -> str:
    if status == 401:
        return "the server wants credentials: give the client a token (token=...)"
    path = (
        "check the path: the Canaux endpoint is <base>/ws, and a server mounted under a prefix "
        "(app.mount('/canaux', ...)) serves <base>/canaux/ws (give the full URL, or "
        "mount_path='/canaux' / CANAUX_MOUNT_PATH=/canaux to the compatibility services)"
    )
    if status == 403:
        return path + "; if the path is right, check the token and the allowed origins"
    return path


class ClientClosed(ClientError):
    """The client was closed; the operation was not (or not known to be) applied."""

    def __init__(self, message: str = "client closed") -> None:
        super().__init__(message)
