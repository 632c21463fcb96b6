"""Error codes and close codes: the one registry in code (spec error-codes.md, close-codes.md).

Every code the reference implementation sends or checks is a member of :class:`ErrorCode`,
:class:`ChatErrorCode` or :class:`CloseCode`; ``tests/reference/protocol/test_codes.py`` checks
these enums against the registry tables of the specification.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "CLOSE_CODES",
    "HTTP_ONLY_ERROR_CODES",
    "ChatErrorCode",
    "CloseCode",
    "CloseCodeInfo",
    "ErrorCode",
    "should_reconnect",
]


class ErrorCode(enum.StrEnum):
    """Why the server refused a client frame: ``error.code`` of an ``error`` frame (the
    connection stays open), or the ``code`` of an HTTP binding's error body."""

    BAD_FRAME = "bad_frame"
    """Not a valid client frame [OPS-8]."""
    UNKNOWN_CHANNEL = "unknown_channel"
    """Channel not in the catalogue [CHANNEL-3]."""
    FORBIDDEN = "forbidden"
    """Publish on a server-only channel, or not allowed for this identity [CHANNEL-4]."""
    INVALID_PAYLOAD = "invalid_payload"
    """``data`` fails the channel's publish schema [CHANNEL-5]."""
    ALREADY_SUBSCRIBED = "already_subscribed"
    """Subscribe while already subscribed [OPS-3]."""
    NOT_SUBSCRIBED = "not_subscribed"
    """Unsubscribe while not subscribed [OPS-4]."""
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
    """Subscribe beyond ``limits.max_subscriptions`` [OPS-5]."""
    INVALID_COMMAND = "invalid_command"
    """Playqueue command not applicable [QUEUE-3]."""
    VERSION_CONFLICT = "version_conflict"
    """Playqueue ``if_version`` mismatch [QUEUE-3]."""
    INTERNAL_ERROR = "internal_error"
    """The server failed on this frame; retrying may work."""
    UNAUTHORIZED = "unauthorized"
    """Missing or rejected credentials on an HTTP request (SSE, HTTP publish); never in an
    ``error`` frame: over WebSocket rejected credentials close with 4401 [HANDSHAKE-7]."""


HTTP_ONLY_ERROR_CODES: frozenset[ErrorCode] = frozenset({ErrorCode.UNAUTHORIZED})
"""Error codes of the HTTP bindings only; every other code may appear in an ``error`` frame."""


class ChatErrorCode(enum.StrEnum):
    """Codes of chat stream ``error`` events (inside chat event data, never in error frames)."""

    AGENT_FAILED = "agent_failed"
    AGENT_TIMEOUT = "agent_timeout"


class CloseCode(enum.IntEnum):
    """WebSocket close codes a Canaux peer uses."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    ABNORMAL_CLOSURE = 1006
    """Reported locally when a connection ends without a close frame; never sent."""
    INVALID_PAYLOAD = 1007
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013
    """The server cannot serve the connection for now (a cluster node cut off from what the
    nodes share, [CLUSTER-6])."""
    BAD_HANDSHAKE = 4400
    UNAUTHORIZED = 4401
    UNSUPPORTED_VERSION = 4406
    HELLO_TIMEOUT = 4408
    DUPLICATE_HELLO = 4409
    HEARTBEAT_TIMEOUT = 4410
    SESSION_REPLACED = 4411
    RATE_LIMITED = 4429
    CREDENTIALS_EXPIRED = 4440
    SLOW_CONSUMER = 4503


@dataclass(frozen=True, slots=True)
class CloseCodeInfo:
    """One row of the close code table: what the code means and whether a client reconnects."""

    meaning: str
    reconnect: bool
    resume: bool = False
    """Whether the reconnection should try to resume the session (informative)."""


CLOSE_CODES: Mapping[CloseCode, CloseCodeInfo] = MappingProxyType(
    {
        CloseCode.NORMAL: CloseCodeInfo("normal closure", reconnect=False),
        CloseCode.GOING_AWAY: CloseCodeInfo(
            "going away: server shutting down or restarting", reconnect=True, resume=True
        ),
        CloseCode.PROTOCOL_ERROR: CloseCodeInfo(
            "the server broke the protocol as the client sees it (seq gap, no subprotocol)",
            reconnect=True,
            resume=True,
        ),
        CloseCode.UNSUPPORTED_DATA: CloseCodeInfo("binary frame received", reconnect=False),
        CloseCode.ABNORMAL_CLOSURE: CloseCodeInfo(
            "connection ended without a close frame (network drop)", reconnect=True, resume=True
        ),
        CloseCode.INVALID_PAYLOAD: CloseCodeInfo("frame not JSON / not an object", reconnect=False),
        CloseCode.MESSAGE_TOO_BIG: CloseCodeInfo("frame over max_frame_bytes", reconnect=False),
        CloseCode.INTERNAL_ERROR: CloseCodeInfo("internal error", reconnect=True, resume=True),
        CloseCode.TRY_AGAIN_LATER: CloseCodeInfo(
            "try again later: the server cannot serve the connection for now",
            reconnect=True,
            resume=True,
        ),
        CloseCode.BAD_HANDSHAKE: CloseCodeInfo(
            "bad handshake: first frame not a valid hello; or subprotocol missing",
            reconnect=False,
        ),
        CloseCode.UNAUTHORIZED: CloseCodeInfo("unauthorized: token rejected", reconnect=False),
        CloseCode.UNSUPPORTED_VERSION: CloseCodeInfo(
            "unsupported protocol version", reconnect=False
        ),
        CloseCode.HELLO_TIMEOUT: CloseCodeInfo("hello timeout", reconnect=True),
        CloseCode.DUPLICATE_HELLO: CloseCodeInfo("duplicate hello", reconnect=False),
        CloseCode.HEARTBEAT_TIMEOUT: CloseCodeInfo(
            "heartbeat timeout", reconnect=True, resume=True
        ),
        CloseCode.SESSION_REPLACED: CloseCodeInfo(
            "session resumed by another connection", reconnect=False
        ),
        CloseCode.RATE_LIMITED: CloseCodeInfo("rate limited", reconnect=True, resume=True),
        CloseCode.CREDENTIALS_EXPIRED: CloseCodeInfo(
            "credentials expired: reconnect with fresh ones", reconnect=True, resume=True
        ),
        CloseCode.SLOW_CONSUMER: CloseCodeInfo(
            "slow consumer: outbound queue overflow", reconnect=True, resume=True
        ),
    }
)
"""The close code table of spec close-codes.md, row by row."""


def should_reconnect(code: int | None) -> bool:
    """Whether a client may reconnect automatically after close code ``code`` [CLIENT-4].

    ``None`` (the connection dropped without any close code) means yes, and so does a code
    outside the registry: the spec's close code table says a client "reconnects as for
    'yes'" on a code it does not know, since later revisions may add codes.
    """
    if code is None:
        return True
    try:
        known = CloseCode(code)
    except ValueError:
        return True
    return CLOSE_CODES[known].reconnect
