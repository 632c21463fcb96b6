"""Exceptions of the protocol core.

The hierarchy::

    ProtocolError
     ├── LocalProtocolError      this side misused the API (e.g. a reply before the welcome)
     └── RemoteProtocolError     the peer broke the protocol
          └── FrameError         a JSON value that is not a valid frame (carries a pointer)

The core does not let a peer's mistake escape as an exception: :class:`ServerConnection`
turns it into an ``error`` frame or a close code. :class:`RemoteProtocolError` is raised by
the parsing functions a caller uses directly.
"""

from __future__ import annotations

__all__ = ["FrameError", "LocalProtocolError", "ProtocolError", "RemoteProtocolError"]


class ProtocolError(Exception):
    """Root of the exceptions of :mod:`canaux.protocol`."""


class LocalProtocolError(ProtocolError):
    """This side asked for something the protocol does not allow now."""


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
