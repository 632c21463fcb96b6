"""The sessions of this process, driven in asyncio (spec resume.md, security.md).

Every decision about a session's life is the sans-I/O
:class:`~canaux.protocol.sessions.ServerSessions`'; the :class:`SessionRegistry` only gives it
the time, runs the sweep that expires detached sessions [RESUME-7], removes discarded
sessions from the hub, and wakes whoever waits for a change (tests, tooling).

With a :class:`~canaux.server.session_store.SessionStore` (a Redis broker's), a session
(WebSocket or SSE) that detaches is handed over to the store, and a resume on any process fetches it
back first (:meth:`SessionRegistry.fetch`); the core decides on it as on any other. While
attached, it has a checkpoint in the store (:meth:`SessionRegistry.checkpoint`) and its own
events go through the broker, so that another process rebuilds it if this one is killed.
Without a store, a client resumes on the process that holds its session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

from canaux.protocol import frames
from canaux.protocol.channels import Catalogue
from canaux.protocol.codes import ErrorCode
from canaux.protocol.errors import ServerError
from canaux.protocol.limits import Limits
from canaux.protocol.operations import Outcome, Permitted, StreamRefusal
from canaux.protocol.server import ServerConnection
from canaux.protocol.sessions import (
    EventSink,
    Opened,
    ServerSession,
    ServerSessions,
    Transport,
)
from canaux.server.hub import Hub
from canaux.server.session_store import SessionStore

__all__ = [
    "HANDOVER_TIMEOUT_S",
    "EventSink",
    "Opened",
    "Session",
    "SessionRegistry",
    "SessionsUnavailable",
    "Transport",
]

Session = ServerSession
"""A session of this process (the core's :class:`~canaux.protocol.sessions.ServerSession`)."""

logger = logging.getLogger("canaux.server.sessions")

HANDOVER_TIMEOUT_S = 10.0
"""Longest a resume waits for the process holding its session to store it [RESUME-4], while
that process is alive and still holds it (it answers at once when it will not hand it over:
a request under way). A busy process may take seconds to store the sessions of a reconnect
storm; giving up sooner answered ``resumed: false`` for sessions that were not gone. 10 s is the
ceiling HANDSHAKE-12 puts on a server's hello timeout: the longest either side of a handshake
is expected to wait for the other's next frame."""


class SessionsUnavailable(ServerError):
    """The shared store cannot be reached: this process cannot tell whether a session can be
    resumed, nor keep one shared; the connection is closed with 1013 [CLUSTER-6]."""


class SessionRegistry:
    """Every session of this process, attached or waiting to be resumed.

    Each method is the core's, given the time; what it discards leaves the hub at once.
    """

    def __init__(
        self,
        limits: Limits,
        hub: Hub,
        *,
        clock: Callable[[], float] = time.monotonic,
        store: SessionStore | None = None,
    ) -> None:
        self.limits = limits
        self._hub = hub
        self._store = store
        self._saving: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._announce: set[str] = set()
        """Sessions being stored that another process asked for: it is told when they are."""
        self._handover_waiting: dict[str, float] = {}
        """Attached sessions another process asked for while a request of theirs was under
        way, with when it asked: handed over once it is answered, if that process still
        waits [RESUME-4]."""
        self._writes: dict[str, asyncio.Task[None]] = {}
        """The last write to the store of each session: the next one waits for it."""
        self._routed: dict[str, Session] = {}
        """Sessions whose own events (through the broker) are delivered here."""
        self._exported: set[str] = set()
        self._closing = False
        self._core: ServerSessions[EventSink] = ServerSessions(limits)
        self.clock = clock
        """Where :meth:`now` reads the time; tests may replace it to let a window pass."""
        self._sweeper: asyncio.Task[None] | None = None
        self._waiters: list[asyncio.Future[None]] = []

    def __len__(self) -> int:
        return len(self._core)

    def __iter__(self) -> Iterator[Session]:
        return iter(self._core)

    def now(self) -> float:
        return self.clock()

    @property
    def shares_sessions(self) -> bool:
        """Whether sessions live in a store shared with other processes."""
        return self._store is not None

    def _changed(self) -> None:
        for session in self._core.take_discarded():
            self._hub.drop(session)
            if self._routed.pop(session.id, None) is not None:
                if session.id in self._exported:
                    self._exported.discard(session.id)
                elif not self._closing and self._store is not None:
                    # Gone for good (expired, over a bound): no process may rebuild it.
                    self._write(session.id, self._store.forget(session.id))
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
        return self._core.get(session_id)

    # Lifecycle ----------------------------------------------------------------------------

    def create(self, identity: str | None, transport: Transport = "ws") -> Session:
        """A new session with a fresh CSPRNG id [HANDSHAKE-8], seq 0, no subscriptions."""
        session = self._core.create(identity, transport)
        self._changed()
        return session

    def open(
        self,
        identity: str | None,
        resume: frames.ResumeRequest | None,
        *,
        transport: Transport = "ws",
        channels: frozenset[str] | None = None,
    ) -> Opened:
        """The session ``resume`` names if RESUME-2 allows it, else a new one [RESUME-2]."""
        opened = self._core.open(
            identity, resume, self.now(), transport=transport, channels=channels
        )
        self._changed()
        return opened

    def resume(
        self,
        session_id: str,
        identity: str | None,
        seq: int,
        transport: Transport = "ws",
        channels: frozenset[str] | None = None,
    ) -> Opened | None:
        """Session ``session_id`` resumed after ``seq``, or ``None`` when it cannot be."""
        opened = self._core.resume(
            identity, session_id, seq, self.now(), transport=transport, channels=channels
        )
        self._changed()
        return opened

    def welcome(self, conn: ServerConnection, opened: Opened, catalogue: Catalogue) -> None:
        """The welcome and the replay of ``opened`` on ``conn`` [HANDSHAKE-9, RESUME-3]."""
        self._core.welcome(conn, opened, catalogue, self.now())

    def welcome_frame(self, opened: Opened, catalogue: Catalogue) -> frames.Welcome:
        """The welcome of ``opened`` as a frame, for a door that writes its own [SSE-1]."""
        return self._core.welcome_frame(opened, catalogue)

    def attach(self, session: Session, sink: EventSink) -> None:
        """Make ``sink`` the session's connection; a previous one is closed with 4411 [RESUME-4]."""
        previous = self._core.attach(session, sink, self.now())
        if previous is not None:
            previous.replace()
        store = self._store
        if store is not None:
            # Its own events go the way channel events go, and it has a checkpoint: so that
            # a resume on another process asks this one to hand it over [RESUME-4], or, if
            # this one is gone, rebuilds it there.
            self._core.route_emits(session, store.send_direct)
            self._routed[session.id] = session
            self._write_checkpoint(session).add_done_callback(_log_failure)
        self._changed()

    def _write(self, session_id: str, work: Coroutine[Any, Any, Any]) -> asyncio.Task[None]:
        """Run ``work`` (a write of ``session_id`` to the store) after the previous one."""
        previous = self._writes.get(session_id)

        async def run() -> None:
            if previous is not None:
                await asyncio.wait({previous})
            await work

        task = asyncio.get_running_loop().create_task(run())
        self._writes[session_id] = task

        def done(finished: asyncio.Task[None]) -> None:
            if self._writes.get(session_id) is finished:
                del self._writes[session_id]

        task.add_done_callback(done)
        return task

    def _write_checkpoint(self, session: Session) -> asyncio.Task[None]:
        store = self._store
        assert store is not None
        # No await between the snapshot and the position: the session had every event up to
        # that position, and the broker has every one after it.
        snapshot = self._core.checkpoint(session)
        position = store.position()

        async def write() -> None:
            if snapshot is not None and not await store.checkpoint(session.id, snapshot, position):
                # Another process holds it now (it took this one for dead): it is not ours.
                carrier = session.carrier
                if carrier is not None and session.id in self._routed:
                    carrier.replace()

        return self._write(session.id, write())

    async def checkpoint(self, session: Session) -> None:
        """Store what ``session`` receives from now on (its subscriptions changed), before the
        ack of that change goes out; :class:`SessionsUnavailable` if the store cannot be
        reached (the connection is closed with 1013 then, [CLUSTER-6])."""
        if self._store is None or session.id not in self._routed:
            return
        try:
            await self._write_checkpoint(session)
        except Exception as exc:
            raise SessionsUnavailable(str(exc)) from exc

    def _on_direct(self, session_id: str, channel: str, data_json: str) -> None:
        """An event for one session only came back through the broker: in its place."""
        session = self._routed.get(session_id)
        if session is not None:
            session.deliver(channel, data_json)

    def _on_epoch_change(self) -> None:
        """The store lost every checkpoint (Redis restarted without persistence): the
        sessions attached here are checkpointed again, from the new stream's start."""
        for session in list(self._routed.values()):
            if session.carrier is not None:
                self._write_checkpoint(session).add_done_callback(_log_failure)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _on_handover(self, session_id: str) -> None:
        """Another process resumes ``session_id``: if it is attached here, its connection is
        closed with 4411 and the session is stored for that process [RESUME-4]."""
        store = self._store
        assert store is not None
        session = self._core.get(session_id)
        handed = None if session is None else self._core.hand_over(session, self.now())
        if handed is None and session is not None and session.carrier is not None:
            # A request of its connection is under way: handed over once it is answered
            # (the other process waits while this one holds the session).
            self._handover_waiting[session_id] = time.monotonic()
            return
        if handed is None:
            if session_id in self._saving:
                self._announce.add(session_id)  # said once it is stored
            else:
                # Not here, or busy here: the store's answer (nothing) is the answer, at once.
                self._spawn(store.handed_over(session_id))
            return
        carrier, snapshot = handed
        carrier.replace()
        position = store.position()
        self._exported.add(session_id)
        self._saving[session_id] = self._write(
            session_id, self._save(store, session_id, snapshot, position, announce=True)
        )
        self._changed()

    def detach(self, session: Session, sink: EventSink) -> None:
        """``sink`` stopped carrying the session; its resume window starts [RESUME-7].

        With a store, the session then moves there (when the core lets it go: see
        :meth:`ServerSessions.export`), so any process can resume it.
        """
        self._core.detach(session, sink, self.now())
        if session.id in self._handover_waiting and session.carrier is None:
            del self._handover_waiting[session.id]
            self._announce.add(session.id)  # stored below (or not): the asker is told
        store = self._store
        if store is not None and self.limits.resume_window_ms > 0:
            # No await between the snapshot and the position: the session had every event
            # up to that position, and the store's replay gives it every one after.
            snapshot = self._core.export(session)
            if snapshot is not None:
                position = store.position()
                self._exported.add(session.id)
                self._saving[session.id] = self._write(
                    session.id, self._save(store, session.id, snapshot, position)
                )
        self._changed()

    async def _save(
        self,
        store: SessionStore,
        session_id: str,
        snapshot: dict[str, Any],
        position: str,
        *,
        announce: bool = False,
    ) -> None:
        try:
            await store.save(
                session_id,
                snapshot,
                position,
                self.limits.resume_window_ms,
                self.limits.max_detached_sessions,
                self.limits.max_detached_total,
            )
        except Exception:
            # Not resumable then: a resume gets resumed: false, never a gap [RESUME-2].
            logger.exception("could not store detached session %s", snapshot["id"][:6])
        finally:
            self._saving.pop(session_id, None)
        if session_id in self._announce:
            self._announce.discard(session_id)
            announce = True
        if announce:
            with contextlib.suppress(Exception):
                await store.handed_over(session_id)

    async def fetch(self, resume: frames.ResumeRequest | None, identity: str | None) -> None:
        """Bring the session ``resume`` names here from the store, if it waits there and the
        core would resume it (then :meth:`open` resumes it); otherwise change nothing, so a
        refused resume leaves the stored session as it was [RESUME-12]."""
        if resume is not None:
            await self.fetch_session(resume.session, resume.seq, identity)

    async def fetch_session(
        self,
        session_id: str,
        seq: int,
        identity: str | None,
        *,
        transport: Transport = "ws",
        channels: frozenset[str] | None = None,
    ) -> None:
        """:meth:`fetch` for a resume of ``session_id`` after ``seq`` over ``transport``
        (an SSE stream's ``Last-Event-ID``, with its ``channels`` [SSE-2, SSE-9])."""
        store = self._store
        if store is None or self._core.get(session_id) is not None:
            return
        resume = _Resume(session_id, seq)
        if self._saving:
            # Every detach this process took is in the store first, this session's and those
            # that may discard it (its identity's oldest, [LIMIT-12]); a save may wait behind
            # a checkpoint of its session, so the store alone does not know of it yet.
            await asyncio.wait(list(self._saving.values()))
        try:
            stored = await store.load(resume.session)
            if stored is None:
                holder = await store.holder(resume.session)
                if holder is not None and holder != store.node:
                    # Attached elsewhere: that process closes it with 4411 and stores it.
                    await store.request_handover(resume.session, holder, HANDOVER_TIMEOUT_S)
                # Loaded again in any case: a process stores a session and forgets that it
                # held it in one step, which may have fallen between the two reads above.
                stored = await store.load(resume.session)
                if stored is None:
                    # Its process is gone (killed): the checkpoint and the broker have it.
                    stored = await store.load_live(resume.session)
        except Exception as exc:
            # [CLUSTER-6] not "resumed: false": the session may well be there.
            raise SessionsUnavailable(str(exc)) from exc
        if stored is None or stored.snapshot.get("id") != resume.session:
            return
        try:
            session = self._core.adopt(stored.snapshot, self.now(), stored.detached_for)
            subscribed = list(session.subscriptions)

            def join_and_route(join: Callable[[], None]) -> Callable[[], None]:
                def joined() -> None:
                    join()
                    self._routed[session.id] = session

                return joined

            replayed = await self._hub.subscribe_from(
                session,
                subscribed,
                lambda join: store.replay(
                    subscribed,
                    stored.position,
                    session.deliver,
                    join_and_route(join),
                    session_id=session.id,
                    remember=session.remember,
                ),
            )
            keep = (
                replayed
                and self._core.resume(
                    identity,
                    resume.session,
                    resume.seq,
                    self.now(),
                    transport=transport,
                    channels=channels,
                )
                is not None
                and await store.claim(resume.session, stored)
            )
        except Exception as exc:
            # Left in the store as it was (not claimed): the client tries again [CLUSTER-6].
            logger.warning("could not fetch a stored session: %s", exc)
            session = self._core.get(resume.session)  # type: ignore[assignment]
            if session is not None and session.carrier is None:
                self._core.discard(session)
            self._changed()
            raise SessionsUnavailable(str(exc)) from exc
        if not keep and session is not None and session.carrier is None:
            self._core.discard(session)
        self._changed()

    def discard(self, session: Session) -> None:
        """Forget ``session``: unsubscribe it everywhere, stop its chat requests [RESUME-7]."""
        self._core.discard(session)
        self._changed()

    def expire(self) -> int:
        """Discard every session detached longer than the window; return how many."""
        expired = self._core.expire(self.now())
        for session in expired:
            logger.debug("session %s expired", session.short_id)
        self._changed()
        return len(expired)

    # Requests -----------------------------------------------------------------------------

    def decide_subscribe(
        self,
        session: Session,
        catalogue: Catalogue,
        frame: frames.Subscribe,
        *,
        permitted: Permitted | None = None,
    ) -> Outcome:
        """[CHANNEL-3, OPS-3, OPS-5, OPS-9] nothing changes until :meth:`commit`."""
        return self._core.decide_subscribe(session, catalogue, frame, permitted=permitted)

    def decide_unsubscribe(self, session: Session, frame: frames.Unsubscribe) -> Outcome:
        """[OPS-4, OPS-9] nothing changes until :meth:`commit`."""
        return self._core.decide_unsubscribe(session, frame)

    def decide_publish(
        self,
        session: Session,
        catalogue: Catalogue,
        frame: frames.Publish,
        *,
        permitted: Permitted | None = None,
    ) -> Outcome:
        """[CHANNEL-3, CHANNEL-4, CHANNEL-5, OPS-9] nothing changes until :meth:`commit`."""
        return self._core.decide_publish(session, catalogue, frame, permitted=permitted)

    def commit(self, session: Session, outcome: Outcome) -> Outcome:
        """Record a decision once its effect happened; the reply is remembered [OPS-9]."""
        committed = self._core.commit(session, outcome)
        self._handover_if_asked(session)
        return committed

    def _handover_if_asked(self, session: Session) -> None:
        asked = self._handover_waiting.pop(session.id, None)
        if asked is not None and time.monotonic() - asked < HANDOVER_TIMEOUT_S:
            # After the reply goes out (the caller sends it in this same step); not once the
            # asker stopped waiting (it answered resumed: false): the connection stays.
            asyncio.get_running_loop().call_soon(self._on_handover, session.id)

    def refuse(
        self,
        session: Session,
        frame_id: str,
        code: ErrorCode,
        message: str,
        *,
        channel: str | None = None,
        pointer: str | None = None,
    ) -> Outcome:
        """An error after the decision, remembered except internal_error [OPS-9, OPS-17]."""
        refused = self._core.refuse(
            session, frame_id, code, message, channel=channel, pointer=pointer
        )
        self._handover_if_asked(session)
        return refused

    def check_stream(self, catalogue: Catalogue, names: list[str]) -> StreamRefusal | None:
        """Whether a new SSE stream may subscribe to ``names`` [SSE-3]."""
        return self._core.check_stream(catalogue, names)

    def subscribe_stream(self, session: Session, catalogue: Catalogue, names: list[str]) -> None:
        """Record the subscriptions of a new stream (after the hub took them) [SSE-1]."""
        self._core.subscribe_stream(session, catalogue, names)

    # Background ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background task that discards expired sessions (and, with a store, the
        listening for hand-over requests)."""
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep(), name="canaux session sweeper")
            if self._store is not None:
                self._spawn(
                    self._store.start(self._on_handover, self._on_direct, self._on_epoch_change)
                )

    async def _sweep(self) -> None:
        # Expiry is also checked on every resume, so the sweep only bounds memory; a quarter
        # of the window (between 50 ms and 1 s) keeps discarded sessions from lingering.
        interval = min(1.0, max(0.05, self.limits.resume_window_ms / 4000.0))
        while True:
            await asyncio.sleep(interval)
            self.expire()
            await self._hub.release_unused()

    async def aclose(self) -> None:
        """Stop the sweeper, finish storing the sessions that detached, discard the rest."""
        self._closing = True
        if self._saving:
            await asyncio.gather(*self._saving.values(), return_exceptions=True)
        if self._store is not None:
            await self._store.stop()
        for task in list(self._background):
            task.cancel()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        self._core.discard_all()
        self._changed()


@dataclass(frozen=True, slots=True)
class _Resume:
    session: str
    seq: int


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        # Not shared then until the next checkpoint: if this process is lost meanwhile, the
        # session's resume elsewhere gets resumed: false, never a gap [RESUME-2].
        logger.warning("could not checkpoint a session: %s", task.exception())
