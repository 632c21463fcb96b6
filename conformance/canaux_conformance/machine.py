"""The stateful heart of the suite: a Hypothesis machine driving several real clients
(operations.md, delivery.md, resume.md, security.md).

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

With peers (``Target.peers``, ``canaux-conformance URL --peer URL2``) the clients spread over
the nodes of the deployment: each client starts on a drawn node (a proxy in front of each), a
resume or a fresh session goes to a drawn node (often another than the session's), and an
impostor tries another node than the session's; everything is checked against the same model,
since a deployment of several nodes must behave as one server [CLUSTER-1..3].

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

What it relies on lives next to it: the delivery model it checks events against
(:mod:`~canaux_conformance.delivery_model`), JSON equality (:mod:`~canaux_conformance.json_values`),
the thread running its event loop (:mod:`~canaux_conformance.loop_thread`) and the glue that runs a
machine as a case (:mod:`~canaux_conformance.machine_run`).

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
import itertools
import secrets
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
)
from hypothesis_jsonschema import from_schema

import canaux_schemas
from canaux_conformance.delivery_model import (
    DeliveryModel,
    MissingEvents,
    Published,
    SessionModel,
)
from canaux_conformance.ijson import is_i_json
from canaux_conformance.json_values import interoperable, json_equal, show_json
from canaux_conformance.loop_thread import EventLoopThread, MachineStopped
from canaux_conformance.machine_run import MachineBudget, describe_failure, run_as_case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.proxy import FaultProxy
from canaux_conformance.resume_rules import Resume, ResumeExpectation, resume_expectation
from canaux_conformance.target import Target, host_port
from canaux_conformance.wire import Frame, RawClient, Transcript, encode

# The machine's own names, and (for code that imported them from here) those of the modules
# its parts moved to: delivery_model, loop_thread, machine_run, json_values.
__all__ = [
    "CanauxMachine",
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
MAX_SAFE_INT = 2**53


# --------------------------------------------------------------------------- the machine


@dataclass
class MachineResult:
    """What a passing run did (for the report)."""

    seed: int
    examples: int
    steps: int
    publishes: int
    connections: tuple[int, ...] = ()
    """Connections opened on each node (one number without peers)."""


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
    connections: dict[int, int] = field(default_factory=dict)
    """Node → connections the machine opened on it (with peers, spread over the nodes)."""
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
    """One client of the machine: its proxies (one per node), connection, and session."""

    name: str
    proxies: list[FaultProxy]
    token: str | None
    node: int = 0
    """The node of the deployment its connection goes to (0 without ``--peer``)."""
    client: RawClient | None = None
    session: str | None = None
    connections: int = 0
    answered: list[tuple[Frame, int, float]] = field(default_factory=list)
    """Publish frames acked in the current session, each with its ordinal among the session's
    frames with an id and when it was sent (re-sent by the OPS-9 rule)."""
    ids_sent: int = 0
    """Frames with an id sent in the current session (the OPS-9 memory counts them)."""

    @property
    def proxy(self) -> FaultProxy:
        """The proxy in front of the node the slot's connection goes to."""
        return self.proxies[self.node]

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
    return interoperable(value) and is_i_json(value) and len(show_json(value).encode()) < 2048


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

    def _node(self, k: int) -> int:
        """A drawn node number, folded onto the nodes the run can reach."""
        return k % len(self.rt.target.nodes)

    def _on(self, node: int) -> str:
        """ " on node N" for the steps' notes, when there are several nodes."""
        return f" on node {node}" if len(self.rt.target.nodes) > 1 else ""

    async def _connect(
        self,
        slot: _Slot,
        *,
        resume: Mapping[str, Any] | None = None,
        token: str | None = None,
        node: int | None = None,
    ) -> Frame:
        """Open the slot's next connection, on ``node`` (default: the slot's node) [CLUSTER-1:
        any node of the deployment serves it as one server]."""
        if node is not None:
            slot.node = node
        slot.connections += 1
        self.rt.connections[slot.node] = self.rt.connections.get(slot.node, 0) + 1
        client = RawClient(
            slot.proxy.url(self.rt.target.node_url(slot.node)),
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

    async def _fresh(
        self, slot: _Slot, *, resume: Mapping[str, Any] | None = None, node: int | None = None
    ) -> None:
        """A new session for ``slot`` (no resume, or a resume that must be refused)."""
        welcome = await self._connect(slot, resume=resume, node=node)
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

    async def _resume(
        self, slot: _Slot, *, pending_publish: bool = False, node: int | None = None
    ) -> bool:
        """Resume ``slot``'s detached session (on ``node``, default its node); return whether
        the server resumed it."""
        assert slot.session is not None
        assert slot.client is None
        session = self.model.sessions[slot.session]
        expectation = self._expect_resumed(session)
        resume = {"session": slot.session, "seq": session.last_seq}
        welcome = await self._connect(slot, resume=resume, node=node)
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
            for proxy in slot.proxies:
                await proxy.close()

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
        nodes=st.lists(st.integers(0, 3), min_size=4, max_size=4),
    )
    def start(
        self, count: int, names: list[str], initial: list[set[int]], nodes: list[int]
    ) -> None:
        """Open ``count`` clients, each subscribed to the control channel and to a few of the
        example's channels (so that short runs already route between several sessions); with
        peers, each client on a drawn node of the deployment."""
        self.channels = [f"{self.prefix}.{name}"[:128] for name in names]
        self._say(
            f"example {self.rt.examples}: {count} clients; channels {self.channels}; "
            f"control {self.control}; initial subscriptions "
            + ", ".join(
                f"{chr(ord('A') + k)}{self._on(self._node(nodes[k]))}: {sorted(initial[k])}"
                for k in range(count)
            )
        )

        async def go() -> None:
            if not self.rt.probed:
                await self._probe_identity()
            for index in range(count):
                proxies = []
                for url in self.rt.target.nodes:
                    host, port = host_port(url)
                    proxies.append(await FaultProxy(host, port, timeout=self.timeout).start())
                slot = _Slot(chr(ord("A") + index), proxies, self.rt.target.token)
                self.slots.append(slot)
                await self._fresh(slot, node=self._node(nodes[index]))
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
        """Drop one client's TCP connection abruptly; its session is detached (resume.md)."""
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
    @rule(i=st.integers(0, 3), c=st.integers(0, 2), payload=_payloads(), k=st.integers(0, 3))
    def publish_across_cut(self, i: int, c: int, payload: dict[str, Any], k: int) -> None:
        """Publish, cut before the reply, resume (with peers, on a drawn node), re-send the
        frame: applied once [RESUME-6, OPS-9]."""
        slot = self._pick(self._attached(), i)
        channel = self.channels[c]
        node = self._node(k)
        data = {**payload, "mark": self._mark()}
        self._say(
            f"{slot.name} publishes {data['mark']} on {channel}, is cut at once, "
            f"resumes{self._on(node)} and re-sends"
        )

        async def go() -> None:
            assert slot.client is not None
            assert slot.session is not None
            frame = await self._publish_frame(slot, channel, data)
            await slot.client.send(frame)
            await self._drop(slot)
            if not await self._resume(slot, pending_publish=True, node=node):
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
    @rule(i=st.integers(0, 3), then_publish=st.booleans(), k=st.integers(0, 3))
    def resume(self, i: int, then_publish: bool, k: int) -> None:
        """hello.resume: every missed event once, in order, before newer ones [RESUME-3]; with
        peers, on a drawn node, whichever node the session was on [CLUSTER-1]."""
        slot = self._pick(self._detached(), i)
        node = self._node(k)
        self._say(
            f"{slot.name} resumes{self._on(node)}"
            + (" and publishes right after the welcome" if then_publish else "")
        )

        async def go() -> None:
            resumed = await self._resume(slot, node=node)
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

    @rule(i=st.integers(0, 3), unknown=st.booleans(), k=st.integers(0, 3))
    def reconnect_fresh(self, i: int, unknown: bool, k: int) -> None:
        """Start a new session; resuming a never-issued session id is refused [RESUME-2]."""
        slot = self._pick(self.slots, i)
        node = self._node(k)
        self._say(
            f"{slot.name} starts a new session{self._on(node)}"
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
            await self._fresh(slot, resume=resume, node=node)

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
            # With peers, on another node than the session's: a deployment is one server.
            impostor = RawClient(
                self.rt.target.node_url(self._node(slot.node + 1)),
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
    return MachineResult(
        seed=seed,
        examples=rt.examples,
        steps=rt.steps,
        publishes=rt.publishes,
        connections=tuple(rt.connections.get(n, 0) for n in range(len(target.nodes))),
    )
