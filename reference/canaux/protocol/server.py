"""Server side of one Canaux connection, sans I/O
(spec transport.md, handshake.md, operations.md, heartbeat.md, limits.md).

:class:`ServerConnection` reads the frames of one WebSocket and decides what the protocol
alone can decide: framing errors, the handshake, heartbeats, rate limiting, malformed
frames. What needs the rest of the server (authentication, sessions, the hub) comes out as
events; the server layer answers through the commands. Sessions outlive connections and are
owned by :class:`~canaux.protocol.sessions.ServerSessions`, never by a connection.

Inputs: :meth:`~ServerConnection.receive_text`, :meth:`~ServerConnection.receive_bytes`,
:meth:`~ServerConnection.tick`, :meth:`~ServerConnection.connection_lost`.
Commands: :meth:`~ServerConnection.welcome`, :meth:`~ServerConnection.reply`,
:meth:`~ServerConnection.send_event_text`,
:meth:`~ServerConnection.close`. Outputs: :meth:`~ServerConnection.data_to_send`,
:meth:`~ServerConnection.events_received`, :attr:`~ServerConnection.close_code`,
:meth:`~ServerConnection.next_deadline`.

States, and what moves between them::

    AWAITING_HELLO --valid hello--> AWAITING_WELCOME --welcome()--> OPEN
          |                               |                          |
          +------- any close -------------+--------------------------+--> CLOSED
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, TypeAlias

from canaux.protocol import frames
from canaux.protocol.channels import Catalogue, is_valid_channel_name
from canaux.protocol.codes import CloseCode, ErrorCode
from canaux.protocol.errors import FrameError, LocalProtocolError
from canaux.protocol.frames import PROTOCOL_VERSION
from canaux.protocol.ijson import IJsonError
from canaux.protocol.limits import Limits
from canaux.protocol.operations import Outcome
from canaux.protocol.outbound import OutboundQueue
from canaux.protocol.session import SessionState

__all__ = [
    "AWAITING_HELLO",
    "AWAITING_WELCOME",
    "CLOSED",
    "HELLO_MAX_BYTES",
    "OPEN",
    "SUPPORTED_VERSIONS",
    "ConnEvent",
    "FrameRejected",
    "HelloReceived",
    "PingReceived",
    "PongReceived",
    "PublishRequested",
    "ServerConnection",
    "State",
    "SubscribeRequested",
    "UnsubscribeRequested",
]

logger = logging.getLogger(__name__)

SUPPORTED_VERSIONS: Final = (PROTOCOL_VERSION,)
HELLO_MAX_BYTES: Final = 8192
"""A hello this long is always accepted, before the client knows the limits [HANDSHAKE-10]."""


class State(enum.Enum):
    """Where a server connection is in its life."""

    AWAITING_HELLO = enum.auto()
    AWAITING_WELCOME = enum.auto()
    OPEN = enum.auto()
    CLOSED = enum.auto()


AWAITING_HELLO = State.AWAITING_HELLO
AWAITING_WELCOME = State.AWAITING_WELCOME
OPEN = State.OPEN
CLOSED = State.CLOSED


# Events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HelloReceived:
    """A valid ``hello``: authenticate, find or create the session, then call ``welcome()``.

    ``identity`` is the token as sent (``None`` when absent); a server with authentication
    replaces it by the principal, or closes with 4401 [HANDSHAKE-7, SECURITY-2].
    """

    hello: frames.Hello
    identity: str | None


@dataclass(frozen=True, slots=True)
class SubscribeRequested:
    """A valid ``subscribe``; answer with exactly one ack or error [OPS-1]."""

    frame: frames.Subscribe


@dataclass(frozen=True, slots=True)
class UnsubscribeRequested:
    """A valid ``unsubscribe``; answer with exactly one ack or error [OPS-1]."""

    frame: frames.Unsubscribe


@dataclass(frozen=True, slots=True)
class PublishRequested:
    """A valid ``publish``; answer with exactly one ack or error [OPS-1]."""

    frame: frames.Publish


@dataclass(frozen=True, slots=True)
class PingReceived:
    """The client pinged; the ``pong`` is already queued [HEARTBEAT-2]."""

    nonce: str | None


@dataclass(frozen=True, slots=True)
class PongReceived:
    """The client answered a ``ping`` (or sent an unsolicited ``pong``)."""

    nonce: str | None


@dataclass(frozen=True, slots=True)
class FrameRejected:
    """A frame was answered with ``bad_frame``; reported for logs and metrics [OPS-8]."""

    error: FrameError


ConnEvent: TypeAlias = (
    HelloReceived
    | SubscribeRequested
    | UnsubscribeRequested
    | PublishRequested
    | PingReceived
    | PongReceived
    | FrameRejected
)


class ServerConnection:
    """The protocol state of one client connection, on the server side.

    ``now`` is any monotonic clock in seconds (the I/O layer's ``loop.time()``); every later
    input takes the same clock.
    """

    def __init__(
        self,
        limits: Limits,
        now: float,
        *,
        supported_versions: Iterable[int] = SUPPORTED_VERSIONS,
    ) -> None:
        self.limits = limits
        self.supported_versions = tuple(supported_versions)
        self._state = AWAITING_HELLO
        self._opened_at = now
        self._last_received = now
        self._last_sent = now
        self._now = now
        self._events: list[ConnEvent] = []
        # [OPS-2] replies leave in the order their frames arrived, whatever order the server
        # layer answers in: one slot per request, flushed from the head once filled, and
        # none before the welcome [HANDSHAKE-2]. [LIMIT-4] bounded: a client that does not
        # read overflows it.
        self._queue = OutboundQueue(limits.outbound_queue, limits.outbound_queue_bytes)
        self._queue.hold_replies = True
        # Pings answered before the welcome [HANDSHAKE-2]; made when one comes (idle memory).
        self._held_pongs: list[str] | None = None
        self._pings_sent = 0
        self._last_ping = now
        # [LIMIT-3] token bucket: capacity max_rate, refilled at max_rate per second.
        self._tokens = float(limits.max_rate)
        self._refilled_at = now
        self.hello: frames.Hello | None = None
        self.session: SessionState | None = None
        self.close_code: int | None = None
        self.close_reason = ""

    # State --------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @state.setter
    def state(self, value: State) -> None:
        logger.debug("%s -> %s", self._state.name, value.name)
        self._state = value

    @property
    def closed(self) -> bool:
        return self._state is CLOSED

    def _clock(self, now: float | None) -> float:
        if now is not None and now > self._now:
            self._now = now
        return self._now

    # Inputs -------------------------------------------------------------------------------

    def receive_text(self, text: str, now: float) -> None:
        """A text frame arrived from the client."""
        if self._state is CLOSED:
            return
        now = self._clock(now)
        # [HEARTBEAT-4] any frame is a sign of life, even one that is then refused.
        self._last_received = now
        if not self._take_token(now):
            return
        # [TRANSPORT-6] [LIMIT-2] "longer than limits.max_frame_bytes (UTF-8 bytes) → close 1009";
        # [HANDSHAKE-10] a hello of up to 8192 bytes passes whatever the limit. A character is
        # 1 to 4 bytes, so the exact count is only needed near the limit.
        limit = self.limits.max_frame_bytes
        if self._state is AWAITING_HELLO:
            limit = max(limit, HELLO_MAX_BYTES)
        if len(text) > limit or (
            len(text) * 4 > limit and len(text.encode("utf-8", "surrogatepass")) > limit
        ):
            self.close(CloseCode.MESSAGE_TOO_BIG, f"frame over {limit} bytes")
            return
        try:
            obj = frames.decode_json(text)
        except ValueError as exc:
            # [TRANSPORT-5] "not valid JSON ... → close 1007"; [TRANSPORT-18] nor is JSON that
            # I-JSON forbids. The reason names the fault, not where (a pointer may be long).
            fault = exc.message if isinstance(exc, IJsonError) else "not valid json"
            self.close(CloseCode.INVALID_PAYLOAD, f"frame is not i-json: {fault}")
            return
        if not isinstance(obj, dict):
            # [TRANSPORT-5] "JSON but not an object → close 1007".
            self.close(CloseCode.INVALID_PAYLOAD, "frame is not a json object")
            return
        if self._state is AWAITING_HELLO:
            self._receive_hello(obj)
        else:
            self._receive_frame(obj)

    def receive_bytes(self, data: bytes, now: float) -> None:
        """A binary frame arrived from the client."""
        del data
        if self._state is CLOSED:
            return
        self._last_received = self._clock(now)
        # [TRANSPORT-4] "A binary frame → the receiver MUST close with 1003."
        self.close(CloseCode.UNSUPPORTED_DATA, "binary frames are not supported")

    def connection_lost(self, now: float) -> None:
        """The socket is gone (closed by the peer, or dropped).

        [RESUME-10] the owner of the session lifecycle detaches the session at every end of
        its connection, so its resume window starts then.
        """
        if self._state is CLOSED:
            return
        self._clock(now)
        self.close(CloseCode.ABNORMAL_CLOSURE, "connection lost")

    def tick(self, now: float) -> None:
        """Let time pass: hello timeout, heartbeat pings, peer silence."""
        if self._state is CLOSED:
            return
        now = self._clock(now)
        if self._state is AWAITING_HELLO:
            # [HANDSHAKE-3] no hello within the hello timeout → close 4408.
            if now >= self._opened_at + self.limits.hello_timeout_ms / 1000.0:
                self.close(CloseCode.HELLO_TIMEOUT, "no hello in time")
            return
        interval = self.limits.heartbeat_ms / 1000.0
        # [HEARTBEAT-3] "received nothing for 2 × heartbeat_ms" → close 4410.
        if now >= self._last_received + 2 * interval:
            self.close(CloseCode.HEARTBEAT_TIMEOUT, "no frame from the client in time")
            return
        # [HEARTBEAT-1] ping after heartbeat_ms without sending anything, or without receiving
        # anything since the last ping: a client that only listens to a busy stream is asked
        # for a sign of life before [HEARTBEAT-3] would cut it. Before the welcome the server
        # may not send anything else first [HANDSHAKE-2].
        if self._state is OPEN and now >= self._ping_due():
            self._last_ping = now
            self._pings_sent += 1
            self._send(frames.encode(frames.Ping(nonce=str(self._pings_sent))), now)

    def _ping_due(self) -> float:
        interval = self.limits.heartbeat_ms / 1000.0
        due = self._last_sent + interval
        if self._last_ping <= self._last_received:
            due = min(due, self._last_received + interval)
        return due

    def next_deadline(self) -> float | None:
        """The time at which :meth:`tick` has something to do; ``None`` once closed."""
        if self._state is CLOSED:
            return None
        if self._state is AWAITING_HELLO:
            return self._opened_at + self.limits.hello_timeout_ms / 1000.0
        interval = self.limits.heartbeat_ms / 1000.0
        silence = self._last_received + 2 * interval
        if self._state is OPEN:
            return min(silence, self._ping_due())
        return silence

    # Commands -----------------------------------------------------------------------------

    def welcome(
        self,
        session: SessionState,
        resumed: bool,
        catalogue: Catalogue,
        now: float | None = None,
    ) -> None:
        """Answer the ``hello`` [HANDSHAKE-2, HANDSHAKE-9]; on resume, replay [RESUME-3].

        Called by :meth:`ServerSessions.welcome <canaux.protocol.sessions.ServerSessions.welcome>`,
        which decided ``resumed`` [RESUME-2]; the replay is taken from the session here, so it
        always follows the welcome immediately. The session's attachment is not this
        connection's business: the sessions object records it [RESUME-4, RESUME-10].
        """
        if self._state is CLOSED:
            return
        if self._state is not AWAITING_WELCOME or self.hello is None:
            raise LocalProtocolError(f"cannot send welcome in state {self._state.name}")
        if not resumed and (session.seq != 0 or session.subscriptions):
            # [HANDSHAKE-15] "When resumed is false, welcome.seq MUST be 0 and the session
            # MUST have no subscriptions."
            raise LocalProtocolError("a fresh session must have seq 0 and no subscriptions")
        replay: list[str] = []
        if resumed:
            if self.hello.resume is None or self.hello.resume.session != session.id:
                raise LocalProtocolError("resumed welcome for a session the hello did not ask")
            found = session.replay_after(self.hello.resume.seq)
            if found is None:
                # [RESUME-2] "never a partial replay": ServerSessions.open() checked it.
                raise LocalProtocolError("resume without the events to replay")
            replay = found
        now = self._clock(now)
        welcome = frames.Welcome(
            # [HANDSHAKE-14] "welcome.version MUST equal hello.version" (a supported one).
            version=self.hello.version,
            session=session.id,
            resumed=resumed,
            seq=session.seq,
            heartbeat_ms=self.limits.heartbeat_ms,
            limits=self.limits.to_welcome(),
            channels=catalogue.to_welcome(),
        )
        # The session's attachment is its owner's to record, not this connection's: a
        # connection ends long after another one may have taken its session over [RESUME-4].
        self.session = session
        self.state = OPEN
        # [RESUME-3] every buffered event with seq > resume.seq, in order, right after welcome.
        # Bounded by the resume buffer already [LIMIT-11]: neither counts against the live
        # events that follow, so a full replay never cuts the client that asked for it.
        self._last_sent = now
        self._queue.put(frames.encode(welcome), bounded=False)
        for text in replay:
            self._queue.put(text, bounded=False)
        for text in self._held_pongs or ():
            self._send(text, now)
        self._held_pongs = None
        # Only the welcome reads the hello: an idle connection does not keep the frame (its
        # pydantic model weighs about 0.5 KiB).
        self.hello = None
        self._queue.release()

    @property
    def pending_replies(self) -> list[str | None]:
        """Ids of the requests still waiting for a reply, oldest first (``None``: bad frame)."""
        return self._queue.pending_replies

    def reply(self, outcome: Outcome, now: float | None = None) -> None:
        """Answer a request with its decided, committed reply [OPS-1].

        The one reply path: the outcome comes from
        :class:`~canaux.protocol.sessions.ServerSessions`, which remembered it for dedup
        first [OPS-9]. The reply leaves once every earlier request is answered [OPS-2].
        """
        if not outcome.committed:
            raise LocalProtocolError("commit a decision before sending its reply [OPS-9]")
        if self._state is CLOSED:
            return
        if self._state is AWAITING_HELLO:
            raise LocalProtocolError("cannot reply before the hello")
        if not self._queue.fill(outcome.frame_id, outcome.reply):
            raise LocalProtocolError(f"no request {outcome.frame_id!r} is waiting for a reply")
        if self._state is OPEN:
            self._last_sent = self._clock(now)

    def send_event_text(self, text: str, now: float | None = None) -> bool:
        """Send an encoded ``event`` frame; ``False`` when the connection is already closed.

        Closing races with fan-out, so a closed connection drops the event quietly: the
        session's resume buffer still holds it.
        """
        if self._state is CLOSED:
            return False
        self._require_open("send an event")
        self._last_sent = self._clock(now)
        # A reply already decided but waiting for an earlier one is not overtaken by an event
        # sent after it (a chat chunk after its ack [CHAT-1]).
        if not self._queue.put(text, after_replies=True):
            self._overflowed()
        return True

    def close(self, code: int, reason: str = "") -> None:
        """Ask the I/O layer to close the connection with ``code``; later inputs are ignored.

        Frames queued before the close are still in :meth:`data_to_send`, so an ``error``
        can precede the close frame.
        """
        if self._state is CLOSED:
            return
        self.close_code = int(code)
        self.close_reason = reason
        if code == CloseCode.SLOW_CONSUMER:
            # [LIMIT-4] the client is not reading: what is queued would only wait longer.
            self._queue.clear()
        self._queue.drop_replies()
        # The session is NOT detached here: after a takeover [RESUME-4] this connection no
        # longer carries it, and detaching it would start the resume window of a live
        # session, which a later refused resume then discarded [RESUME-12]. The owner of
        # the session lifecycle detaches it when this connection ends [RESUME-10].
        self.state = CLOSED

    # Outputs ------------------------------------------------------------------------------

    def data_to_send(self) -> list[str]:
        """Frames to write to the socket, in order; each call hands them over once."""
        return self._queue.take()

    def events_received(self) -> list[ConnEvent]:
        """Events for the server layer, in the order the frames arrived [OPS-2]."""
        out, self._events = self._events, []
        return out

    # Internals ----------------------------------------------------------------------------

    def _require_open(self, what: str) -> None:
        if self._state is not OPEN:
            # [HANDSHAKE-2] nothing but the welcome goes out first.
            raise LocalProtocolError(f"cannot {what} in state {self._state.name}")

    def _send(self, text: str, now: float) -> None:
        self._last_sent = now
        if not self._queue.put(text):
            self._overflowed()

    def _overflowed(self) -> None:
        # [LIMIT-4] the I/O layer drains data_to_send() as the socket accepts writes; a queue
        # that keeps growing means the client does not read.
        self.close(CloseCode.SLOW_CONSUMER, "outbound queue overflow")

    def _expect_reply(self, frame_id: str | None, text: str | None = None) -> None:
        if not self._queue.expect(frame_id, text):
            self._overflowed()
        elif text is not None and self._state is OPEN:
            self._last_sent = self._now

    def _take_token(self, now: float) -> bool:
        rate = float(self.limits.max_rate)
        self._tokens = min(rate, self._tokens + (now - self._refilled_at) * rate)
        self._refilled_at = now
        if self._tokens < 1.0:
            # [LIMIT-3] "Over max_rate → close 4429."
            self.close(CloseCode.RATE_LIMITED, f"over {self.limits.max_rate} frames per second")
            return False
        self._tokens -= 1.0
        return True

    def _receive_hello(self, obj: dict[str, object]) -> None:
        try:
            frame = frames.parse_client_frame(obj)
        except FrameError as exc:
            # [HANDSHAKE-4] first frame not a valid hello → 4400.
            self.close(CloseCode.BAD_HANDSHAKE, f"invalid hello: {exc}")
            return
        if not isinstance(frame, frames.Hello):
            # [HANDSHAKE-1] "The client's first frame MUST be hello." [HANDSHAKE-4] → 4400.
            self.close(CloseCode.BAD_HANDSHAKE, f"first frame must be hello, not {frame.type}")
            return
        if frame.version not in self.supported_versions:
            # [HANDSHAKE-5] the reason lists the supported versions.
            supported = ", ".join(str(v) for v in self.supported_versions)
            self.close(CloseCode.UNSUPPORTED_VERSION, f"supported: {supported}")
            return
        self.hello = frame
        self.state = AWAITING_WELCOME
        self._events.append(HelloReceived(frame, frame.token))

    def _receive_frame(self, obj: dict[str, object]) -> None:
        if obj.get("type") == "hello":
            # [HANDSHAKE-6] "A second hello on the same connection → close 4409", valid or not.
            self.close(CloseCode.DUPLICATE_HELLO, "duplicate hello")
            return
        try:
            frame = frames.parse_client_frame(obj)
            if isinstance(
                frame, frames.Subscribe | frames.Unsubscribe | frames.Publish
            ) and not is_valid_channel_name(frame.channel):
                # [CHANNEL-8] the schema's pattern, searched with Python's re, lets "name\n"
                # through; the grammar does not.
                raise FrameError("/channel", "not a channel name", frame.id)
        except FrameError as exc:
            self._reject(exc)
            return
        if isinstance(frame, frames.Subscribe):
            self._expect_reply(frame.id)
            self._events.append(SubscribeRequested(frame))
        elif isinstance(frame, frames.Unsubscribe):
            self._expect_reply(frame.id)
            self._events.append(UnsubscribeRequested(frame))
        elif isinstance(frame, frames.Publish):
            self._expect_reply(frame.id)
            self._events.append(PublishRequested(frame))
        elif isinstance(frame, frames.Ping):
            # [HEARTBEAT-2] answer a ping with a pong carrying the same nonce, promptly; a
            # pong is no request reply, so it does not wait for pending ones.
            pong = frames.encode(frames.Pong(nonce=frame.nonce))
            if self._state is OPEN:
                self._send(pong, self._now)
            else:
                if self._held_pongs is None:
                    self._held_pongs = []
                self._held_pongs.append(pong)  # [HANDSHAKE-2] the welcome goes first
            self._events.append(PingReceived(frame.nonce))
        elif isinstance(frame, frames.Pong):
            self._events.append(PongReceived(frame.nonce))
        else:  # pragma: no cover - parse_client_frame only returns the types above
            raise AssertionError(f"unexpected frame {frame!r}")

    def _reject(self, exc: FrameError) -> None:
        # [OPS-8] bad_frame with pointer, and id when the frame had a string id; the
        # connection stays open.
        error = frames.Error(
            code=ErrorCode.BAD_FRAME, message=exc.message, id=exc.frame_id, pointer=exc.pointer
        )
        # Its place among the replies is the frame's place among the requests [OPS-2].
        self._expect_reply(exc.frame_id, frames.encode(error))
        self._events.append(FrameRejected(exc))
