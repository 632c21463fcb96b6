"""Exceptions raised by the Canaux client (spec §5 "Operations", §12 "Registries", §16).

::

    ClientError
    ├── PublishRejected          the server answered a publish with an ``error`` frame
    ├── ConnectionClosedByServer the server closed with a code that forbids reconnecting
    └── ClientClosed             the client was closed before the operation completed

:class:`~canaux.protocol.client.OutboxFull` (too many unanswered operations) comes from the
sans-I/O core and is re-exported by :mod:`canaux.client`.
"""

from __future__ import annotations

__all__ = ["ClientClosed", "ClientError", "ConnectionClosedByServer", "PublishRejected"]


class ClientError(Exception):
    """Root of the client's exceptions."""


class PublishRejected(ClientError):
    """The server refused a publish (OPS-1): ``code`` comes from the error registry (§12)."""

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


class ClientClosed(ClientError):
    """The client was closed; the operation was not (or not known to be) applied."""

    def __init__(self, message: str = "client closed") -> None:
        super().__init__(message)
