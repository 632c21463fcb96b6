"""The playqueue channel against the suite's own model (standard-channels.md playqueue, QUEUE-1..3).

QUEUE-02 is a Hypothesis state machine: a commander publishes generated commands (indices
in and out of range, fresh and stale ``if_version``) while an observer watches; every
``state`` either client receives is compared with
:mod:`canaux_conformance.queue_model`. The queue is shared by the whole server, so the
model starts from the snapshot sent on subscribe [QUEUE-1]; the run assumes nobody else
changes the queue meanwhile (the runner runs cases one at a time).
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Coroutine
from typing import Any, ClassVar

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule
from hypothesis_jsonschema import from_schema

import canaux_schemas
from canaux_conformance.cases import CaseContext, case
from canaux_conformance.ijson import is_i_json
from canaux_conformance.loop_thread import EventLoopThread, MachineStopped
from canaux_conformance.machine_run import MachineBudget, run_as_case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped
from canaux_conformance.queue_model import QueueState, Refusal, apply
from canaux_conformance.target import Target
from canaux_conformance.wire import Frame, RawClient, Transcript, encode

__all__ = ["QueueMachine", "queue_01", "queue_02", "queue_03"]

CHANNEL = "playqueue"


async def _snapshot(client: RawClient, timeout: float) -> Frame:
    """Subscribe and return the state snapshot that must follow the ack [QUEUE-1]."""
    await client.subscribe(CHANNEL, timeout=timeout)
    return await client.expect("event", channel=CHANNEL, timeout=timeout, requirement="QUEUE-1")


def _check_state(who: str, frame: Frame, model: QueueState, after: str) -> None:
    data = frame.get("data")
    problems = model.differences(data) if isinstance(data, dict) else ["not an object"]
    if problems:
        raise CaseFailed(
            f"{who}'s state after {after}: " + "; ".join(problems), requirement="QUEUE-2"
        )


@case(
    id="QUEUE-01",
    requirements=("QUEUE-1", "QUEUE-2"),
    profile="playqueue",
    title="subscribing to playqueue sends one state snapshot, the same to every subscriber",
)
async def queue_01(ctx: CaseContext) -> None:
    """Two clients subscribe: each gets one ``state`` after its ack, both snapshots are equal,
    and the next state either receives (after a ``pause``) is version + 1 [QUEUE-1, QUEUE-2]."""
    ctx.require_channel(CHANNEL)
    a, b = await ctx.client("A"), await ctx.client("B")
    first = await _snapshot(a, ctx.timeout)
    second = await _snapshot(b, ctx.timeout)
    if QueueState.from_event(first["data"]).differences(second["data"]):
        raise CaseFailed(
            f"two snapshots of an unchanged queue differ: {encode(first['data'])[:200]} vs "
            f"{encode(second['data'])[:200]}",
            requirement="QUEUE-1",
        )
    # Nothing else for the channel: a second snapshot would come before this pause's state.
    await a.publish(CHANNEL, {"op": "pause"})
    for client in (a, b):
        got = await client.expect(
            "event", channel=CHANNEL, timeout=ctx.timeout, requirement="QUEUE-2"
        )
        if got["data"].get("version") != first["data"]["version"] + 1:
            raise CaseFailed(
                f"client {client.name}: after the snapshot (version {first['data']['version']}) "
                f"the next state has version {got['data'].get('version')}",
                requirement="QUEUE-2",
            )


@case(
    id="QUEUE-03",
    requirements=("QUEUE-3", "QUEUE-2"),
    profile="playqueue",
    title="refused commands: invalid_command / version_conflict with a pointer, nothing changes",
)
async def queue_03(ctx: CaseContext) -> None:
    """An out-of-range remove and a stale if_version are refused with the right code and a
    pointer; the next applied command then moves the version by exactly 1 [QUEUE-3]."""
    ctx.require_channel(CHANNEL)
    a = await ctx.client("A")
    state = QueueState.from_event((await _snapshot(a, ctx.timeout))["data"])
    refused = [
        ({"op": "remove", "index": len(state.items) + 3}, "invalid_command"),
        ({"op": "pause", "if_version": state.version + 7}, "version_conflict"),
    ]
    for command, code in refused:
        reply = await a.publish(CHANNEL, command, ok=False)
        if reply.get("type") != "error" or reply.get("code") != code:
            raise CaseFailed(
                f"{encode(command)} answered {encode(reply)}, not {code}", requirement="QUEUE-3"
            )
        if not isinstance(reply.get("pointer"), str):
            raise CaseFailed(
                f"{code} error without a pointer: {encode(reply)}", requirement="QUEUE-3"
            )
    await a.publish(CHANNEL, {"op": "pause", "if_version": state.version})
    got = await a.expect("event", channel=CHANNEL, timeout=ctx.timeout, requirement="QUEUE-2")
    expected = apply(state, {"op": "pause"})
    assert isinstance(expected, QueueState)
    _check_state("A", got, expected, "pause")


# --------------------------------------------------------------------------- QUEUE-02


def _tracks() -> st.SearchStrategy[dict[str, Any]]:
    schema = canaux_schemas.load("channels/playqueue.json")["$defs"]["track"]
    schema = {k: v for k, v in schema.items() if k not in ("examples", "title", "description")}
    strategy: st.SearchStrategy[Any] = from_schema(schema)
    # [TRANSPORT-17] a generated title may hold a noncharacter, which a server refuses.
    return strategy.filter(lambda track: isinstance(track, dict) and is_i_json(track))


_OPS = ("add", "add", "remove", "move", "clear", "play", "pause", "next", "previous")


class QueueMachine(RuleBasedStateMachine):
    """Commands against a live playqueue, compared with :class:`QueueState` after each."""

    target: ClassVar[Target]
    timeout: ClassVar[float]
    loop: ClassVar[EventLoopThread]
    last_transcript: ClassVar[list[Transcript]]
    stop: ClassVar[threading.Event]
    first_failure: ClassVar[list[tuple[CaseFailed, Transcript]]]

    def __init__(self) -> None:
        super().__init__()
        self.transcript = Transcript()
        self.last_transcript.append(self.transcript)
        del self.last_transcript[:-1]
        self.clients: list[RawClient] = []
        self.model = QueueState()
        self.ids = itertools.count(1)
        self.failed = False

    def _run(self, coro: Coroutine[Any, Any, None]) -> None:
        if self.stop.is_set():
            coro.close()
            self.failed = True
            raise MachineStopped("the playqueue machine was stopped")
        try:
            self.loop.run(coro, timeout=self.timeout * 8 + 30)
        except BaseException as exc:
            self.failed = True
            if isinstance(exc, CaseFailed) and not self.first_failure:
                self.first_failure.append((exc, self.transcript))
            raise

    @initialize()
    def connect(self) -> None:
        """Commander A and observer B subscribe; their snapshots seed the model [QUEUE-1];
        then A clears the queue."""

        async def go() -> None:
            for name in ("A", "B"):
                client = RawClient(
                    self.target.ws_url, name=name, transcript=self.transcript, timeout=self.timeout
                )
                self.clients.append(client)
                await client.open()
                await client.hello(token=self.target.token)
            snapshots = [await _snapshot(c, self.timeout) for c in self.clients]
            self.model = QueueState.from_event(snapshots[0]["data"])
            _check_state("B", snapshots[1], self.model, "subscribe")
            # Every example starts from an empty queue: the commands Hypothesis draws depend
            # on the queue's length, and a replayed example must draw the same way.
            clear = {"op": "clear"}
            expected = apply(self.model, clear)
            await self._command(clear, expected)
            assert isinstance(expected, QueueState)
            self.model = expected

        note("A and B subscribe to playqueue")
        self._run(go())

    @rule(data=st.data())
    def command(self, data: st.DataObject) -> None:
        """Publish one generated command; check the reply and the state both clients get."""
        size = len(self.model.items)
        op = data.draw(st.sampled_from(_OPS), label="op")
        index = st.integers(min_value=0, max_value=size + 1)
        command: dict[str, Any] = {"op": op}
        if op == "add":
            command["track"] = data.draw(_tracks(), label="track")
            if data.draw(st.booleans(), label="with index"):
                command["index"] = data.draw(index, label="index")
        elif op == "remove":
            command["index"] = data.draw(index, label="index")
        elif op == "move":
            command["from"] = data.draw(index, label="from")
            command["to"] = data.draw(index, label="to")
        elif op == "play" and data.draw(st.booleans(), label="with index"):
            command["index"] = data.draw(index, label="index")
        version = data.draw(
            st.sampled_from([None, None, self.model.version, max(0, self.model.version - 1)]),
            label="if_version",
        )
        if version is not None:
            command["if_version"] = version
        expected = apply(self.model, command)
        note(f"A publishes {encode(command)} -> expect {expected!r}"[:400])

        self._run(self._command(command, expected))
        if isinstance(expected, QueueState):
            self.model = expected

    async def _command(self, command: dict[str, Any], expected: QueueState | Refusal) -> None:
        self.transcript.note(f"command {encode(command)}; model: {expected!r}"[:400])
        a, b = self.clients
        frame = {"type": "publish", "id": f"q{next(self.ids)}", "channel": CHANNEL, "data": command}
        reply = await a.request(frame, timeout=self.timeout)
        if isinstance(expected, Refusal):
            if reply.get("type") != "error" or reply.get("code") not in expected.codes:
                raise CaseFailed(
                    f"{encode(command)} must be refused with {sorted(expected.codes)} "
                    f"({expected.reason}); the server answered {encode(reply)}",
                    requirement="QUEUE-3",
                )
            if not isinstance(reply.get("pointer"), str):
                raise CaseFailed(
                    f"refusal without a pointer: {encode(reply)}", requirement="QUEUE-3"
                )
            return
        if reply.get("type") != "ack":
            raise CaseFailed(
                f"{encode(command)} applies to version {self.model.version} "
                f"(model: {expected.to_event()}); the server answered {encode(reply)}",
                requirement="QUEUE-2",
            )
        for client in (a, b):
            got = await client.expect(
                "event", channel=CHANNEL, timeout=self.timeout, requirement="QUEUE-2"
            )
            _check_state(client.name, got, expected, encode(command))

    def teardown(self) -> None:
        """End with a ``pause`` (always applicable): its state must be the next one each client
        reads, so a state broadcast by an earlier refused command shows up here [QUEUE-2]."""

        async def go() -> None:
            try:
                if not self.failed and not self.stop.is_set():
                    await self._command({"op": "pause"}, apply(self.model, {"op": "pause"}))
            finally:
                for client in self.clients:
                    await client.close()

        if self.clients:
            self._run(go())


@case(
    id="QUEUE-02",
    requirements=("QUEUE-2", "QUEUE-3", "QUEUE-1", "QUEUE-5"),
    profile="playqueue",
    title="generated command sequences: every state matches the model, refusals change nothing",
    timeout=600.0,
)
async def queue_02(ctx: CaseContext) -> None:
    """Hypothesis generates add/remove/move/clear/play/pause/next/previous commands, some out of
    range or with a stale if_version; each reply and each broadcast state must match the
    suite's playqueue model [QUEUE-2, QUEUE-3]."""
    if ctx.server is not None and not ctx.server.offers(CHANNEL):
        raise CaseSkipped("the server's catalogue does not list 'playqueue'", applicable=False)
    loop = EventLoopThread("canaux-conformance-playqueue")
    transcripts: list[Transcript] = []
    first_failure: list[tuple[CaseFailed, Transcript]] = []
    stop = threading.Event()
    machine = type(
        "QueueMachineFor",
        (QueueMachine,),
        {
            "target": ctx.target,
            "timeout": ctx.timeout,
            "loop": loop,
            "last_transcript": transcripts,
            "stop": stop,
            "first_failure": first_failure,
        },
    )
    budget = MachineBudget(
        max_examples=max(2, ctx.budget.max_examples // 2),
        step_count=ctx.budget.step_count,
        shrink_seconds={"quick": 15.0, "default": 45.0}.get(ctx.budget.name, 200.0),
    )
    try:
        await asyncio.to_thread(
            run_as_case,
            machine,
            budget,
            seed=ctx.seed,
            transcript=lambda: transcripts[-1] if transcripts else None,
            first_failure=lambda: first_failure[0] if first_failure else None,
        )
    finally:
        stop.set()
        await asyncio.to_thread(loop.stop)
