"""The stateful heart of the suite: a Hypothesis machine driving several real clients (§5-§7, §15).

:func:`make_machine` builds a :class:`~hypothesis.stateful.RuleBasedStateMachine` bound to
a :class:`~canaux_conformance.target.Target`. Each example opens 2-4 clients, each behind its
own :class:`~canaux_conformance.proxy.FaultProxy` so that a cut is a real TCP reset, all
subscribed to a control channel and to a drawn subset of three channels named
``conformance.<run id>.m<example>.<drawn segment>``. The rules: subscribe, unsubscribe
(answered ``already_subscribed`` / ``not_subscribed`` when they must be), publish (data drawn
from ``channels/conformance.json#/$defs/publish`` by hypothesis-jsonschema, each with a
unique ``mark``), re-send an answered publish, burst-then-cut (a victim's network stalls, a
burst is assigned to it, then its connection is reset), publish-then-cut-then-resend, cut,
resume, reconnect fresh (with or without resuming a never-issued session), and resume under
another identity. After every rule the machine compares what every attached client received
with :class:`DeliveryModel`; at the end of an example it resumes every detached session and
runs a barrier (below).

Running it from your own pytest (a third-party server)::

    from canaux_conformance.machine import make_machine
    from canaux_conformance.target import Target

    Machine = make_machine(Target.from_url("ws://127.0.0.1:8001/ws"))
    TestMyServer = Machine.TestCase          # collected by pytest / unittest
    # or: TestMyServer.settings = settings(max_examples=50, stateful_step_count=30, deadline=None)

The conformance runner uses :func:`run_machine`, which applies the budget of the run
(quick/default/thorough), records the seed, bounds shrinking, and turns a failure into a
:class:`CaseFailed` whose message holds the shrunk steps and the replayable transcript of
the minimal example (every frame per client, in order).

Bridging asyncio into Hypothesis's synchronous rules: the machine owns a private event loop
running in a background thread (:class:`EventLoopThread`); each rule submits ONE coroutine
and waits for it with a bound. No sleep is used to synchronise.

Deciding "nothing more arrives" — the reasoning the checks rely on:

* Each rule waits for its replies (``ack``/``error``) before the next rule, so the channel
  order of the publishes is the order the machine saw their acks [OPS-7], and a subscribe or
  unsubscribe is in effect before the next publish [OPS-6]. Within one rule several publishes
  from one client are pipelined; their order is the send order [DELIVERY-4].
* Every expected event is waited for (bounded by the run's timeout): a missing one fails.
* Every received event is checked when it is read: seq must be exactly last + 1
  [DELIVERY-1], its mark must be one published on that exact channel while the session was
  subscribed [DELIVERY-2, OPS-6], next in that channel's order [DELIVERY-3], never seen
  before [DELIVERY-6], with the published data [DELIVERY-5].
* An unexpected event cannot be awaited (it may never come). The spec orders nothing across
  channels, so a marker on one channel proves nothing about another channel; but the per
  session seq is a total order of everything the server assigned to that session. At the end
  of each example one client publishes a marker on a control channel to which every session
  is subscribed, and each attached session waits for it: every event the server assigned to
  that session before the marker has a smaller seq and therefore has arrived (DELIVERY-1
  forbids gaps), and is checked. Events leaked after the marker are out of reach of any test.
  After every rule, events that already arrived beyond the expected ones are checked too.
"""

# Waits take a `timeout=` argument on purpose: every wait is bounded per call.

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import json
import math
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from hypothesis.reporting import with_reporter
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)
from hypothesis_jsonschema import from_schema

import canaux_schemas
from canaux_conformance.ijson import is_i_json
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.proxy import FaultProxy
from canaux_conformance.resume_rules import Resume, ResumeExpectation, resume_expectation
from canaux_conformance.target import Target
from canaux_conformance.wire import Frame, RawClient, Transcript, encode

__all__ = [
    "DeliveryModel",
    "EventLoopThread",
    "MachineBudget",
    "MachineResult",
    "MachineStopped",
    "MissingEvents",
    "Published",
    "SessionModel",
    "describe_failure",
    "json_equal",
    "make_machine",
    "run_as_case",
    "run_machine",
]

T = TypeVar("T")

_SEGMENT = r"\A[a-z0-9][a-z0-9_-]{0,11}\Z"
_CONTROL = "ctl"
_MAX_SAFE_INT = 2**53


# --------------------------------------------------------------------------- JSON equality


def json_equal(a: Any, b: Any) -> bool:
    """Equality of two decoded JSON values [DELIVERY-5].

    Numbers compare by value (``1`` and ``1.0`` are the same JSON number), but ``true`` is not
    ``1``; objects compare member by member, arrays element by element.
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _interoperable(value: Any) -> bool:
    """True for JSON every implementation can carry exactly (RFC 8259 §6: doubles, 2^53)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int):
        return -_MAX_SAFE_INT < value < _MAX_SAFE_INT
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_interoperable(v) for v in value)
    if isinstance(value, dict):
        return all(_interoperable(v) for v in value.values())
    return False


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Published:
    """One accepted publish: its channel, data, and the sessions that must receive it."""

    mark: str
    channel: str
    data: Any
    receivers: frozenset[str]


@dataclass
class SessionModel:
    """What the model knows about one server session (the client's view of it)."""

    id: str
    identity: str | None
    subscriptions: set[str] = field(default_factory=set)
    unsubscribed: set[str] = field(default_factory=set)
    """Channels this session left at some point (an event of one of them breaks OPS-6)."""
    pending: dict[str, deque[str]] = field(default_factory=dict)
    """Per channel, the marks still to receive, in channel order."""
    seen: set[str] = field(default_factory=set)
    last_seq: int = 0
    """Highest seq received contiguously [RESUME-1]."""
    replay_until: int = 0
    """welcome.seq of the last resume: events up to it are the replay [RESUME-3]."""
    resumed_channels: set[str] = field(default_factory=set)
    """Channels subscribed before the last resume (kept by RESUME-3)."""
    detached_at: float | None = None

    @property
    def outstanding(self) -> int:
        return sum(len(q) for q in self.pending.values())

    @property
    def assigned(self) -> int:
        """The seq the server must have assigned last: received plus still expected."""
        return self.last_seq + self.outstanding


class MissingEvents(CaseFailed):
    """Expected events did not arrive in time (a finding; see :meth:`DeliveryModel.missing`)."""


class DeliveryModel:
    """Expected deliveries of ``conformance.*`` publishes, per session (§6, CONF-1).

    Pure: no I/O, no clock. :meth:`on_event` raises :class:`CaseFailed` naming the requirement
    an event breaks.
    """

    def __init__(self) -> None:
        self.sessions: dict[str, SessionModel] = {}
        self.published: dict[str, Published] = {}
        self.channel_order: dict[str, list[str]] = {}

    def open(self, session_id: str, identity: str | None) -> SessionModel:
        if session_id in self.sessions:
            # [RESUME-2] a refused resume / fresh hello must get a NEW session id.
            raise CaseFailed(
                f"fresh session id {session_id[:6]}… was already issued to an earlier session",
                requirement="RESUME-2",
            )
        session = SessionModel(session_id, identity)
        self.sessions[session_id] = session
        return session

    def forget(self, session_id: str) -> None:
        """The client abandoned the session: it no longer receives anything the model tracks."""
        session = self.sessions[session_id]
        session.subscriptions.clear()
        session.pending.clear()

    def subscribe(self, session_id: str, channel: str) -> None:
        self.sessions[session_id].subscriptions.add(channel)

    def unsubscribe(self, session_id: str, channel: str) -> None:
        session = self.sessions[session_id]
        session.subscriptions.discard(channel)
        session.unsubscribed.add(channel)

    def publish(self, mark: str, channel: str, data: Any) -> Published:
        """Record an acked publish: every session subscribed now must receive it, once."""
        if mark in self.published:
            raise ValueError(f"mark {mark!r} published twice by the machine")
        receivers = frozenset(s.id for s in self.sessions.values() if channel in s.subscriptions)
        for session_id in receivers:
            self.sessions[session_id].pending.setdefault(channel, deque()).append(mark)
        entry = Published(mark, channel, data, receivers)
        self.published[mark] = entry
        self.channel_order.setdefault(channel, []).append(mark)
        return entry

    def resumed(self, session_id: str, welcome_seq: int) -> None:
        session = self.sessions[session_id]
        session.replay_until = welcome_seq
        session.resumed_channels = set(session.subscriptions)
        session.detached_at = None

    def on_event(self, session_id: str, frame: Frame) -> None:
        """Check one received ``event`` and account for it; raise :class:`CaseFailed` if wrong."""
        session = self.sessions[session_id]
        seq, channel, data = frame.get("seq"), frame.get("channel"), frame.get("data")
        mark = data.get("mark") if isinstance(data, dict) else None
        in_replay = isinstance(seq, int) and seq <= session.replay_until
        shown = f"event seq {seq} on {channel!r} (mark {mark!r})"
        if not isinstance(seq, int) or seq != session.last_seq + 1:
            if isinstance(seq, int) and seq <= session.last_seq:
                requirement = "DELIVERY-6" if mark in session.seen else "DELIVERY-1"
                problem = f"{shown} repeats or goes back: last seq received was {session.last_seq}"
            else:
                requirement = "DELIVERY-1"
                problem = f"{shown} after seq {session.last_seq}: a gap"
            if in_replay:
                requirement = "RESUME-3"
                problem += " (during the replay after resume)"
            raise CaseFailed(problem, requirement=requirement)
        entry = self.published.get(mark) if isinstance(mark, str) else None
        if entry is None:
            raise CaseFailed(f"{shown}: nobody published this mark", requirement="DELIVERY-2")
        if mark in session.seen:
            requirement = "RESUME-3" if in_replay else "DELIVERY-6"
            raise CaseFailed(f"{shown}: this event was already delivered", requirement=requirement)
        if entry.channel != channel:
            raise CaseFailed(
                f"{shown}: it was published on {entry.channel!r}, not on {channel!r}",
                requirement="DELIVERY-2",
            )
        if session_id not in entry.receivers:
            if channel in session.unsubscribed:
                raise CaseFailed(
                    f"{shown}: published after this session's unsubscribe was acked",
                    requirement="OPS-6",
                )
            raise CaseFailed(
                f"{shown}: this session was not subscribed to {channel!r} when it was published",
                requirement="DELIVERY-2",
            )
        queue = self.sessions[session_id].pending.get(channel) or deque()
        if not queue or queue[0] != mark:
            expected = queue[0] if queue else None
            requirement = "RESUME-3" if in_replay else "DELIVERY-3"
            raise CaseFailed(
                f"{shown}: the channel order (fixed by the acks, OPS-7) puts {expected!r} first",
                requirement=requirement,
            )
        if not json_equal(data, entry.data):
            raise CaseFailed(
                f"{shown}: data {_show(data)} differs from the published {_show(entry.data)}",
                requirement="DELIVERY-5",
            )
        queue.popleft()
        session.seen.add(mark)
        session.last_seq = seq

    def missing(self, session_id: str) -> MissingEvents:
        """The finding for events still expected by ``session_id`` once the wait ran out."""
        session = self.sessions[session_id]
        waiting = {c: list(q) for c, q in session.pending.items() if q}
        lost_after_resume = [c for c in waiting if c in session.resumed_channels]
        requirement = "RESUME-3" if lost_after_resume else "OPS-6"
        why = (
            " (subscriptions must survive the resume)"
            if lost_after_resume
            else " (CONF-1: every subscriber)"
        )
        return MissingEvents(
            f"session {session_id[:6]}… never received {session.outstanding} event(s) of channels "
            f"it "
            f"is subscribed to: {waiting}; last seq received {session.last_seq}{why}",
            requirement=requirement,
        )


# --------------------------------------------------------------------------- async bridge


class MachineStopped(Exception):
    """The run was stopped from outside (a cancelled case); not a finding about the server."""


class EventLoopThread:
    """An asyncio loop in a daemon thread; synchronous code submits coroutines with a bound."""

    def __init__(self, name: str = "canaux-conformance-machine") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop; cancel it and raise :class:`TimeoutError` after ``timeout``."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"the machine's step did not finish within {timeout:g}s") from None

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel what is left, stop the loop, join the thread."""
        if not self.loop.is_running():
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=timeout)

        with contextlib.suppress(Exception):
            self.run(cancel_all(), timeout + 1)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()


# --------------------------------------------------------------------------- the machine


@dataclass(frozen=True)
class MachineBudget:
    """How many examples and steps, and how long shrinking may take."""

    max_examples: int
    step_count: int
    shrink_seconds: float


@dataclass
class MachineResult:
    """What a passing run did (for the report)."""

    seed: int
    examples: int
    steps: int
    publishes: int


@dataclass
class _Runtime:
    """State shared by every example of one machine class."""

    target: Target
    timeout: float
    run_id: str
    loop: EventLoopThread | None = None
    impostor: str | None = None
    probed: bool = False
    examples: int = 0
    steps: int = 0
    publishes: int = 0
    last_transcript: Transcript | None = None
    first_failure: tuple[CaseFailed, Transcript] | None = None
    """The first finding of the run and the transcript of its example (for flaky replays)."""
    stop: threading.Event = field(default_factory=threading.Event)
    """Set when the run must end (the case was cancelled): every later step fails at once."""

    def runner(self) -> EventLoopThread:
        if self.loop is None:
            self.loop = EventLoopThread()
        return self.loop


@dataclass
class _Slot:
    """One client of the machine: its proxy, connection, and session."""

    name: str
    proxy: FaultProxy
    token: str | None
    client: RawClient | None = None
    session: str | None = None
    connections: int = 0
    answered: list[tuple[Frame, int, float]] = field(default_factory=list)
    """Publish frames acked in the current session, each with its ordinal among the session's
    frames with an id and when it was sent (re-sent by the OPS-9 rule)."""
    ids_sent: int = 0
    """Frames with an id sent in the current session (the OPS-9 memory counts them)."""

    def new_session(self, session: str) -> None:
        self.session = session
        self.answered = []
        self.ids_sent = 0

    @property
    def attached(self) -> bool:
        return self.client is not None

    @property
    def detached(self) -> bool:
        return self.client is None and self.session is not None


def _payloads() -> st.SearchStrategy[Any]:
    schema = canaux_schemas.load("channels/conformance.json")["$defs"]["publish"]
    schema = {k: v for k, v in schema.items() if k not in ("examples", "title", "description")}
    # ``body`` is optional: also draw from the schema with it required, so that most
    # publishes carry a generated JSON value to compare [DELIVERY-5].
    with_body = {**schema, "required": [*schema.get("required", []), "body"]}
    strategy: st.SearchStrategy[Any] = st.one_of(from_schema(schema), from_schema(with_body))
    return strategy.filter(_small_and_interoperable)


def _small_and_interoperable(value: Any) -> bool:
    # [TRANSPORT-17] only I-JSON is published (no noncharacter in a generated string).
    return _interoperable(value) and is_i_json(value) and len(_show(value).encode()) < 2048


def _reply_to(frame: Frame) -> Callable[[Frame], bool]:
    """Matches the ack or error answering ``frame`` [OPS-1]."""
    frame_id = frame["id"]
    return lambda f: f.get("type") in ("ack", "error") and f.get("id") == frame_id


class CanauxMachine(RuleBasedStateMachine):
    """Several clients against one server, checked against :class:`DeliveryModel` after every rule.

    Do not instantiate directly: :func:`make_machine` binds a target.
    """

    runtime: ClassVar[_Runtime]

    def __init__(self) -> None:
        super().__init__()
        rt = self.runtime
        rt.examples += 1
        self.rt = rt
        self.timeout = rt.timeout
        self.prefix = f"conformance.{rt.run_id}.m{rt.examples}"
        self.control = f"{self.prefix}.{_CONTROL}"
        self.transcript = Transcript()
        rt.last_transcript = self.transcript
        self.model = DeliveryModel()
        self.slots: list[_Slot] = []
        self.channels: list[str] = []
        self.limits: Mapping[str, Any] = {}
        self._counter = itertools.count(1)
        self._notes: list[str] = []

    # ----------------------------------------------------------------- plumbing

    def _do(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run one rule's coroutine on the loop, then check every attached client (settle)."""
        self.rt.steps += 1
        if self.rt.stop.is_set():
            coro.close()
            self._failed = True
            raise MachineStopped("the machine run was stopped")

        notes, self._notes = self._notes, []

        async def step() -> None:
            for text in notes:
                self.transcript.note(text)
            try:
                await coro
                await self._settle()
            except MissingEvents:
                # Events that arrived elsewhere may explain the missing ones (a mis-route, a
                # leak): that is the clearer finding, raised by the sweep if there is one.
                await self._sweep()
                raise

        try:
            self.rt.runner().run(step(), timeout=self.timeout * 12 + 30)
        except BaseException as exc:
            self._failed = True
            if isinstance(exc, CaseFailed) and self.rt.first_failure is None:
                self.rt.first_failure = (exc, self.transcript)
            raise

    def _say(self, text: str) -> None:
        note(text)
        # The transcript's clock is the loop's: the note is written by the next step, on the loop.
        self._notes.append(text)

    def _next_id(self, slot: _Slot) -> str:
        slot.ids_sent += 1
        return f"{slot.name.lower()}{next(self._counter)}"

    def _mark(self) -> str:
        return f"{self.rt.run_id}-{self.rt.examples}-{next(self._counter)}"

    def _attached(self) -> list[_Slot]:
        return [s for s in self.slots if s.attached]

    def _detached(self) -> list[_Slot]:
        return [s for s in self.slots if s.detached]

    def _pick(self, slots: list[_Slot], i: int) -> _Slot:
        return slots[i % len(slots)]

    async def _connect(
        self, slot: _Slot, *, resume: Mapping[str, Any] | None = None, token: str | None = None
    ) -> Frame:
        slot.connections += 1
        client = RawClient(
            slot.proxy.url(self.rt.target.ws_url),
            name=f"{slot.name}{slot.connections}",
            transcript=self.transcript,
            timeout=self.timeout,
        )
        await client.open()
        try:
            welcome = await client.hello(
                token=token if token is not None else slot.token, resume=resume
            )
        except BaseException:
            await client.abort()
            raise
        if not self.limits and isinstance(welcome.get("limits"), Mapping):
            self.limits = welcome["limits"]
        slot.client = client
        return welcome

    async def _fresh(self, slot: _Slot, *, resume: Mapping[str, Any] | None = None) -> None:
        """A new session for ``slot`` (no resume, or a resume that must be refused)."""
        welcome = await self._connect(slot, resume=resume)
        if resume is not None and welcome.get("resumed") is not False:
            raise CaseFailed(
                "resume of a session the server never issued got "
                f"resumed={welcome.get('resumed')!r}",
                requirement="RESUME-2",
            )
        if welcome.get("resumed") is not False or welcome.get("seq") != 0:
            raise CaseFailed(
                f"a new session must have resumed:false and seq 0, got resumed="
                f"{welcome.get('resumed')!r} seq={welcome.get('seq')!r}",
                requirement="RESUME-2",
            )
        session = str(welcome["session"])
        slot.new_session(session)
        self.model.open(session, slot.token)
        await self._request(slot, "subscribe", self.control)
        self.model.subscribe(session, self.control)

    async def _request(self, slot: _Slot, kind: str, channel: str, data: Any = None) -> Frame:
        assert slot.client is not None
        frame: Frame = {"type": kind, "id": self._next_id(slot), "channel": channel}
        if kind == "publish":
            frame["data"] = data
        return await slot.client.request(frame, ok=True)

    async def _drop(self, slot: _Slot) -> None:
        """Reset the slot's TCP connection (through its proxy); wait until the client sees it."""
        client = slot.client
        assert client is not None
        assert slot.session is not None
        slot.proxy.cut()
        slot.proxy.resume()  # a stalled proxy must carry the next connection
        try:
            await client.expect_close(self.timeout)
        except CaseFailed:
            await client.abort()
        # Events read before the cut were received: account for them (the resume starts after).
        await self._drain(slot, client)
        slot.client = None
        self.model.sessions[slot.session].detached_at = time.monotonic()

    async def _drain(self, slot: _Slot, client: RawClient) -> None:
        assert slot.session is not None
        while any(f.get("type") == "event" for f in client.unclaimed()):
            frame = await client.expect("event", timeout=self.timeout)
            self.model.on_event(slot.session, frame)

    async def _collect(self, slot: _Slot) -> None:
        """Wait for every event the model expects this session to receive, checking each."""
        client, session_id = slot.client, slot.session
        assert client is not None
        assert session_id is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        session = self.model.sessions[session_id]
        while session.outstanding:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise self.model.missing(session_id)
            try:
                frame = await client.expect("event", timeout=remaining)
            except CaseFailed as exc:
                if exc.requirement is not None:
                    raise
                if client.closed:
                    raise MissingEvents(
                        f"client {client.name}: the server closed the connection (code "
                        f"{client.close_code}, reason {client.close_reason!r}) while "
                        f"{session.outstanding} event(s) were still expected",
                        requirement="OPS-6",
                    ) from None
                raise self.model.missing(session_id) from None
            self.model.on_event(session_id, frame)
        await self._drain(slot, client)

    def _stray_replies(self, slot: _Slot) -> None:
        assert slot.client is not None
        for frame in slot.client.unclaimed():
            if frame.get("type") in ("ack", "error"):
                raise CaseFailed(
                    f"client {slot.client.name}: reply {encode(frame)} answers no pending frame "
                    "(each frame gets exactly one reply, with its id)",
                    requirement="OPS-1",
                )

    async def _settle(self) -> None:
        for slot in self._attached():
            await self._collect(slot)
        for slot in self._attached():
            self._stray_replies(slot)

    async def _sweep(self) -> None:
        """After a failure: check events that already arrived, for a more precise finding."""
        for slot in self._attached():
            assert slot.client is not None
            assert slot.session is not None
            for frame in slot.client.unclaimed():
                if frame.get("type") == "event":
                    self.model.on_event(slot.session, frame)

    def _expect_resumed(self, session: SessionModel) -> ResumeExpectation:
        """What RESUME-2 requires of resuming ``session`` now, from the announced limits."""
        limits = self.limits
        if session.detached_at is None:
            limits = {k: v for k, v in limits.items() if k != "resume_window_ms"}
        return resume_expectation(
            limits,
            behind=session.outstanding,
            since_drop_s=time.monotonic() - (session.detached_at or time.monotonic()),
        )

    async def _resume(self, slot: _Slot, *, pending_publish: bool = False) -> bool:
        """Resume ``slot``'s detached session; return whether the server resumed it."""
        assert slot.session is not None
        assert slot.client is None
        session = self.model.sessions[slot.session]
        expectation = self._expect_resumed(session)
        resume = {"session": slot.session, "seq": session.last_seq}
        welcome = await self._connect(slot, resume=resume)
        resumed = welcome.get("resumed")
        if resumed is True:
            if expectation.expect is Resume.REFUSED:
                raise CaseFailed(
                    f"resume granted (resumed=true), but {expectation.reason}",
                    requirement="RESUME-2",
                )
            if welcome.get("session") != slot.session:
                raise CaseFailed("resumed:true with a different session id", requirement="RESUME-2")
            allowed = {session.assigned}
            if pending_publish:
                allowed.add(session.assigned + 1)
            if welcome.get("seq") not in allowed:
                raise CaseFailed(
                    f"resumed welcome.seq is {welcome.get('seq')!r}; the last seq assigned to "
                    f"this session is {session.assigned}",
                    requirement="RESUME-2",
                )
            self.model.resumed(slot.session, int(welcome["seq"]))
            return True
        if expectation.expect is Resume.REQUIRED:
            raise CaseFailed(
                f"resume {{session, seq: {session.last_seq}}} got resumed={resumed!r}, but "
                f"RESUME-2 requires resumed=true: {expectation.reason}",
                requirement="RESUME-2",
            )
        # A legitimate refusal: a new session with nothing [RESUME-2].
        self.model.forget(slot.session)
        await self._fresh_after_refusal(slot, welcome)
        return False

    async def _fresh_after_refusal(self, slot: _Slot, welcome: Frame) -> None:
        if welcome.get("seq") != 0 or welcome.get("session") == slot.session:
            raise CaseFailed(
                "resumed:false must come with a NEW session and seq 0", requirement="RESUME-2"
            )
        slot.new_session(str(welcome["session"]))
        self.model.open(str(slot.session), slot.token)

    async def _close_all(self) -> None:
        for slot in self.slots:
            if slot.client is not None:
                await slot.client.close()
                slot.client = None
            await slot.proxy.close()

    # ----------------------------------------------------------------- set up

    @initialize(
        count=st.integers(min_value=2, max_value=4),
        names=st.lists(
            st.from_regex(_SEGMENT).filter(lambda s: s != _CONTROL),
            min_size=3,
            max_size=3,
            unique=True,
        ),
        initial=st.lists(st.sets(st.integers(0, 2)), min_size=4, max_size=4),
    )
    def start(self, count: int, names: list[str], initial: list[set[int]]) -> None:
        """Open ``count`` clients, each subscribed to the control channel and to a few of the
        example's channels (so that short runs already route between several sessions)."""
        self.channels = [f"{self.prefix}.{name}"[:128] for name in names]
        self._say(
            f"example {self.rt.examples}: {count} clients; channels {self.channels}; "
            f"control {self.control}; initial subscriptions "
            + ", ".join(f"{chr(ord('A') + k)}: {sorted(initial[k])}" for k in range(count))
        )

        async def go() -> None:
            if not self.rt.probed:
                await self._probe_identity()
            host, port = self.rt.target.host_port
            for index in range(count):
                proxy = await FaultProxy(host, port, timeout=self.timeout).start()
                slot = _Slot(chr(ord("A") + index), proxy, self.rt.target.token)
                self.slots.append(slot)
                await self._fresh(slot)
                assert slot.session is not None
                for c in sorted(initial[index]):
                    await self._request(slot, "subscribe", self.channels[c])
                    self.model.subscribe(slot.session, self.channels[c])

        self._do(go())

    async def _probe_identity(self) -> None:
        """A second identity for SECURITY-2: --other-token, or any token the server accepts."""
        self.rt.probed = True
        candidate = self.rt.target.other_token or f"conformance-impostor-{self.rt.run_id}"
        if candidate == self.rt.target.token:
            return
        client = RawClient(
            self.rt.target.ws_url, name="probe", transcript=Transcript(), timeout=self.timeout
        )
        try:
            await client.open()
            welcome = await client.hello(token=candidate)
            if welcome.get("type") == "welcome":
                self.rt.impostor = candidate
        except CaseFailed:
            self.rt.impostor = None
        finally:
            await client.close()

    # ----------------------------------------------------------------- rules

    @precondition(lambda self: bool(self._attached()))
    @rule(i=st.integers(0, 3), c=st.integers(0, 2))
    def subscribe(self, i: int, c: int) -> None:
        """subscribe: ack, or already_subscribed when it already is [OPS-3]; then OPS-6 applies."""
        slot, channel = self._pick(self._attached(), i), self.channels[c]
        assert slot.session is not None
        already = channel in self.model.sessions[slot.session].subscriptions
        self._say(
            f"{slot.name} subscribes to {channel}" + (" (already subscribed)" if already else "")
        )

        async def go() -> None:
            assert slot.client is not None
            assert slot.session is not None
            if already:
                frame = {"type": "subscribe", "id": self._next_id(slot), "channel": channel}
                reply = await slot.client.request(frame)
                if reply.get("type") != "error" or reply.get("code") != "already_subscribed":
                    raise CaseFailed(
                        f"second subscribe to {channel} answered {encode(reply)}",
                        requirement="OPS-3",
                    )
                return
            await self._request(slot, "subscribe", channel)
            self.model.subscribe(slot.session, channel)

        self._do(go())

    @precondition(lambda self: bool(self._attached()))
    @rule(i=st.integers(0, 3), c=st.integers(0, 2))
    def unsubscribe(self, i: int, c: int) -> None:
        """unsubscribe: ack then nothing more of that channel, or not_subscribed [OPS-4, OPS-6]."""
        slot, channel = self._pick(self._attached(), i), self.channels[c]
        assert slot.session is not None
        subscribed = channel in self.model.sessions[slot.session].subscriptions
        self._say(
            f"{slot.name} unsubscribes from {channel}" + ("" if subscribed else " (not subscribed)")
        )

        async def go() -> None:
            assert slot.client is not None
            assert slot.session is not None
            if not subscribed:
                frame = {"type": "unsubscribe", "id": self._next_id(slot), "channel": channel}
                reply = await slot.client.request(frame)
                if reply.get("type") != "error" or reply.get("code") != "not_subscribed":
                    raise CaseFailed(
                        f"unsubscribe from {channel} while not subscribed answered {encode(reply)}",
                        requirement="OPS-4",
                    )
                return
            await self._request(slot, "unsubscribe", channel)
            self.model.unsubscribe(slot.session, channel)

        self._do(go())

    @precondition(lambda self: bool(self._attached()))
    @rule(i=st.integers(0, 3), c=st.integers(0, 3), payload=_payloads())
    def publish(self, i: int, c: int, payload: dict[str, Any]) -> None:
        """publish: ack, then delivered to exactly the subscribers of the channel [CONF-1]."""
        slot = self._pick(self._attached(), i)
        channel = ([*self.channels, self.control])[c]
        data = {**payload, "mark": self._mark()}
        self._say(f"{slot.name} publishes {data['mark']} on {channel}: {encode(data)[:120]}")

        async def go() -> None:
            frame = await self._publish_frame(slot, channel, data)
            assert slot.client is not None
            await slot.client.request(frame, ok=True)
            self._accepted(slot, frame)

        self._do(go())

    async def _publish_frame(self, slot: _Slot, channel: str, data: Any) -> Frame:
        return {"type": "publish", "id": self._next_id(slot), "channel": channel, "data": data}

    def _accepted(self, slot: _Slot, frame: Frame) -> None:
        self.rt.publishes += 1
        self.model.publish(frame["data"]["mark"], frame["channel"], frame["data"])
        slot.answered.append((frame, slot.ids_sent, time.monotonic()))

    def _remembered(self, slot: _Slot) -> list[tuple[Frame, int, float]]:
        """The answered publishes OPS-9 obliges the server to remember: among the
        ``resume_buffer`` most recent frames with an id of the session (8 when no buffer is
        announced), and none at all when ``resume_window_ms`` is under a second (the memory
        only has to reach back that far; the sub-second part is left to timing, below)."""
        buffer = self.limits.get("resume_buffer")
        window = self.limits.get("resume_window_ms")
        if isinstance(window, int) and window < 1000:
            return []
        depth = buffer if isinstance(buffer, int) else 8
        return [entry for entry in slot.answered if slot.ids_sent - entry[1] < depth]

    @precondition(lambda self: any(self._remembered(s) for s in self._attached()))
    @rule(i=st.integers(0, 3), j=st.integers(0, 7))
    def republish(self, i: int, j: int) -> None:
        """Re-send an answered publish with the same id: ack again, delivered no more [OPS-9].

        Only a publish the server must still remember: OPS-9 bounds the memory by the
        announced resume_buffer (frames) and resume_window_ms (time)."""
        slot = self._pick([s for s in self._attached() if self._remembered(s)], i)
        recent = self._remembered(slot)
        frame, _, sent_at = recent[j % len(recent)]
        window = self.limits.get("resume_window_ms")
        if isinstance(window, int) and time.monotonic() - sent_at > window / 1000 * 0.9 - 0.5:
            self._say(f"{slot.name} would re-send {frame['id']}, but it is older than the window")
            return
        self._say(f"{slot.name} re-sends publish {frame['id']} ({frame['data']['mark']})")

        async def go() -> None:
            assert slot.client is not None
            await slot.client.send(frame)
            reply = await slot.client.expect(
                where=_reply_to(frame),
                requirement="OPS-9",
            )
            if reply.get("type") != "ack":
                raise CaseFailed(
                    f"re-sent publish {frame['id']} answered {encode(reply)}; "
                    "the first answer was an ack",
                    requirement="OPS-9",
                )

        self._do(go())

    @precondition(lambda self: bool(self._attached()))
    @rule(i=st.integers(0, 3))
    def cut(self, i: int) -> None:
        """Drop one client's TCP connection abruptly; its session is detached (§7)."""
        slot = self._pick(self._attached(), i)
        self._say(f"network cut for {slot.name}")
        self._do(self._drop(slot))

    @precondition(lambda self: len(self._attached()) >= 2)
    @rule(i=st.integers(0, 3), j=st.integers(0, 3), c=st.integers(0, 3), n=st.integers(2, 6))
    def burst_then_cut(self, i: int, j: int, c: int, n: int) -> None:
        """A client publishes a burst; another client is cut with the burst in flight."""
        attached = self._attached()
        publisher = self._pick(attached, i)
        channel = [*self.channels, self.control][c]
        others = [s for s in attached if s is not publisher]
        # Prefer a victim that receives the burst: then its resume has something to replay.
        receiving = [
            s
            for s in others
            if s.session is not None and channel in self.model.sessions[s.session].subscriptions
        ]
        victim = self._pick(receiving or others, j)
        self._say(
            f"{victim.name}'s network stalls; {publisher.name} publishes {n} events on "
            f"{channel}; {victim.name} is cut with them in flight"
        )

        async def go() -> None:
            assert publisher.client is not None
            frames = [
                await self._publish_frame(publisher, channel, {"mark": self._mark(), "body": k})
                for k in range(n)
            ]
            # The stall makes sure the burst is assigned to the victim but not received.
            victim.proxy.stall()
            for frame in frames:
                await publisher.client.send(frame)
            for frame in frames:
                reply = await publisher.client.expect(where=_reply_to(frame), requirement="OPS-1")
                if reply.get("type") != "ack":
                    raise CaseFailed(
                        f"publish {frame['id']} refused: {encode(reply)}", requirement="OPS-7"
                    )
                self._accepted(publisher, frame)
            await self._drop(victim)

        self._do(go())

    def _resume_is_certain(self) -> bool:
        """True when an immediate resume must succeed: a window of at least 2 s [RESUME-2].

        With a shorter window a refusal is legitimate, and then whether the cut publish was
        applied before the cut cannot be known; the rule needing certainty is skipped.
        """
        window = self.limits.get("resume_window_ms")
        return not isinstance(window, int) or window >= 2000

    @precondition(lambda self: bool(self._attached()) and self._resume_is_certain())
    @rule(i=st.integers(0, 3), c=st.integers(0, 2), payload=_payloads())
    def publish_across_cut(self, i: int, c: int, payload: dict[str, Any]) -> None:
        """Publish, cut before the reply, resume, re-send the frame: applied once [RESUME-6]."""
        slot = self._pick(self._attached(), i)
        channel = self.channels[c]
        data = {**payload, "mark": self._mark()}
        self._say(
            f"{slot.name} publishes {data['mark']} on {channel}, is cut at once, "
            "resumes and re-sends"
        )

        async def go() -> None:
            assert slot.client is not None
            assert slot.session is not None
            frame = await self._publish_frame(slot, channel, data)
            await slot.client.send(frame)
            await self._drop(slot)
            if not await self._resume(slot, pending_publish=True):
                raise CaseFailed(
                    "an immediate resume within the window was refused", requirement="RESUME-2"
                )
            # Nothing else happened meanwhile, so recording the publish now gives the same
            # receivers whether the server applied it before the cut or on the re-send.
            self._accepted(slot, frame)
            assert slot.client is not None
            await slot.client.send(frame)
            reply = await slot.client.expect(where=_reply_to(frame), requirement="RESUME-6")
            if reply.get("type") != "ack":
                raise CaseFailed(f"re-sent publish answered {encode(reply)}", requirement="OPS-9")

        self._do(go())

    @precondition(lambda self: bool(self._detached()))
    @rule(i=st.integers(0, 3), then_publish=st.booleans())
    def resume(self, i: int, then_publish: bool) -> None:
        """hello.resume: every missed event once, in order, before newer ones [RESUME-3]."""
        slot = self._pick(self._detached(), i)
        self._say(
            f"{slot.name} resumes"
            + (" and publishes right after the welcome" if then_publish else "")
        )

        async def go() -> None:
            resumed = await self._resume(slot)
            if not resumed:
                await self._request(slot, "subscribe", self.control)
                assert slot.session is not None
                self.model.subscribe(slot.session, self.control)
            if then_publish:
                # Sent before the replay is read: the new event must still come after it.
                frame = await self._publish_frame(slot, self.control, {"mark": self._mark()})
                assert slot.client is not None
                await slot.client.request(frame, ok=True)
                self._accepted(slot, frame)

        self._do(go())

    @rule(i=st.integers(0, 3), unknown=st.booleans())
    def reconnect_fresh(self, i: int, unknown: bool) -> None:
        """Start a new session; resuming a never-issued session id is refused [RESUME-2]."""
        slot = self._pick(self.slots, i)
        self._say(
            f"{slot.name} starts a new session"
            + (" by resuming a session id the server never issued" if unknown else "")
        )

        async def go() -> None:
            if slot.client is not None:
                await self._drain(slot, slot.client)
                await slot.client.close()
                slot.client = None
            if slot.session is not None:
                self.model.forget(slot.session)
            resume = {"session": secrets.token_urlsafe(24), "seq": 0} if unknown else None
            await self._fresh(slot, resume=resume)

        self._do(go())

    @precondition(lambda self: bool(self._detached()) and self.rt.impostor is not None)
    @rule(i=st.integers(0, 3))
    def resume_as_someone_else(self, i: int) -> None:
        """Another identity resumes a detached session: refused, session untouched [SECURITY-2]."""
        slot = self._pick(self._detached(), i)
        self._say(f"an impostor (another token) tries to resume {slot.name}'s session")

        async def go() -> None:
            assert slot.session is not None
            assert self.rt.impostor is not None
            session = self.model.sessions[slot.session]
            impostor = RawClient(
                self.rt.target.ws_url,
                name=f"X{slot.name}",
                transcript=self.transcript,
                timeout=self.timeout,
            )
            await impostor.open()
            try:
                welcome = await impostor.hello(
                    token=self.rt.impostor,
                    resume={"session": slot.session, "seq": session.last_seq},
                )
                if welcome.get("resumed") is not False or welcome.get("session") == slot.session:
                    raise CaseFailed(
                        f"a resume under another identity got resumed={welcome.get('resumed')!r} "
                        "with the "
                        + ("same" if welcome.get("session") == slot.session else "a new")
                        + " session",
                        requirement="SECURITY-2",
                    )
                if any(f.get("type") == "event" for f in impostor.unclaimed()):
                    raise CaseFailed(
                        "the impostor's connection received events", requirement="SECURITY-2"
                    )
            finally:
                await impostor.close()

        self._do(go())

    # ----------------------------------------------------------------- end of example

    def teardown(self) -> None:
        """Resume detached sessions, then the control-channel barrier (see module docstring)."""
        if not self.slots:
            return
        failed = self._failed or self.rt.stop.is_set()

        async def finish() -> None:
            try:
                if not failed:
                    for slot in self._detached():
                        if not await self._resume(slot):
                            await self._request(slot, "subscribe", self.control)
                            assert slot.session is not None
                            self.model.subscribe(slot.session, self.control)
                    await self._settle()
                    attached = self._attached()
                    if attached:
                        frame = await self._publish_frame(
                            attached[0], self.control, {"mark": self._mark()}
                        )
                        assert attached[0].client is not None
                        await attached[0].client.request(frame, ok=True)
                        self._accepted(attached[0], frame)
                        await self._settle()
            finally:
                await self._close_all()

        try:
            self.rt.runner().run(finish(), timeout=self.timeout * 12 + 30)
        except CaseFailed as exc:
            if self.rt.first_failure is None:
                self.rt.first_failure = (exc, self.transcript)
            raise

    _failed: bool = False


def make_machine(
    target: Target, *, timeout: float = 5.0, run_id: str | None = None
) -> type[CanauxMachine]:
    """A machine class bound to ``target`` (see the module docstring for use from pytest)."""
    runtime = _Runtime(target=target, timeout=timeout, run_id=run_id or secrets.token_hex(4))
    return type("CanauxMachineFor", (CanauxMachine,), {"runtime": runtime})


@contextlib.contextmanager
def _shrink_limit(seconds: float) -> Iterator[None]:
    """Bound Hypothesis's shrinking: every shrink step here is real network traffic."""
    from hypothesis.internal.conjecture import engine

    previous = getattr(engine, "MAX_SHRINKING_SECONDS", None)
    if previous is None:
        yield
        return
    engine.MAX_SHRINKING_SECONDS = int(seconds)
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = previous


def _first_case_failure(exc: BaseException) -> CaseFailed | None:
    if isinstance(exc, CaseFailed):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _first_case_failure(inner)
            if found is not None:
                return found
    return None


# Hypothesis's advice when shrinking hits its time limit; here the limit is ours (_shrink_limit).
_HYPOTHESIS_NAG = re.compile(r"five minutes working to shrink|PLEASE REPORT THIS|improve shrinking")


def run_as_case(
    machine: type[RuleBasedStateMachine],
    budget: MachineBudget,
    *,
    seed: int,
    transcript: Callable[[], Transcript | None],
    first_failure: Callable[[], tuple[CaseFailed, Transcript] | None] = lambda: None,
    settings_overrides: Mapping[str, Any] | None = None,
) -> None:
    """Run a stateful test with the run's budget and seed; turn a failure into :class:`CaseFailed`.

    The message holds the failure, the minimal (shrunk) steps as Hypothesis prints them, and
    ``transcript()`` — the transcript of the last example run, which is the minimal one:
    Hypothesis replays it last to report it.
    """
    # The attribute hypothesis.seed() sets; run_state_machine_as_test reads it from the class.
    machine._hypothesis_internal_use_seed = seed
    values: dict[str, Any] = {
        "max_examples": budget.max_examples,
        "stateful_step_count": budget.step_count,
        "deadline": None,
        "database": None,
        "print_blob": False,
        "report_multiple_bugs": False,
        "suppress_health_check": list(HealthCheck),
        "phases": [Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    }
    values.update(settings_overrides or {})
    report: list[str] = []
    try:
        with (
            with_reporter(lambda text: report.append(str(text))),
            _shrink_limit(budget.shrink_seconds),
        ):
            run_state_machine_as_test(machine, settings=settings(**values))
    except BaseException as exc:
        failure = _first_case_failure(exc)
        first = first_failure()
        if failure is None and isinstance(exc, Flaky) and first is not None:
            # The server behaved differently when the same steps were replayed (timing): no
            # minimal example exists. Report the first failure seen, with its own transcript.
            found, where = first
            raise CaseFailed(
                f"{found.message}\n\n(seed {seed}; the failure did not reproduce when Hypothesis "
                f"replayed the same steps, so it was not shrunk: {type(exc).__name__})\n\n"
                f"transcript of the example that failed:\n{where.render()}",
                requirement=found.requirement,
            ) from exc
        if failure is None:
            raise
        flaky = isinstance(exc, Flaky)
        # Hypothesis attaches the minimal steps to the exception as notes (older versions
        # print them through the reporter). Repeated lines are repeated steps: keep them all.
        notes = getattr(exc, "__notes__", None) or getattr(failure, "__notes__", None) or []
        steps = "\n".join(
            str(line)
            for line in [*notes, *report]
            if str(line).strip() and not _HYPOTHESIS_NAG.search(str(line))
        )
        if steps.strip() and any(_HYPOTHESIS_NAG.search(str(line)) for line in [*notes, *report]):
            steps += f"\n(shrinking stopped at its {budget.shrink_seconds:g}s budget)"
        shown = transcript()
        if flaky and first is not None:
            shown = first[1]
        message = describe_failure(
            failure.message,
            seed=seed,
            steps=steps,
            flaky=flaky,
            transcript=shown.render() if shown is not None else "",
        )
        raise CaseFailed(message, requirement=failure.requirement) from exc


def describe_failure(message: str, *, seed: int, steps: str, flaky: bool, transcript: str) -> str:
    """The finding of a failed machine run: the failure, the minimal steps when there are
    some, and the transcript of the example shown.

    A failure that did not reproduce when Hypothesis replayed its steps (timing) has no
    minimal example: the message says so and shows the example that failed, never a heading
    followed by nothing.
    """
    shown = transcript or "(no transcript was recorded)"
    if flaky or not steps.strip():
        why = (
            "the failure did not reproduce when Hypothesis replayed the same steps, so it was "
            "not shrunk"
            if flaky
            else "Hypothesis reported no steps"
        )
        return (
            f"{message}\n\n(seed {seed}; {why})\n\ntranscript of the example that failed:\n{shown}"
        )
    return (
        f"{message}\n\nminimal example (seed {seed}):\n{steps}\n\n"
        f"transcript of that example:\n{shown}"
    )


def run_machine(
    target: Target,
    budget: MachineBudget,
    *,
    seed: int,
    timeout: float = 5.0,
    run_id: str | None = None,
    stop: threading.Event | None = None,
    settings_overrides: Mapping[str, Any] | None = None,
) -> MachineResult:
    """Run the delivery machine against ``target`` (see :func:`run_as_case` for failures)."""
    machine = make_machine(target, timeout=timeout, run_id=run_id)
    rt = machine.runtime
    if stop is not None:
        rt.stop = stop
    try:
        run_as_case(
            machine,
            budget,
            seed=seed,
            transcript=lambda: rt.last_transcript,
            first_failure=lambda: rt.first_failure,
            settings_overrides=settings_overrides,
        )
    finally:
        if rt.loop is not None:
            rt.loop.stop()
    return MachineResult(seed=seed, examples=rt.examples, steps=rt.steps, publishes=rt.publishes)
