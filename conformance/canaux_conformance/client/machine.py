"""The Hypothesis state machine for clients (issue 12 item 5): the application and the server
take turns at random, and what the application observed is checked after every step.

Each example starts a fresh adapter (the client under test) and a fresh scripted server. The
rules interleave what the application does (subscribe, unsubscribe, publish) with what the
server does (deliver events, answer or refuse requests, repeat an old seq, ping, cut the
connection or close it with a "reconnect" code, refuse an attempt, deliver events while the
client is away, then welcome it back with ``resumed: true`` and a replay, possibly with a
duplicate in it, or ``resumed: false``). The model says what the application must have seen:

- every event once, in seq order, since the last reset; a reset after a lost session, before
  any event of the new one (CLIENT-2, CLIENT-3, CLIENT-9, RESUME-5);
- every publish answered exactly once, with the answer the server gave (OPS-1 seen from the
  client; a second answer is an adapter error), and every unanswered request re-sent after a
  reconnection with its id (CLIENT-7, RESUME-6);
- a resume request naming the session and the last seq received (CLIENT-2, RESUME-1), and in a
  new session exactly the desired subscriptions restored (CLIENT-6).

Before a cut the machine waits until the application has seen every event sent, so the resume
seq it must ask for is exact. A failure is shrunk; the report shows the minimal steps (adapter
commands and server actions, replayable in that order) and the transcript of that example.
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from canaux_conformance.client.adapter import Adapter
from canaux_conformance.client.scripted_server import (
    ClientFrame,
    ScriptedConnection,
    ScriptedServer,
    new_session_id,
)
from canaux_conformance.loop_thread import EventLoopThread, MachineStopped
from canaux_conformance.machine_run import MachineBudget, run_as_case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.transcript import Transcript

__all__ = ["CHANNELS", "ClientMachine", "ClientMachineResult", "run_client_machine"]

CHANNELS = ("conformance.cm.a", "conformance.cm.b", "conformance.cm.c")
"""The channels the application picks from."""
BACKOFF = {"base_ms": 20, "cap_ms": 200}
"""Asked of the client: reconnections stay quick (their timing is the backoff cases' job)."""
HEARTBEAT_MS = 30_000
"""Long enough that no heartbeat timer fires during an example."""
_RECONNECT_CODES = (1001, 1011, 4503)
"""Close codes after which a client reconnects and resumes (close code registry)."""


@dataclass
class ClientMachineResult:
    """What a passing run did (for the report)."""

    seed: int
    examples: int
    steps: int
    events: int


@dataclass
class _Runtime:
    """Shared by every example of one machine class."""

    argv: Sequence[str]
    timeout: float
    loop: EventLoopThread | None = None
    examples: int = 0
    steps: int = 0
    events: int = 0
    last_transcript: Transcript | None = None
    first_failure: tuple[CaseFailed, Transcript] | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def runner(self) -> EventLoopThread:
        if self.loop is None:
            self.loop = EventLoopThread("canaux-conformance-client-machine")
        return self.loop


class ClientMachine(RuleBasedStateMachine):
    """One client under test, one scripted server; see the module docstring."""

    runtime: ClassVar[_Runtime]

    def __init__(self) -> None:
        super().__init__()
        self.rt = type(self).runtime
        self.rt.examples += 1
        self.timeout = self.rt.timeout
        self.transcript = Transcript()
        self.rt.last_transcript = self.transcript
        self.server: ScriptedServer | None = None
        self.adapter: Adapter | None = None
        self.conn: ScriptedConnection | None = None
        """The welcomed connection; None while the client is away (reconnecting)."""
        self.session = ""
        self.seq = 0
        """The last seq the server gave in the current session."""
        self.log: list[tuple[int, str, Any]] = []
        self.hidden: set[int] = set()
        """Seqs replayed on a channel the application no longer listens to: not for it."""
        """Every event of the current session: (seq, channel, data)."""
        self.seen_upto = 0
        """Seq of the last event the application is known to have seen (settled)."""
        self.stream_start = 0
        """Index in the adapter's messages where the current session's stream starts."""
        self.resets = 0
        self.desired: dict[str, None] = {}
        self.server_subs: set[str] = set()
        self.unanswered: dict[str, dict[str, Any]] = {}
        """Requests received and not answered, by frame id, in arrival order."""
        self.publish_n: dict[str, int] = {}
        """Frame id of each publish → the ``n`` of its adapter command."""
        self.awaited: dict[int, dict[str, Any]] = {}
        """Publishes the application issued and has no answer for yet: n → data."""
        self.outcomes: dict[int, str] = {}
        """The answer the server gave each publish (``ack`` / ``refused``)."""
        self.marks = 0
        self._failed = False

    # ----------------------------------------------------------------- plumbing

    def _do(self, coro: Coroutine[Any, Any, Any]) -> Any:
        if self.rt.stop.is_set():
            coro.close()
            raise MachineStopped("the case was stopped")
        self.rt.steps += 1
        try:
            return self.rt.runner().run(coro, timeout=self.timeout * 12 + 20)
        except CaseFailed as exc:
            self._failed = True
            if self.rt.first_failure is None:
                self.rt.first_failure = (exc, self.transcript)
            raise

    def _mark(self, hint: str) -> dict[str, Any]:
        self.marks += 1
        return {"mark": f"{hint}{self.marks}-{secrets.token_hex(2)}"}

    @property
    def _adapter(self) -> Adapter:
        assert self.adapter is not None
        return self.adapter

    def _stream(self) -> list[Any]:
        """Data of the events the application saw in the current session's stream."""
        return [
            m.get("data") for m in self._adapter.messages[self.stream_start :] if m.kind == "event"
        ]

    def _expected(self) -> list[Any]:
        return [data for seq, _, data in self.log if seq not in self.hidden]

    def _check_stream(self) -> None:
        """What the application saw is a prefix of the events sent, each once, in seq order."""
        seen, sent = self._stream(), self._expected()
        if seen == sent[: len(seen)]:
            return
        first = next(i for i, d in enumerate(seen) if i >= len(sent) or d != sent[i])
        wrong = seen[first]
        if wrong not in sent:
            why = f"data the server never sent in this session (a repeated seq?): {wrong}"
        elif wrong in seen[:first]:
            why = f"the event {wrong} twice"
        else:
            # Sent in seq order: an event seen ahead of its place followed a gap.
            why = f"the event {wrong} before {sent[first]}, which has a lower seq"
        raise CaseFailed(
            f"the application saw {why}; sent in this session (seq order) {sent}, seen {seen}",
            requirement="CLIENT-3",
        )

    def _check_outcomes(self) -> None:
        for n, answer in self.outcomes.items():
            got = self._adapter.outcome(n)
            if got is not None and got.kind != answer:
                raise CaseFailed(
                    f"publish {n} was answered {answer!r} by the server; the application was "
                    f"told {got.body!r}",
                    requirement="OPS-1",
                )

    def _settled(self) -> bool:
        self._check_stream()
        self._check_outcomes()
        return len(self._stream()) == len(self._expected()) and all(
            self._adapter.outcome(n) is not None for n in self.outcomes
        )

    async def _settle(self) -> None:
        """Wait until the application saw every event sent and every answer given."""
        if not self._settled():
            await self._adapter.observe(lambda _m: self._settled(), timeout=self.timeout)
        if not self._settled():
            missing = self._expected()[len(self._stream()) :]
            if missing:
                raise CaseFailed(
                    f"the application never saw {missing} (sent in this session, seq "
                    f"{len(self._stream()) + 1}..{self.seq})",
                    requirement="CLIENT-9",
                )
            unanswered = [n for n in self.outcomes if self._adapter.outcome(n) is None]
            raise CaseFailed(
                f"publishes {unanswered} were answered by the server; the application was "
                "never told",
                requirement="OPS-1",
            )
        self.seen_upto = self.seq

    async def _read(self, types: Sequence[str], *, requirement: str, what: str) -> ClientFrame:
        assert self.conn is not None
        frame = await self.conn.next_or_none(timeout=self.timeout, types=types)
        if frame is None:
            raise CaseFailed(
                f"the client sent no {what} within {self.timeout:g}s", requirement=requirement
            )
        return frame

    def _received(self, frame: ClientFrame) -> None:
        frame_id = str(frame.get("id"))
        body = frame.frame
        assert isinstance(body, dict)
        if frame.type == "publish" and frame_id not in self.publish_n:
            for n, data in self.awaited.items():
                if data == body.get("data") and n not in self.publish_n.values():
                    self.publish_n[frame_id] = n
                    break
        self.unanswered[frame_id] = body

    # ----------------------------------------------------------------- start

    @initialize(first=st.lists(st.sampled_from(CHANNELS), max_size=2, unique=True))
    def start(self, first: list[str]) -> None:
        note(f"adapter: subscribe {first}, connect")

        async def go() -> None:
            self.server = await ScriptedServer(self.transcript).start()
            self.adapter = Adapter(self.rt.argv, self.transcript, timeout=self.timeout)
            await self.adapter.start()
            for channel in first:
                await self.adapter.command("subscribe", channel=channel)
                self.desired[channel] = None
            await self.adapter.command("connect", url=self.server.url, token=None, backoff=BACKOFF)
            conn = await self.server.accept(timeout=self.timeout)
            hello = await conn.hello(timeout=self.timeout)
            if hello.get("resume") is not None:
                raise CaseFailed(
                    f"the first hello asks to resume a session it never had: {hello.text}",
                    requirement="HANDSHAKE-1",
                )
            self.session = new_session_id()
            await conn.welcome(session=self.session, heartbeat_ms=HEARTBEAT_MS)
            self.conn = conn
            for _ in first:
                frame = await self._read(("subscribe",), requirement="CLIENT-6", what="subscribe")
                self._received(frame)
                await self._answer(str(frame.get("id")), refuse=False)

        self._do(go())

    # ----------------------------------------------------------------- the application

    @rule(channel=st.sampled_from(CHANNELS), answer=st.booleans())
    def app_subscribes(self, channel: str, answer: bool) -> None:
        """Subscribe; the server may answer at once (else a later ``server_answers`` does)."""
        if channel in self.desired:
            return
        note(f"adapter: subscribe {channel}" + (" (server acks at once)" if answer else ""))

        async def go() -> None:
            await self._adapter.command("subscribe", channel=channel)
            self.desired[channel] = None
            if self.conn is not None:
                frame = await self._read(("subscribe",), requirement="CLIENT-6", what="subscribe")
                self._received(frame)
                if answer and len(self.unanswered) == 1:
                    # [OPS-2] replies go in the order of the frames: only when none is older.
                    await self._answer(str(frame.get("id")), refuse=False)

        self._do(go())

    @precondition(lambda self: bool(self.desired))
    @rule(data=st.data())
    def app_unsubscribes(self, data: st.DataObject) -> None:
        channel = data.draw(st.sampled_from(sorted(self.desired)))
        note(f"adapter: unsubscribe {channel}")

        async def go() -> None:
            if self.conn is not None:
                await self._settle()  # events already sent on it are seen before it goes
            await self._adapter.command("unsubscribe", channel=channel)
            del self.desired[channel]
            if self.conn is not None:
                frame = await self._read(
                    ("unsubscribe",), requirement="CLIENT-6", what="unsubscribe"
                )
                self._received(frame)

        self._do(go())

    @rule(channel=st.sampled_from(CHANNELS))
    def app_publishes(self, channel: str) -> None:
        payload = self._mark("p")
        note(f"adapter: publish {channel} {payload}")

        async def go() -> None:
            n = await self._adapter.send("publish", channel=channel, data=payload)
            await self._adapter.wait_for(
                lambda m: m.kind == "done" and m.get("n") == n,
                timeout=self.timeout,
                what=f"done for publish {n}",
            )
            self.awaited[n] = payload
            if self.conn is not None:
                self._received(
                    await self._read(("publish",), requirement="CLIENT-7", what="publish")
                )

        self._do(go())

    # ----------------------------------------------------------------- the server, connected

    @precondition(lambda self: self.conn is not None and bool(self.unanswered))
    @rule(refuse=st.booleans())
    def server_answers(self, refuse: bool) -> None:
        """Answer the oldest request, as replies go in order [OPS-2] (a publish may be refused)."""
        frame_id, frame = next(iter(self.unanswered.items()))
        refusing = refuse and frame.get("type") == "publish"
        note(f"server: {'refuse' if refusing else 'ack'} {frame.get('type')} {frame_id}")
        self._do(self._answer(frame_id, refuse=refusing))

    async def _answer(self, frame_id: str, *, refuse: bool) -> None:
        assert self.conn is not None
        frame = self.unanswered.pop(frame_id)
        kind = frame.get("type")
        if refuse:
            await self.conn.error(frame_id, "forbidden", "not this one", channel=frame["channel"])
        else:
            await self.conn.ack(frame_id)
        if kind == "subscribe":
            self.server_subs.add(str(frame["channel"]))
        elif kind == "unsubscribe":
            self.server_subs.discard(str(frame["channel"]))
        elif frame_id in self.publish_n:
            n = self.publish_n[frame_id]
            if n in self.awaited:
                del self.awaited[n]
                self.outcomes[n] = "refused" if refuse else "ack"
        self._check_outcomes()

    def _deliverable(self) -> list[str]:
        # Channels the server has the client subscribed to and the application still wants
        # (an unsubscribe in flight makes delivery racy for the application: not used).
        pending_unsub = {
            f.get("channel") for f in self.unanswered.values() if f.get("type") == "unsubscribe"
        }
        return sorted(c for c in self.server_subs & set(self.desired) if c not in pending_unsub)

    @precondition(lambda self: self.conn is not None and bool(self._deliverable()))
    @rule(data=st.data(), count=st.integers(1, 4))
    def server_sends_events(self, data: st.DataObject, count: int) -> None:
        channel = data.draw(st.sampled_from(self._deliverable()))
        note(f"server: {count} event(s) on {channel}")

        async def go() -> None:
            assert self.conn is not None
            for _ in range(count):
                self.seq += 1
                payload = self._mark("e")
                self.log.append((self.seq, channel, payload))
                self.rt.events += 1
                await self.conn.event(self.seq, channel, payload)
            self._check_stream()

        self._do(go())

    @precondition(lambda self: self.conn is not None and bool(self.log))
    @rule(data=st.data())
    def server_repeats_a_seq(self, data: st.DataObject) -> None:
        """An old seq again, with new data: the application must never see it [CLIENT-3]."""
        seq, channel, _ = data.draw(st.sampled_from(self.log))
        note(f"server: seq {seq} again on {channel}")

        async def go() -> None:
            assert self.conn is not None
            await self.conn.event(seq, channel, self._mark("dup"))
            await self._settle()

        self._do(go())

    @precondition(lambda self: self.conn is not None and bool(self._deliverable()))
    @rule(data=st.data())
    def server_skips_a_seq(self, data: st.DataObject) -> None:
        """An event one seq too far: the client must not pass it on, must close with 1002 and
        resume from before the gap [CLIENT-3]; the replay then brings both in order."""
        channel = data.draw(st.sampled_from(self._deliverable()))
        note(f"server: seq gap on {channel}")

        async def go() -> None:
            assert self.conn is not None
            await self._settle()
            lost, after = self._mark("lost"), self._mark("gap")
            self.log += [(self.seq + 1, channel, lost), (self.seq + 2, channel, after)]
            self.seq += 2
            conn, self.conn = self.conn, None
            await conn.event(self.seq, channel, after)
            code = await conn.wait_closed(timeout=self.timeout)
            self._check_stream()
            if code is None or code != 1002:
                did = "kept the connection open" if code is None else f"closed with {code}"
                raise CaseFailed(
                    f"after seq {self.seq - 2} the server sent seq {self.seq}: the client {did} "
                    "instead of closing with 1002",
                    requirement="CLIENT-3",
                )

        self._do(go())

    @precondition(lambda self: self.conn is not None)
    @rule()
    def server_pings(self) -> None:
        note("server: ping")

        async def go() -> None:
            assert self.conn is not None
            nonce = f"n{self.marks}"
            self.marks += 1
            await self.conn.send({"type": "ping", "nonce": nonce})
            pong = await self._read(("pong",), requirement="HEARTBEAT-2", what="pong")
            if pong.get("nonce") != nonce:
                raise CaseFailed(
                    f"ping nonce {nonce!r} answered with {pong.text}", requirement="HEARTBEAT-2"
                )

        self._do(go())

    @precondition(lambda self: self.conn is not None)
    @rule(code=st.sampled_from((None, *_RECONNECT_CODES)))
    def server_drops(self, code: int | None) -> None:
        """Cut the TCP connection (None) or close it with a code that allows resuming."""
        note(f"server: {'cut' if code is None else f'close {code}'}")

        async def go() -> None:
            assert self.conn is not None
            await self._settle()
            conn, self.conn = self.conn, None
            if code is None:
                conn.cut()
            else:
                await conn.close(code, "machine")

        self._do(go())

    # ----------------------------------------------------------------- the server, client away

    @precondition(lambda self: self.conn is None and bool(self.server_subs & set(self.desired)))
    @rule(data=st.data())
    def server_sends_while_away(self, data: st.DataObject) -> None:
        """An event published while the client is away: kept for the replay."""
        channel = data.draw(st.sampled_from(sorted(self.server_subs & set(self.desired))))
        self.seq += 1
        payload = self._mark("away")
        self.log.append((self.seq, channel, payload))
        self.rt.events += 1
        note(f"server: seq {self.seq} on {channel} while the client is away")

    @precondition(lambda self: self.conn is None)
    @rule()
    def server_refuses_an_attempt(self) -> None:
        note("server: cut the next attempt before welcome")

        async def go() -> None:
            conn = await self._attempt()
            conn.cut()

        self._do(go())

    async def _attempt(self) -> ScriptedConnection:
        assert self.server is not None
        conn = await self.server.accept(timeout=BACKOFF["cap_ms"] / 1000 + self.timeout)
        hello = await conn.hello(timeout=self.timeout)
        resume = hello.get("resume")
        # [CLIENT-2] / [RESUME-1] resume with the session and the last seq received.
        if not isinstance(resume, dict) or resume.get("session") != self.session:
            raise CaseFailed(
                f"the client reconnected without asking to resume its session: {hello.text}",
                requirement="CLIENT-2",
            )
        if resume.get("seq") != self.seen_upto:
            raise CaseFailed(
                f"the client asked to resume from seq {resume.get('seq')!r}; the last seq it "
                f"received (and passed to the application) is {self.seen_upto}",
                requirement="RESUME-1",
            )
        return conn

    @precondition(lambda self: self.conn is None)
    @rule(duplicate=st.booleans())
    def server_resumes(self, duplicate: bool) -> None:
        """Welcome back with ``resumed: true``, replay what was missed (maybe a seq twice)."""
        note(f"server: resumed true, replay{' with a duplicate' if duplicate else ''}")

        async def go() -> None:
            conn = await self._attempt()
            await conn.welcome(session=self.session, resumed=True, seq=self.seq,
                               heartbeat_ms=HEARTBEAT_MS)  # fmt: skip
            await self._replay(conn, duplicate=duplicate)
            self.conn = conn
            await self._resent(fresh=False)

        self._do(go())

    async def _replay(self, conn: ScriptedConnection, *, duplicate: bool = False) -> None:
        """Every event after the resume seq, in order (an old seq first if ``duplicate``)."""
        if duplicate and self.seen_upto > 0:
            # [CLIENT-3] a seq the client already has, first in the replay.
            seq, channel, _ = self.log[self.seen_upto - 1]
            await conn.event(seq, channel, self._mark("dup"))
        for seq, channel, payload in self.log:
            if seq > self.seen_upto:
                if channel not in self.desired:
                    self.hidden.add(seq)  # no handler for it any more
                await conn.event(seq, channel, payload)

    @precondition(lambda self: self.conn is None)
    @rule()
    def server_loses_the_session(self) -> None:
        """Welcome back with ``resumed: false``: a new session, nothing subscribed."""
        note("server: resumed false (session lost)")

        async def go() -> None:
            conn = await self._attempt()
            self.session = new_session_id()
            self.seq = self.seen_upto = 0
            self.log = []
            self.hidden = set()
            self.server_subs = set()
            self.resets += 1
            await conn.welcome(session=self.session, heartbeat_ms=HEARTBEAT_MS)
            self.conn = conn
            reset = await self._adapter.observe(
                lambda _m: len(self._adapter.of_kind("reset")) >= self.resets,
                timeout=self.timeout,
            )
            if reset is None:
                raise CaseFailed(
                    "the server answered resumed: false; the application was never told to "
                    "resynchronise (no reset)",
                    requirement="CLIENT-2",
                )
            # The new session's stream starts after its reset.
            last_reset = self._adapter.of_kind("reset")[self.resets - 1]
            self.stream_start = self._adapter.messages.index(last_reset) + 1
            await self._resent(fresh=True)

        self._do(go())

    async def _resent(self, *, fresh: bool) -> None:
        """After a welcome: every unanswered request again with its id; in a new session,
        the desired subscriptions restored [CLIENT-6, CLIENT-7, RESUME-6]."""
        assert self.conn is not None
        before = dict(self.unanswered)
        self.unanswered = {}
        missing = dict(before)
        # Requests issued while away (never sent yet) also come now.
        queued = [n for n in self.awaited if n not in self.publish_n.values()]
        subscribed: set[str] = set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            wanted_subs = set(self.desired) if fresh else None
            done = not missing and not queued
            if fresh and done:
                done = subscribed == wanted_subs
            if done:
                break
            frame = await self.conn.next_or_none(
                timeout=max(0.0, deadline - loop.time()),
                types=("subscribe", "unsubscribe", "publish"),
            )
            if frame is None:
                if missing:
                    raise CaseFailed(
                        f"after the reconnection the client did not send again the requests "
                        f"it had no answer for: {sorted(missing)} ({list(missing.values())})",
                        requirement="CLIENT-7",
                    )
                if queued:
                    raise CaseFailed(
                        f"publishes {queued} issued while the client was away were never sent",
                        requirement="CLIENT-7",
                    )
                raise CaseFailed(
                    f"in the new session the client subscribed to {sorted(subscribed)}; the "
                    f"application wants {sorted(self.desired)}",
                    requirement="CLIENT-6",
                )
            body = frame.frame
            assert isinstance(body, dict)
            frame_id = str(body.get("id"))
            if frame_id in missing:
                del missing[frame_id]
            elif body.get("type") == "publish":
                n = next((n for n, d in self.awaited.items() if d == body.get("data")), None)
                if n is not None and n in self.publish_n.values():
                    raise CaseFailed(
                        f"publish {body.get('data')} was re-sent under a new id {frame_id!r} "
                        f"(first sent as {[i for i, m in self.publish_n.items() if m == n]})",
                        requirement="CLIENT-7",
                    )
                if n in queued:
                    queued.remove(n)
            if body.get("type") == "subscribe":
                subscribed.add(str(body.get("channel")))
            elif body.get("type") == "unsubscribe":
                subscribed.discard(str(body.get("channel")))
            self._received(frame)
        if fresh and subscribed != set(self.desired):
            raise CaseFailed(
                f"in the new session the client subscribed to {sorted(subscribed)}; the "
                f"application wants {sorted(self.desired)}",
                requirement="CLIENT-6",
            )

    # ----------------------------------------------------------------- end of example

    def teardown(self) -> None:
        if self.adapter is None:
            return

        async def finish() -> None:
            try:
                if not self._failed and not self.rt.stop.is_set():
                    if self.conn is None:
                        conn = await self._attempt()
                        await conn.welcome(session=self.session, resumed=True, seq=self.seq,
                                           heartbeat_ms=HEARTBEAT_MS)  # fmt: skip
                        await self._replay(conn)
                        self.conn = conn
                        await self._resent(fresh=False)
                    await self._settle()
            finally:
                if self.adapter is not None:
                    await self.adapter.aclose()
                if self.server is not None:
                    await self.server.aclose()

        self._do(finish())


def run_client_machine(
    argv: Sequence[str],
    budget: MachineBudget,
    *,
    seed: int,
    timeout: float = 5.0,
    stop: threading.Event | None = None,
) -> ClientMachineResult:
    """Run the client machine against the adapter ``argv`` (failures: :func:`run_as_case`)."""
    runtime = _Runtime(argv=argv, timeout=timeout)
    if stop is not None:
        runtime.stop = stop
    machine = type("ClientMachineFor", (ClientMachine,), {"runtime": runtime})
    try:
        run_as_case(
            machine,
            budget,
            seed=seed,
            transcript=lambda: runtime.last_transcript,
            first_failure=lambda: runtime.first_failure,
        )
    finally:
        if runtime.loop is not None:
            runtime.loop.stop()
    return ClientMachineResult(seed, runtime.examples, runtime.steps, runtime.events)
