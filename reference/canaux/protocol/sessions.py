"""Every session of one server and its whole lifecycle, sans I/O
(spec handshake.md, channels.md to resume.md, security.md, sse.md).

:class:`ServerSessions` is the ONE owner of the session lifecycle. Every front door (the
WebSocket, the SSE stream) drives it the same way and never touches a session's fields, the
way python-websockets' asyncio connection only pumps bytes into its ``Protocol``:

- **hello** → :meth:`~ServerSessions.open` (create, or resume under RESUME-2) →
  :meth:`~ServerSessions.welcome` (the welcome, then the replay [RESUME-3]) →
  :meth:`~ServerSessions.attach` (live events flow; a previous connection is replaced
  [RESUME-4]);
- **request** → ``decide_*`` (pure: no state changes) → the door performs the effect (hub,
  broker, channel hook) → :meth:`~ServerSessions.commit` (the effect is recorded and the reply
  remembered [OPS-9]) or :meth:`~ServerSessions.refuse` → the reply;
- **end of a connection** → :meth:`~ServerSessions.detach` [RESUME-10];
- **time** → :meth:`~ServerSessions.expire` [RESUME-7].

Detached sessions are bounded per identity (``max_detached_sessions``) and in all
(``max_detached_total``): a detach beyond either bound discards the session of that identity
(or of the server) detached longest ago, whose resume then gets ``resumed: false`` like any
discarded session's [LIMIT-12, LIMIT-13, RESUME-2].

Outputs: the :class:`Opened` decision, the connection a takeover replaces, the reply of each
request, and :meth:`~ServerSessions.take_discarded` (the sessions the I/O layer must remove
from its hub). The clock is passed in.

States of one session::

    open() --> NEW --attach()--> ATTACHED --detach() by its carrier--> DETACHED
                                   ^  | attach() by another carrier:          |  |
                                   |  | the old one is replaced [RESUME-4]    |  | window over,
                                   +--+-------- attach() after a resume <-----+  | or window 0
                                                                                 v
                                                                             DISCARDED
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from canaux.protocol import frames
from canaux.protocol.channels import Catalogue
from canaux.protocol.codes import ErrorCode
from canaux.protocol.limits import Limits
from canaux.protocol.operations import (
    Effect,
    Outcome,
    Permitted,
    StreamRefusal,
    check_stream_channels,
    commit,
    decide_publish,
    decide_subscribe,
    decide_unsubscribe,
    refuse,
)
from canaux.protocol.server import ServerConnection
from canaux.protocol.session import SessionState

__all__ = [
    "Cancellable",
    "EventSink",
    "Opened",
    "ServerSession",
    "ServerSessions",
    "Transport",
]

Transport = Literal["ws", "sse"]
"""How a session is carried; a session is only ever resumed over the same one [SSE-10]."""


class EventSink(Protocol):
    """The connection carrying a session: takes its event frames without waiting."""

    def send_event(self, channel: str, seq: int, text: str) -> None:
        """Queue event ``seq`` (frame ``text``) of ``channel`` for the peer."""

    def replace(self) -> None:
        """Another connection resumed the session: close this one with 4411 [RESUME-4]."""


class Cancellable(Protocol):
    """Work running for a session (a chat reply stream): an ``asyncio.Task`` fits."""

    def cancel(self, msg: Any | None = None) -> bool: ...

    def done(self) -> bool: ...


Sink = TypeVar("Sink", bound=EventSink)


class ServerSession:
    """One session as the server layer sees it: read-only, except through :class:`ServerSessions`.

    It is the hub's subscriber for the session (:meth:`deliver`) and the target of events for
    this session only (:meth:`emit`: chat replies, snapshots [CHAT-2, QUEUE-1]).
    """

    __slots__ = ("_carrier", "_in_flight", "_requests", "_route", "_state", "_transport")

    def __init__(self, state: SessionState, transport: Transport) -> None:
        self._state = state
        self._transport: Transport = transport
        self._carrier: EventSink | None = None
        # Both made when needed and dropped when empty: an idle session keeps neither.
        self._requests: list[Cancellable] | None = None
        # Requests decided but not yet committed (their effect is under way), with the reply
        # decided for them: the same id arriving meanwhile (re-sent after a resume on another
        # connection) gets that reply and no second effect [OPS-9].
        self._in_flight: dict[str, str] | None = None
        # Where emit() sends events for this session only, when they must go the way channel
        # events go (a shared stream, spec "Clusters"); None: straight to deliver().
        self._route: Callable[[str, str, str], None] | None = None

    def __repr__(self) -> str:
        return f"<ServerSession {self._state.short_id} seq={self._state.seq}>"

    @property
    def id(self) -> str:
        return self._state.id

    @property
    def short_id(self) -> str:
        """A prefix of the id for logs: ids are never logged in full [SECURITY-1]."""
        return self._state.short_id

    @property
    def identity(self) -> str | None:
        """The authenticated principal, or the exact ``hello.token`` [SECURITY-2]."""
        return self._state.identity

    @property
    def transport(self) -> Transport:
        return self._transport

    @property
    def seq(self) -> int:
        """The last seq assigned in this session [DELIVERY-1]."""
        return self._state.seq

    @property
    def subscriptions(self) -> tuple[str, ...]:
        """The subscribed channels, in subscription order."""
        return tuple(self._state.subscriptions)

    @property
    def carrier(self) -> EventSink | None:
        """The connection carrying the session now; ``None`` while detached."""
        return self._carrier

    @property
    def detached_at(self) -> float | None:
        """When the session was last detached; ``None`` while attached (or never attached)."""
        return self._state.detached_at

    @property
    def discarded(self) -> bool:
        return self._state.discarded

    def deliver(self, channel: str, data_json: str) -> None:
        """Number an event for this session, keep it for replay, pass it to the connection."""
        state = self._state
        if state.discarded:
            return
        seq, text = state.next_event_json(channel, data_json)
        carrier = self._carrier
        if carrier is not None:
            carrier.send_event(channel, seq, text)

    def emit(self, channel: str, data: Any) -> None:
        """Deliver an event to this session only (chat replies, snapshots) [CHAT-2, QUEUE-1]."""
        route = self._route
        if route is not None:
            # Numbered when it comes back, in its place among the channel events.
            route(self._state.id, channel, frames.dumps(data))
            return
        self.deliver(channel, frames.dumps(data))

    def remember(self, frame_id: str, reply: str) -> None:
        """Keep ``reply`` as the answer to ``frame_id``, given while this process did not hold
        the session (it is rebuilt from what the deployment shares) [OPS-9]."""
        if not self._state.discarded:
            self._state.remember_reply(frame_id, reply)

    def track(self, request: Cancellable) -> None:
        """Keep running work of this session; it is cancelled if the session is discarded."""
        self._requests = [r for r in self._requests or () if not r.done()]
        self._requests.append(request)

    def _busy(self) -> bool:
        """Whether work this session started is still running."""
        return any(not r.done() for r in self._requests or ())

    def _settle(self, frame_id: str) -> None:
        """``frame_id``'s effect happened (or never will): it is no longer in flight."""
        in_flight = self._in_flight
        if in_flight is not None:
            in_flight.pop(frame_id, None)
            if not in_flight:
                self._in_flight = None

    def _cancel_requests(self) -> None:
        requests, self._requests = self._requests, None
        for request in requests or ():
            request.cancel()


@dataclass(frozen=True, slots=True)
class Opened:
    """The answer to a hello (or an SSE request): which session, and whether it was resumed."""

    session: ServerSession
    resumed: bool
    replay: tuple[str, ...]
    """Encoded events to send right after the welcome, in seq order [RESUME-3]."""
    resume_seq: int | None = None
    """The ``resume.seq`` the replay starts after (``None`` for a fresh session)."""


class ServerSessions(Generic[Sink]):
    """Every session of one server, attached or waiting to be resumed."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._sessions: dict[str, ServerSession] = {}
        self._discarded: list[ServerSession] = []
        # Detached sessions in the order they detached, in all and per identity, for the
        # bounds of LIMIT-12 and LIMIT-13 (the oldest is first).
        self._detached: OrderedDict[str, ServerSession] = OrderedDict()
        self._detached_by_identity: dict[str | None, OrderedDict[str, ServerSession]] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[ServerSession]:
        return iter(list(self._sessions.values()))

    def get(self, session_id: str) -> ServerSession | None:
        return self._sessions.get(session_id)

    def detached_count(self, identity: str | None = None, *, every: bool = False) -> int:
        """Detached sessions of ``identity`` (of every identity with ``every``) [LIMIT-12]."""
        if every:
            return len(self._detached)
        return len(self._detached_by_identity.get(identity, ()))

    # Outputs ------------------------------------------------------------------------------

    def take_discarded(self) -> list[ServerSession]:
        """Sessions discarded since the last call: remove them from the hub; once each."""
        out, self._discarded = self._discarded, []
        return out

    # Hello --------------------------------------------------------------------------------

    def create(self, identity: str | None, transport: Transport = "ws") -> ServerSession:
        """A new session with a fresh CSPRNG id [HANDSHAKE-8], seq 0, no subscriptions."""
        session = ServerSession(SessionState(identity, self.limits), transport)
        # [HANDSHAKE-17] never the same id twice (144 random bits: a collision never happens).
        while session.id in self._sessions:
            session = ServerSession(SessionState(identity, self.limits), transport)
        self._sessions[session.id] = session
        return session

    def open(
        self,
        identity: str | None,
        resume: frames.ResumeRequest | None,
        now: float,
        *,
        transport: Transport = "ws",
        channels: frozenset[str] | None = None,
    ) -> Opened:
        """The answer to a hello: the session ``resume`` names if RESUME-2 allows it, else a
        new one [RESUME-2]; a refusal looks exactly like a hello without ``resume``
        [RESUME-13]."""
        if resume is not None:
            opened = self.resume(
                identity, resume.session, resume.seq, now, transport=transport, channels=channels
            )
            if opened is not None:
                return opened
        return Opened(self.create(identity, transport), False, ())

    def resume(
        self,
        identity: str | None,
        session_id: str,
        seq: int,
        now: float,
        *,
        transport: Transport = "ws",
        channels: frozenset[str] | None = None,
    ) -> Opened | None:
        """Session ``session_id`` resumed after ``seq``, or ``None`` when it cannot be.

        [RESUME-2] resume iff the session exists, its window is open, the identity matches and
        every event after ``seq`` is still buffered. A refused request leaves the session it
        named untouched [RESUME-12, SECURITY-2]. A session is resumed only over its own
        transport [SSE-10] and, with ``channels`` (SSE), only for the same set of channels
        [SSE-9].
        """
        session = self._sessions.get(session_id)
        if session is None or session.transport != transport:
            return None
        state = session._state
        if channels is not None and frozenset(state.subscriptions) != channels:
            return None
        if session._carrier is None and state.expired(now):
            # [RESUME-7] only a DETACHED session expires; a live one (taken over by another
            # connection [RESUME-4]) is never discarded by a request that is refused
            # [RESUME-12].
            self.discard(session)
            return None
        if not state.may_resume(identity, seq, now, self.limits):
            return None
        replay = state.replay_after(seq)
        if replay is None:  # may_resume checked it; kept for the type checker and for safety
            return None
        return Opened(session, True, tuple(replay), seq)

    def welcome(
        self, conn: ServerConnection, opened: Opened, catalogue: Catalogue, now: float
    ) -> None:
        """Send ``conn``'s welcome for ``opened``, then the replay [HANDSHAKE-9, RESUME-3]."""
        conn.welcome(opened.session._state, opened.resumed, catalogue, now)

    def welcome_frame(
        self, opened: Opened, catalogue: Catalogue, version: int = frames.PROTOCOL_VERSION
    ) -> frames.Welcome:
        """The welcome of ``opened`` as a frame, for a door that writes its own [SSE-1]."""
        return frames.Welcome(
            version=version,
            session=opened.session.id,
            resumed=opened.resumed,
            seq=opened.session.seq,
            heartbeat_ms=self.limits.heartbeat_ms,
            limits=self.limits.to_welcome(),
            channels=catalogue.to_welcome(),
        )

    # Attachment ---------------------------------------------------------------------------

    def attach(self, session: ServerSession, carrier: Sink, now: float) -> Sink | None:
        """Make ``carrier`` the session's connection; return the one it replaces, if any.

        [RESUME-4] the door closes the returned connection with 4411 (its
        :meth:`EventSink.replace`); the session is NOT detached by that close [RESUME-10].
        """
        previous = session._carrier
        session._carrier = carrier
        session._state.attach(now)
        self._forget_detached(session)
        if previous is None or previous is carrier:
            return None
        return previous  # type: ignore[return-value]  # only Sinks are ever attached here

    def detach(self, session: ServerSession, carrier: EventSink, now: float) -> None:
        """``carrier`` stopped carrying the session; its resume window starts [RESUME-10].

        A connection replaced by a takeover no longer carries the session: its end changes
        nothing [RESUME-4, RESUME-12].
        """
        if session._carrier is not carrier:
            return
        session._carrier = None
        session._state.detach(now)
        if self.limits.resume_window_ms == 0:
            self.discard(session)  # [RESUME-7] a window of 0: nothing to wait for
            return
        self._detached[session.id] = session
        mine = self._detached_by_identity.setdefault(session.identity, OrderedDict())
        mine[session.id] = session
        # [LIMIT-12] one identity keeps at most max_detached_sessions detached sessions; the
        # one detached longest ago goes (its resume gets resumed: false [RESUME-2]).
        while len(mine) > self.limits.max_detached_sessions:
            self.discard(next(iter(mine.values())))
        # [LIMIT-13] and the server at most max_detached_total, whoever they belong to.
        while len(self._detached) > self.limits.max_detached_total:
            self.discard(next(iter(self._detached.values())))

    def expire(self, now: float) -> list[ServerSession]:
        """Discard every session detached longer than the window [RESUME-7]; return them."""
        expired = [
            s for s in self._sessions.values() if s._carrier is None and s._state.expired(now)
        ]
        for session in expired:
            self.discard(session)
        return expired

    def discard(self, session: ServerSession) -> None:
        """Forget ``session``: never resumed again, its running work cancelled [RESUME-7]."""
        if self._sessions.get(session.id) is session:
            del self._sessions[session.id]
        self._forget_detached(session)
        if not session._state.discarded:
            session._state.discard()
            session._cancel_requests()
            self._discarded.append(session)

    def _forget_detached(self, session: ServerSession) -> None:
        if self._detached.pop(session.id, None) is None:
            return
        mine = self._detached_by_identity.get(session.identity)
        if mine is not None:
            mine.pop(session.id, None)
            if not mine:
                del self._detached_by_identity[session.identity]

    def discard_all(self) -> None:
        for session in list(self._sessions.values()):
            self.discard(session)

    # Sharing with other processes (spec "Clusters") -----------------------------------------

    @staticmethod
    def _snapshot(session: ServerSession) -> dict[str, Any]:
        # The transport too: a session resumes only over its own [SSE-10].
        return {**session._state.snapshot(), "transport": session.transport}

    def export(self, session: ServerSession) -> dict[str, Any] | None:
        """Hand a DETACHED session (WebSocket or SSE) over to shared storage: its snapshot,
        and the session leaves this process (it is discarded here, see
        :meth:`take_discarded`).

        ``None`` (the session stays here) unless it is detached and has no request whose
        effect has not been committed: that belongs to this process until it is. Work still
        running for it (a chat reply streaming) goes on here when the session's own events
        are routed through a shared stream (:meth:`route_emits`): the rest of the reply
        reaches the session wherever it is resumed; otherwise the session stays too.
        """
        if session._carrier is not None or session.discarded or not self._movable(session):
            return None
        snapshot = self._snapshot(session)
        # Not cancelled by the discard: what it emits takes the shared stream to the session.
        session._requests = None
        self.discard(session)
        return snapshot

    @staticmethod
    def _movable(session: ServerSession) -> bool:
        if session._in_flight:
            return False
        return not session._busy() or session._route is not None

    def checkpoint(self, session: ServerSession) -> dict[str, Any] | None:
        """The snapshot of a session that stays here (attached, or detached with work under
        way), for shared storage to rebuild it from if this process is lost; ``None`` for a
        discarded session."""
        if session.discarded:
            return None
        return self._snapshot(session)

    def hand_over(
        self, session: ServerSession, now: float
    ) -> tuple[EventSink, dict[str, Any]] | None:
        """Another process resumes this ATTACHED session [RESUME-4]: the session leaves its
        connection and this process (as :meth:`export`); returns the connection, which the
        door closes with 4411, and the snapshot. ``None`` (nothing changes) when it is not
        attached or cannot move (see :meth:`export`)."""
        carrier = session._carrier
        if carrier is None or not self._movable(session):
            return None
        session._carrier = None
        session._state.detach(now)
        snapshot = self.export(session)
        if snapshot is None:  # pragma: no cover - export takes every idle detached session
            return None
        return carrier, snapshot

    def route_emits(
        self, session: ServerSession, route: Callable[[str, str, str], None] | None
    ) -> None:
        """Send ``session``'s own events (:meth:`ServerSession.emit`) to ``route(session id,
        channel, data JSON)`` instead of numbering them at once: a shared stream brings them
        back to :meth:`ServerSession.deliver` in their place, so every process that rebuilds
        the session from that stream numbers them alike (spec "Clusters")."""
        session._route = route

    def adopt(self, snapshot: dict[str, Any], now: float, detached_for: float) -> ServerSession:
        """A session exported by another process (or this one), detached ``detached_for``
        seconds ago; :meth:`resume` then decides on it as on any other [RESUME-2]. Events it
        was given while away are passed to its :meth:`ServerSession.deliver`, in order."""
        existing = self._sessions.get(str(snapshot["id"]))
        if existing is not None:
            return existing
        state = SessionState.restore(snapshot, self.limits)
        state.detach(now - max(0.0, detached_for))
        transport: Transport = "sse" if snapshot.get("transport") == "sse" else "ws"
        session = ServerSession(state, transport)
        self._sessions[session.id] = session
        # Counted with the detached sessions of this process [LIMIT-12, LIMIT-13], as the
        # newest: the bounds apply at the next detach.
        self._detached[session.id] = session
        self._detached_by_identity.setdefault(session.identity, OrderedDict())[session.id] = session
        return session

    # Requests: decide, the door performs the effect, then commit ---------------------------

    def decide_subscribe(
        self,
        session: ServerSession,
        catalogue: Catalogue,
        frame: frames.Subscribe,
        *,
        permitted: Permitted | None = None,
    ) -> Outcome:
        """[CHANNEL-3, OPS-3, OPS-5, OPS-9] nothing changes until :meth:`commit`."""
        early = self._under_way(session, frame.id)
        if early is not None:
            return early
        outcome = decide_subscribe(session._state, catalogue, frame, permitted=permitted)
        return self._reserve(session, outcome)

    def decide_unsubscribe(self, session: ServerSession, frame: frames.Unsubscribe) -> Outcome:
        """[OPS-4, OPS-9] nothing changes until :meth:`commit`."""
        early = self._under_way(session, frame.id)
        if early is not None:
            return early
        return self._reserve(session, decide_unsubscribe(session._state, frame))

    def decide_publish(
        self,
        session: ServerSession,
        catalogue: Catalogue,
        frame: frames.Publish,
        *,
        permitted: Permitted | None = None,
    ) -> Outcome:
        """[CHANNEL-3, CHANNEL-4, CHANNEL-13, CHANNEL-5, OPS-9] nothing changes until
        :meth:`commit`."""
        early = self._under_way(session, frame.id)
        if early is not None:
            return early
        outcome = decide_publish(session._state, catalogue, frame, permitted=permitted)
        return self._reserve(session, outcome)

    def commit(self, session: ServerSession, outcome: Outcome) -> Outcome:
        """Record a decision once its effect happened; the reply is remembered [OPS-9]."""
        if not outcome.replayed:
            session._settle(outcome.frame_id)
        return commit(session._state, outcome)

    def refuse(
        self,
        session: ServerSession,
        frame_id: str,
        code: ErrorCode,
        message: str,
        *,
        channel: str | None = None,
        pointer: str | None = None,
    ) -> Outcome:
        """An error answering ``frame_id`` after the decision (a channel refused, the server
        failed); remembered for dedup, except ``internal_error`` [OPS-9, OPS-17]."""
        session._settle(frame_id)
        text = refuse(session._state, frame_id, code, message, channel=channel, pointer=pointer)
        return Outcome(frame_id, text, error=code, channel=channel, committed=True)

    @staticmethod
    def _under_way(session: ServerSession, frame_id: str) -> Outcome | None:
        in_flight = session._in_flight
        reply = in_flight.get(frame_id) if in_flight is not None else None
        if reply is None:
            return None
        # [OPS-9] "NOT applied again": the reply decided for the first copy.
        return Outcome(frame_id, reply, replayed=True)

    @staticmethod
    def _reserve(session: ServerSession, outcome: Outcome) -> Outcome:
        if outcome.effect is not Effect.NONE:
            if session._in_flight is None:
                session._in_flight = {}
            session._in_flight[outcome.frame_id] = outcome.reply
        return outcome

    # SSE ----------------------------------------------------------------------------------

    def check_stream(self, catalogue: Catalogue, names: list[str]) -> StreamRefusal | None:
        """Whether a new stream may subscribe to ``names``, by the subscribe rules [SSE-3]."""
        return check_stream_channels(catalogue, self.limits, names)

    def subscribe_stream(
        self, session: ServerSession, catalogue: Catalogue, names: list[str]
    ) -> None:
        """Record the subscriptions of a new stream to ``names`` (checked, hub done) [SSE-1]."""
        state = session._state
        if state.subscriptions or self.check_stream(catalogue, names) is not None:
            raise ValueError("a stream subscribes once, to channels check_stream() accepted")
        for name in names:
            state.subscriptions[name] = None
