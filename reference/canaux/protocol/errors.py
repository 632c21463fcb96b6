"""Every exception Canaux raises, under one root
(spec error-codes.md, close-codes.md for the codes).

The hierarchy (the module each class lives in, when not this one)::

    CanauxError                      root: every exception of canaux.*
     ├── ProtocolError               the protocol core (canaux.protocol)
     │    ├── LocalProtocolError     this side misused the API (a reply before the welcome …)
     │    │    ├── OutboxFull        too many client operations await an answer
     │    │    └── FrameTooLarge     a client frame over max_frame_bytes (also a ValueError)
     │    ├── RemoteProtocolError    the peer broke the protocol
     │    │    └── FrameError        a JSON value that is not a valid frame (also a ValueError)
     │    └── IJsonError             a text or value outside I-JSON (canaux.protocol.ijson;
     │         │                     also a ValueError): read from the peer, or to be sent
     │         └── UnencodableValue  a value this side cannot send as I-JSON (a TypeError)
     ├── ClientError                 what the client reports (canaux.client.errors)
     │    ├── PublishRejected        the server answered a publish with an error frame
     │    ├── ConnectionClosedByServer  closed with a code that forbids reconnecting
     │    │    ├── HandshakeRefused  the WebSocket upgrade itself was refused (HTTP 4xx)
     │    │    └── ServerBrokeProtocol  the client closed with such a code (1003/1007/1009)
     │    ├── ClientClosed           the client was closed before the operation completed
     │    └── SSEError               an SSE stream failed for good (canaux.client.sse)
     └── ServerError                 a refusal the server turns into a reply (canaux.server)
          ├── Unauthorized           credentials refused: 4401, HTTP 401 (canaux.server.config)
          ├── Refused                a channel refused a publish (canaux.server.channels.channel)
          │    └── CommandRefused    the playqueue refused a command (….channels.playqueue)
          ├── ProgressRefused        progress would go backwards (….channels.progress; ValueError)
          └── SessionsUnavailable    the shared session store is out of reach: 1013
                                     (canaux.server.sessions)

As in h11, *local* errors are bugs on this side (fix the calling code), *remote* ones are the
peer's. The core does not let a peer's mistake escape as an exception:
:class:`~canaux.protocol.server.ServerConnection` turns it into an ``error`` frame or a close
code; :class:`RemoteProtocolError` is raised by the parsing functions a caller uses directly.
Messages are short and lowercase; the exceptions carry structured fields.
"""

from __future__ import annotations

__all__ = [
    "CanauxError",
    "FrameError",
    "FrameTooLarge",
    "LocalProtocolError",
    "OutboxFull",
    "ProtocolError",
    "RemoteProtocolError",
    "ServerError",
]


class CanauxError(Exception):
    """Root of every exception Canaux raises."""


class ProtocolError(CanauxError):
    """Root of the exceptions of :mod:`canaux.protocol`."""


class LocalProtocolError(ProtocolError):
    """This side asked for something the protocol does not allow now (a bug on this side)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow."""


class FrameError(RemoteProtocolError, ValueError):
    """A JSON value that is not a valid frame [OPS-8].

    ``pointer`` is an RFC 6901 JSON pointer into the frame (``""`` for the frame itself),
    ``message`` a short lowercase description, ``frame_id`` the frame's ``id`` when it was a
    string, so that the ``bad_frame`` error can answer it.
    """

    def __init__(self, pointer: str, message: str, frame_id: str | None = None) -> None:
        super().__init__(f"{pointer or '/'}: {message}")
        self.pointer = pointer
        self.message = message
        self.frame_id = frame_id


class OutboxFull(LocalProtocolError):
    """Too many operations are waiting for an answer; the new one was not queued."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"outbox full: {limit} operations await an answer")
        self.limit = limit


class FrameTooLarge(LocalProtocolError, ValueError):
    """The operation's frame is over the server's ``limits.max_frame_bytes`` (LIMIT-2).

    Sending it would make the server close the connection with 1009, after which a client
    must not reconnect (CLIENT-4): the frame is refused here instead.
    """

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"frame of {size} bytes is over max_frame_bytes {limit}")
        self.size = size
        self.limit = limit


class ServerError(CanauxError):
    """Root of the refusals a server (or an application's hook) raises to answer a peer."""
