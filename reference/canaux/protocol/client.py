"""The client side of a Canaux connection, sans I/O
(spec handshake.md, operations.md, resume.md, heartbeat.md, client.md).

:class:`ClientConnection` holds everything a client must remember across sockets: the
session and the last contiguous ``seq`` (to resume), the channels the application wants,
and every operation not yet answered (to re-send it with the same id). It reads no
socket and keeps no clock: the I/O layer calls :meth:`ClientConnection.connection_made`
when a socket opens, feeds every received text to :meth:`ClientConnection.receive_text`,
calls :meth:`ClientConnection.tick` when :meth:`ClientConnection.next_deadline` passes and
:meth:`ClientConnection.connection_lost` when the socket is gone; it writes out
:meth:`ClientConnection.data_to_send` and acts on :meth:`ClientConnection.events_received`.
When :attr:`ClientConnection.failure` is set the I/O layer must close the socket with its
code (or just drop it when ``send_close`` is false), then reconnect: the next ``hello``
asks to resume from the last contiguous seq.
"""

from __future__ import annotations

import enum
import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias

from canaux.protocol.codes import CloseCode, ErrorCode
from canaux.protocol.errors import FrameTooLarge, LocalProtocolError, OutboxFull
from canaux.protocol.frames import (
    PROTOCOL_VERSION,
    Ack,
    Error,
    Event,
    FrameError,
    Hello,
    Ping,
    Pong,
    Publish,
    ResumeRequest,
    Subscribe,
    Unsubscribe,
    Welcome,
    decode_json,
    encode,
    parse_server_frame,
)

__all__ = [
    "CLOSED",
    "HANDSHAKING",
    "IDLE",
    "OPEN",
    "PROTOCOL_ERROR",
    "Acked",
    "ClientConnection",
    "ClientEvent",
    "ConnectionState",
    "Dropped",
    "EventReceived",
    "Failure",
    "FrameTooLarge",
    "LocalProtocolError",
    "OutboxFull",
    "Rejected",
    "Reset",
    "Welcomed",
]

logger = logging.getLogger("canaux.protocol.client")

PROTOCOL_ERROR = 1002
"""Close code (RFC 6455 "protocol error") for a server that broke the protocol, e.g. a seq gap."""

DEFAULT_HEARTBEAT_MS = 15000
"""Silence allowance before the first ``welcome`` tells the real interval
(heartbeat.md: the reference default)."""

Operation: TypeAlias = Subscribe | Unsubscribe | Publish


class ConnectionState(enum.Enum):
    """Where the current socket is in its life."""

    IDLE = "idle"
    """No socket: never connected yet, or the last one was lost."""
    HANDSHAKING = "handshaking"
    """``hello`` sent, waiting for ``welcome``."""
    OPEN = "open"
    """``welcome`` received: operations flow."""
    CLOSED = "closed"
    """The socket must be closed (see :attr:`ClientConnection.failure`)."""


IDLE = ConnectionState.IDLE
HANDSHAKING = ConnectionState.HANDSHAKING
OPEN = ConnectionState.OPEN
CLOSED = ConnectionState.CLOSED


@dataclass(frozen=True, slots=True)
class Failure:
    """Why the current socket must be closed, and how (CLIENT-3, HEARTBEAT-4, TRANSPORT-4/5)."""

    code: int
    reason: str
    send_close: bool = True
    """False when the peer is presumed dead: drop the socket without a closing handshake."""


@dataclass(frozen=True, slots=True)
class Welcomed:
    """The server answered ``hello``; operations may flow."""

    session: str
    resumed: bool
    welcome: Welcome


@dataclass(frozen=True, slots=True)
class Reset:
    """The session was lost (``resumed: false`` after having one): state is stale (RESUME-5)."""

    old_session: str
    new_session: str


@dataclass(frozen=True, slots=True)
class EventReceived:
    """An event, in order, exactly once (duplicates were dropped, CLIENT-3)."""

    channel: str
    data: Any
    seq: int


@dataclass(frozen=True, slots=True)
class Acked:
    """Operation ``id`` was accepted (OPS-1)."""

    id: str
    operation: Operation


@dataclass(frozen=True, slots=True)
class Rejected:
    """Operation ``id`` was refused (OPS-1); ``id`` is None for an error tied to no frame."""

    id: str | None
    code: str
    message: str
    pointer: str | None = None
    channel: str | None = None
    operation: Operation | None = None


@dataclass(frozen=True, slots=True)
class Dropped:
    """Operation ``id``, queued before the limits were known, is too large to send (LIMIT-2)."""

    id: str
    operation: Operation
    error: FrameTooLarge


ClientEvent: TypeAlias = Welcomed | Reset | EventReceived | Acked | Rejected | Dropped


class ClientConnection:
    """Sans-I/O state of one logical client: a session that outlives its sockets."""

    def __init__(
        self,
        *,
        token: str | None = None,
        outbox_limit: int = 1000,
        id_prefix: str = "c",
    ) -> None:
        if outbox_limit < 1:
            raise ValueError("outbox_limit must be >= 1")
        self.token = token
        self.outbox_limit = outbox_limit
        self.id_prefix = id_prefix
        self.state = IDLE
        self.session: str | None = None
        self.last_seq = 0
        """Highest seq received contiguously in :attr:`session` (RESUME-1)."""
        self.heartbeat_ms = DEFAULT_HEARTBEAT_MS
        self.welcome: Welcome | None = None
        self.failure: Failure | None = None
        self._wanted: dict[str, None] = {}
        # Insertion order is the order operations were issued: re-sending them in that
        # order after a reconnect keeps subscribe/unsubscribe/publish sequences meaningful.
        self._pending: OrderedDict[str, Operation] = OrderedDict()
        self._counter = 0
        self._last_heard: float | None = None
        self._ping_due: float | None = None
        self._spoke = False
        """Whether a frame was queued since the keep-alive check last ran."""
        self._pings = 0
        self._events: list[ClientEvent] = []
        self._outgoing: list[str] = []

    # -- queries ------------------------------------------------------------------------

    @property
    def subscriptions(self) -> frozenset[str]:
        """The channels the application wants to receive."""
        return frozenset(self._wanted)

    @property
    def pending(self) -> dict[str, Operation]:
        """Operations sent or queued and not yet answered, id → frame, in issue order."""
        return dict(self._pending)

    def next_deadline(self) -> float | None:
        """When :meth:`tick` must be called next, or None without a socket."""
        if self.state not in (HANDSHAKING, OPEN) or self._last_heard is None:
            return None
        # [HEARTBEAT-4] "treat the server as dead after 2 × heartbeat_ms of silence".
        silence = self._last_heard + 2 * self.heartbeat_ms / 1000
        if self.state is OPEN and self._ping_due is not None:
            return min(silence, self._ping_due)
        return silence

    # -- transport lifecycle ------------------------------------------------------------

    def connection_made(self, now: float) -> None:
        """A socket is open: say ``hello``, resuming the session when there is one."""
        if self.state in (HANDSHAKING, OPEN):
            raise LocalProtocolError(f"connection_made while {self.state.value}")
        self.state = HANDSHAKING
        self.failure = None
        self._last_heard = now
        # Optional members are left out rather than set to None: null is not a valid value.
        members: dict[str, Any] = {"version": PROTOCOL_VERSION}
        if self.token is not None:
            members["token"] = self.token
        if self.session is not None:
            # [RESUME-1] seq = the highest seq received contiguously.
            members["resume"] = ResumeRequest(session=self.session, seq=self.last_seq)
        # [HANDSHAKE-1] hello is the first frame of every connection.
        self._send(Hello(**members))

    def connection_lost(self) -> None:
        """The socket is gone; everything unanswered stays pending for the next one (RESUME-6)."""
        self.state = IDLE
        self._last_heard = None
        self._ping_due = None
        # Frames not written yet belong to the dead socket; pending operations are
        # re-sent from :attr:`_pending` after the next welcome.
        self._outgoing.clear()

    def reading_resumed(self, now: float) -> None:
        """The I/O layer read nothing for a while on its own account (its application was behind).

        [CLIENT-12] "while it is not reading, the client MUST NOT count the server as silent":
        the silence allowance restarts at ``now``.
        """
        if self.state in (HANDSHAKING, OPEN) and self._last_heard is not None:
            self._last_heard = max(self._last_heard, now)

    def tick(self, now: float) -> None:
        """Check the peer-silence deadline (HEARTBEAT-4) and keep our side of the link alive."""
        if self.state not in (HANDSHAKING, OPEN) or self._last_heard is None:
            return
        if now >= self._last_heard + 2 * self.heartbeat_ms / 1000:
            self._fail(
                Failure(
                    CloseCode.HEARTBEAT_TIMEOUT,
                    f"server silent for {2 * self.heartbeat_ms} ms",
                    send_close=False,
                )
            )
            return
        if self.state is OPEN and self._ping_due is not None and now >= self._ping_due:
            # [HEARTBEAT-3] the server closes a client it has not heard for 2 × heartbeat_ms,
            # and a client that only listens sends nothing unless the server pings — which
            # it does only when it has sent nothing itself (HEARTBEAT-1). So a client that
            # said nothing for half an interval says ping: it is never silent for a full one.
            if not self._spoke:
                self._pings += 1
                self._send(Ping(nonce=f"k{self._pings}"))
            self._spoke = False
            self._ping_due = now + self.heartbeat_ms / 2000

    # -- input --------------------------------------------------------------------------

    def receive_text(self, text: str, now: float) -> None:
        """Handle one text frame from the server."""
        if self.state not in (HANDSHAKING, OPEN):
            return
        # [HEARTBEAT-4] "Any frame counts as a sign of life."
        self._last_heard = now
        try:
            obj = decode_json(text)
        except ValueError:
            # [TRANSPORT-5] not JSON, or not an object → 1007.
            self._fail(Failure(CloseCode.INVALID_PAYLOAD, "frame is not json"))
            return
        if not isinstance(obj, dict):
            self._fail(Failure(CloseCode.INVALID_PAYLOAD, "frame is not a json object"))
            return
        try:
            frame = parse_server_frame(_known_error_code(obj))
        except FrameError as exc:
            self._fail(Failure(PROTOCOL_ERROR, f"invalid server frame: {exc}"))
            return
        if self.state is HANDSHAKING:
            if isinstance(frame, Welcome):
                self._handle_welcome(frame)
                self._spoke = False
                self._ping_due = now + self.heartbeat_ms / 2000
            elif isinstance(frame, Ping):
                self._send(_pong(frame))
            else:
                # [HANDSHAKE-2] welcome comes before any other frame.
                self._fail(Failure(PROTOCOL_ERROR, f"{frame.type} before welcome"))
            return
        if isinstance(frame, Event):
            self._handle_event(frame)
        elif isinstance(frame, Ack):
            self._handle_ack(frame)
        elif isinstance(frame, Error):
            self._handle_error(frame)
        elif isinstance(frame, Ping):
            # [HEARTBEAT-2] answer a ping with a pong carrying the same nonce.
            self._send(_pong(frame))
        elif isinstance(frame, Pong):
            pass
        else:
            self._fail(Failure(PROTOCOL_ERROR, "second welcome on one connection"))

    def receive_bytes(self, data: bytes) -> None:
        """A binary frame: [TRANSPORT-4] the receiver closes with 1003."""
        if self.state in (HANDSHAKING, OPEN):
            self._fail(Failure(CloseCode.UNSUPPORTED_DATA, "binary frame"))

    # -- commands -----------------------------------------------------------------------

    def subscribe(self, channel: str) -> str | None:
        """Want ``channel``; returns the id of the subscribe operation, None if already wanted."""
        if channel in self._wanted:
            return None
        op_id = self._issue(Subscribe(id=self._next_id(), channel=channel))
        self._wanted[channel] = None
        return op_id

    def unsubscribe(self, channel: str) -> str | None:
        """Stop wanting ``channel``; returns the operation id, None if it was not wanted."""
        if channel not in self._wanted:
            return None
        op_id = self._issue(Unsubscribe(id=self._next_id(), channel=channel))
        del self._wanted[channel]
        return op_id

    def publish(self, channel: str, data: Any) -> str:
        """Publish ``data`` on ``channel``; returns the operation id to await its answer.

        Raises :class:`OutboxFull`, :class:`ValueError` for an invalid channel name and
        :class:`TypeError` for data that is not JSON.
        """
        return self._issue(Publish(id=self._next_id(), channel=channel, data=data))

    def forget(self, frame_id: str) -> None:
        """Stop tracking an operation the application gave up on (it is not re-sent)."""
        self._pending.pop(frame_id, None)

    def ping(self, nonce: str | None = None) -> None:
        """Send a ``ping`` (the server answers with ``pong``; any frame proves it alive)."""
        if self.state is OPEN:
            self._send(Ping(nonce=nonce) if nonce is not None else Ping())

    # -- output -------------------------------------------------------------------------

    def events_received(self) -> list[ClientEvent]:
        """Events produced since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def data_to_send(self) -> list[str]:
        """Text frames to write, in order, since the last call."""
        out, self._outgoing = self._outgoing, []
        return out

    # -- internals ----------------------------------------------------------------------

    def _next_id(self) -> str:
        # Ids are never reused, not even across sessions: an id names one operation.
        self._counter += 1
        return f"{self.id_prefix}{self._counter}"

    def _issue(self, op: Operation) -> str:
        if len(self._pending) >= self.outbox_limit:
            raise OutboxFull(self.outbox_limit)
        # Encode now: data that is not JSON fails in the caller, not at a later reconnect.
        text = encode(op)
        problem = self._too_large(text)
        if problem is not None:
            raise problem
        self._pending[op.id] = op
        if self.state is OPEN:
            self._spoke = True
            self._outgoing.append(text)
        return op.id

    def _too_large(self, text: str) -> FrameTooLarge | None:
        if self.welcome is None:
            return None  # the limit is not known before the first welcome
        size = len(text.encode("utf-8"))
        limit = self.welcome.limits.max_frame_bytes
        return FrameTooLarge(size, limit) if size > limit else None

    def _send(self, frame: Hello | Operation | Ping | Pong) -> None:
        self._spoke = True
        self._outgoing.append(encode(frame))

    def _fail(self, failure: Failure) -> None:
        if self.state is CLOSED:
            return
        logger.info("closing connection: %s (%d)", failure.reason, failure.code)
        self.failure = failure
        self.state = CLOSED

    def _handle_welcome(self, welcome: Welcome) -> None:
        if welcome.version != PROTOCOL_VERSION:
            # The server must speak the version of our hello or refuse it (HANDSHAKE-5).
            self._fail(Failure(PROTOCOL_ERROR, f"server speaks version {welcome.version}"))
            return
        old = self.session
        self.welcome = welcome
        self.heartbeat_ms = welcome.heartbeat_ms
        self.state = OPEN
        for op in list(self._pending.values()):
            # Queued before the limits were known (or the server lowered them): sending it
            # would get the connection closed with 1009 for good.
            problem = self._too_large(encode(op))
            if problem is not None:
                del self._pending[op.id]
                self._events.append(Dropped(op.id, op, problem))
        if welcome.resumed:
            if old is None or welcome.session != old:
                self._fail(Failure(PROTOCOL_ERROR, "resumed a session that was not asked for"))
                return
            if welcome.seq < self.last_seq:
                # The server claims fewer events than we already hold: its replay cannot be right.
                self._fail(Failure(PROTOCOL_ERROR, "welcome.seq below the last received seq"))
                return
            self._events.append(Welcomed(welcome.session, True, welcome))
            resend: Iterable[Operation] = list(self._pending.values())
        else:
            # [RESUME-2] a fresh session: new id, seq restarts, no subscriptions on the server.
            self.session = welcome.session
            self.last_seq = welcome.seq
            self._events.append(Welcomed(welcome.session, False, welcome))
            if old is not None:
                # [RESUME-5]/[CLIENT-2] channel state is stale: tell the application.
                self._events.append(Reset(old, welcome.session))
            resend = self._fresh_session_operations()
        # [RESUME-6] re-send every unanswered operation with its id (applied once by OPS-9).
        for op in resend:
            self._send(op)

    def _fresh_session_operations(self) -> list[Operation]:
        """Operations to send on a session that has no subscriptions yet (RESUME-5, RESUME-6).

        Every wanted channel without an operation in flight gets a new subscribe; then the
        pending operations follow in their order, so a channel whose last pending operation
        is a subscribe ends up subscribed and one whose last is an unsubscribe does not.
        """
        busy = {op.channel for op in self._pending.values() if not isinstance(op, Publish)}
        fresh: list[Operation] = []
        for channel in self._wanted:
            if channel not in busy:
                op = Subscribe(id=self._next_id(), channel=channel)
                self._pending[op.id] = op
                fresh.append(op)
        fresh_ids = {op.id for op in fresh}
        return fresh + [op for op in self._pending.values() if op.id not in fresh_ids]

    def _handle_event(self, event: Event) -> None:
        if event.seq <= self.last_seq:
            # [CLIENT-3] a duplicate: already delivered, drop it.
            logger.debug("dropping duplicate event seq %d", event.seq)
            return
        if event.seq != self.last_seq + 1:
            # [CLIENT-3] a gap is a protocol failure: close, reconnect, resume from last_seq.
            self._fail(
                Failure(PROTOCOL_ERROR, f"seq gap: expected {self.last_seq + 1}, got {event.seq}")
            )
            return
        self.last_seq = event.seq
        self._events.append(EventReceived(event.channel, event.data, event.seq))

    def _handle_ack(self, ack: Ack) -> None:
        op = self._pending.pop(ack.id, None)
        if op is None:
            # An answer to an operation re-sent after resume, already answered (OPS-9).
            return
        self._events.append(Acked(ack.id, op))

    def _handle_error(self, error: Error) -> None:
        op = self._pending.pop(error.id, None) if error.id is not None else None
        if error.id is not None and op is None:
            return
        # [OPS-3]/[OPS-4] a subscription operation answered "already so" reached the state it
        # asked for; this happens when a lost session makes us re-send it (RESUME-6).
        benign = (isinstance(op, Subscribe) and error.code == ErrorCode.ALREADY_SUBSCRIBED) or (
            isinstance(op, Unsubscribe) and error.code == ErrorCode.NOT_SUBSCRIBED
        )
        if benign and op is not None and error.id is not None:
            self._events.append(Acked(error.id, op))
            return
        if isinstance(op, Subscribe) and self._wanted_matches(op):
            # The server refused the channel: stop wanting it so a reconnect does not retry
            # a subscription that can only fail again.
            self._wanted.pop(op.channel, None)
        self._events.append(
            Rejected(
                error.id,
                str(error.code),
                error.message,
                pointer=error.pointer,
                channel=error.channel,
                operation=op,
            )
        )

    def _wanted_matches(self, op: Subscribe) -> bool:
        later = [
            o
            for o in self._pending.values()
            if not isinstance(o, Publish) and o.channel == op.channel
        ]
        return op.channel in self._wanted and not later


def _known_error_code(obj: dict[str, Any]) -> dict[str, Any]:
    """[OPS-19] An ``error`` code the client does not know is read as ``internal_error``.

    A newer server may send codes this client predates; the request is refused as by a server
    failure and the connection stays open. The original code stays in the message.
    """
    code = obj.get("code")
    if obj.get("type") != "error" or not isinstance(code, str) or code in _KNOWN_ERROR_CODES:
        return obj
    logger.info("unknown error code %r read as internal_error (OPS-19)", code)
    message = obj.get("message")
    return {
        **obj,
        "code": ErrorCode.INTERNAL_ERROR.value,
        "message": f"{message} (code {code})" if isinstance(message, str) else f"code {code}",
    }


_KNOWN_ERROR_CODES: frozenset[str] = frozenset(code.value for code in ErrorCode)


def _pong(ping: Ping) -> Pong:
    return Pong(nonce=ping.nonce) if ping.nonce is not None else Pong()
