"""Sessions of this process and their resume window (spec §7 "Resume", §9 "Security").

A :class:`Session` wraps the sans-I/O :class:`~canaux.protocol.session.SessionState` (seq
numbering, resume buffer, dedup) with what only the I/O layer has: the connection currently
carrying it (its :class:`EventSink`) and its running chat requests. The
:class:`SessionRegistry` creates sessions, resumes them under the rules of RESUME-2 and
SECURITY-2, and discards those detached longer than the resume window [RESUME-7].

The registry is per process (see :mod:`canaux.server.broker`): a client resumes on the
process that holds its session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal, Protocol

from canaux.protocol.frames import dumps
from canaux.protocol.limits import Limits
from canaux.protocol.session import SessionState
from canaux.server.hub import Hub

__all__ = ["EventSink", "Session", "SessionRegistry", "Transport"]

Transport = Literal["ws", "sse"]
"""How a session is carried; a session is only ever resumed over the same one [SSE-10]."""

logger = logging.getLogger("canaux.server.sessions")


class EventSink(Protocol):
    """The connection carrying a session: takes its event frames without waiting."""

    def send_event(self, channel: str, seq: int, text: str) -> None:
        """Queue event ``seq`` (frame ``text``) of ``channel`` for the peer."""

    def replace(self) -> None:
        """Another connection resumed the session: close this one with 4411 [RESUME-4]."""


class Session:
    """One session of this process: its state, its connection if any, its chat requests."""

    def __init__(self, state: SessionState, transport: Transport = "ws") -> None:
        self.state = state
        self.transport: Transport = transport
        self.sink: EventSink | None = None
        self._requests: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"<Session {self.state.short_id} seq={self.state.seq}>"

    @property
    def id(self) -> str:
        return self.state.id

    def deliver(self, channel: str, data_json: str) -> None:
        """Number an event for this session, keep it for replay, pass it to the connection."""
        if self.state.discarded:
            return
        seq, text = self.state.next_event_json(channel, data_json)
        if self.sink is not None:
            self.sink.send_event(channel, seq, text)

    def emit(self, channel: str, data: Any) -> None:
        """Deliver an event to this session only (chat replies, snapshots) [CHAT-2, QUEUE-1]."""
        self.deliver(channel, dumps(data))

    def track(self, request: asyncio.Task[None]) -> None:
        """Keep a running chat request; it is cancelled if the session is discarded."""
        self._requests.add(request)
        request.add_done_callback(self._requests.discard)

    def cancel_requests(self) -> list[asyncio.Task[None]]:
        requests = list(self._requests)
        for request in requests:
            request.cancel()
        return requests


class SessionRegistry:
    """Every session of this process, attached or waiting to be resumed."""

    def __init__(
        self, limits: Limits, hub: Hub, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits
        self._hub = hub
        self.clock = clock
        """Where :meth:`now` reads the time; tests may replace it to let a window pass."""
        self._sessions: dict[str, Session] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._waiters: list[asyncio.Future[None]] = []

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def now(self) -> float:
        return self.clock()

    def _changed(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds; it is re-checked after every attach, detach,
        creation or discard (for tests and operational tooling; bound it with a timeout)."""
        while not predicate():
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter

    def get(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def create(self, identity: str | None, transport: Transport = "ws") -> Session:
        """A new session with a fresh CSPRNG id [HANDSHAKE-8], seq 0, no subscriptions."""
        session = Session(SessionState(identity, self.limits), transport)
        # [HANDSHAKE-17] never the same id twice (144 random bits: a collision never happens).
        while session.id in self._sessions:
            session = Session(SessionState(identity, self.limits), transport)
        self._sessions[session.id] = session
        self._changed()
        return session

    def resume(
        self,
        session_id: str,
        identity: str | None,
        seq: int,
        transport: Transport = "ws",
        channels: frozenset[str] | None = None,
    ) -> tuple[Session, list[str]] | None:
        """The session and the events to replay, or ``None`` when it cannot be resumed.

        [RESUME-2] resume iff the session exists, its window is open, the identity matches and
        every event after ``seq`` is still buffered. A wrong identity looks exactly like an
        unknown session and leaves the session untouched [SECURITY-2]. A session is resumed
        only over its own transport [SSE-10] and, with ``channels`` (SSE), only for the same
        set of channels [SSE-9].
        """
        session = self._sessions.get(session_id)
        if session is None or session.transport != transport:
            return None
        if channels is not None and frozenset(session.state.subscriptions) != channels:
            return None
        now = self.now()
        if session.sink is None and session.state.expired(now):
            # [RESUME-7] only a DETACHED session expires; a live one (resumed by a takeover
            # [RESUME-4]) is never discarded by a request that is refused [RESUME-12].
            self.discard(session)
            return None
        if not session.state.may_resume(identity, seq, now, self.limits):
            return None
        replay = session.state.replay_after(seq)
        if replay is None:  # may_resume checked it; kept for the type checker and for safety
            return None
        return session, replay

    def attach(self, session: Session, sink: EventSink) -> None:
        """Make ``sink`` the session's connection; a previous one is closed with 4411 [RESUME-4]."""
        previous = session.sink
        session.sink = sink
        session.state.attach(self.now())
        if previous is not None and previous is not sink:
            previous.replace()
        self._changed()

    def detach(self, session: Session, sink: EventSink) -> None:
        """``sink`` stopped carrying the session; its resume window starts [RESUME-7]."""
        if session.sink is not sink:
            return  # already resumed elsewhere: the new connection owns it
        session.sink = None
        session.state.detach(self.now())
        if self.limits.resume_window_ms == 0:
            self.discard(session)
        self._changed()

    def discard(self, session: Session) -> None:
        """Forget ``session``: unsubscribe it everywhere, stop its chat requests [RESUME-7]."""
        if self._sessions.get(session.id) is session:
            del self._sessions[session.id]
        self._hub.drop(session)
        session.cancel_requests()
        session.state.discard()
        self._changed()

    def expire(self) -> int:
        """Discard every session detached longer than the window; return how many."""
        now = self.now()
        expired = [s for s in self._sessions.values() if s.sink is None and s.state.expired(now)]
        for session in expired:
            logger.debug("session %s expired", session.state.short_id)
            self.discard(session)
        return len(expired)

    def start(self) -> None:
        """Start the background task that discards expired sessions."""
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep(), name="canaux session sweeper")

    async def _sweep(self) -> None:
        # Expiry is also checked on every resume, so the sweep only bounds memory; a quarter
        # of the window (between 50 ms and 1 s) keeps discarded sessions from lingering.
        interval = min(1.0, max(0.05, self.limits.resume_window_ms / 4000.0))
        while True:
            await asyncio.sleep(interval)
            self.expire()
            await self._hub.release_unused()

    async def aclose(self) -> None:
        """Stop the sweeper and discard every session."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for session in list(self._sessions.values()):
            self.discard(session)
