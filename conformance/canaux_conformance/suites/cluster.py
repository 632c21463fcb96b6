"""Clusters: several nodes behind one URL serve as one server (spec "Clusters", CLUSTER-1..4).

These cases need a second node of the same deployment, ``canaux-conformance URL --peer URL2``
(``nodes=2``); without one the runner does not run them and the compliance matrix shows the
requirements only they check as "not checked: no peer given". Node 0 is the target, node 1
its first peer; with more peers the subscribers sit on every node.

- PEER-01: publishers on two nodes interleave on one channel; every subscriber, on every node,
  receives every event in one order, and each publisher's in its publish order [CLUSTER-3].
- PEER-02: a client publish on each node, and an HTTP publish through the target, reach the
  subscribers of every node [CLUSTER-2].
- PEER-03: a session made on node 0 and dropped resumes on node 1 with exactly the events it
  missed, whichever node published them [CLUSTER-1, RESUME-2, RESUME-3, RESUME-11].
- PEER-04: a resume on node 1 of a session still attached on node 0 closes node 0's
  connection with 4411 [RESUME-4].
- PEER-05: a publish answered on node 0, re-sent after a resume on node 1, is answered again
  and not applied again [OPS-9].
- PEER-06: play-queue commands through both nodes, concurrent: one sequence of versions, the
  same states for the subscribers of both nodes, and a stale if_version refused [CLUSTER-4].
- PEER-07: an SSE stream made on node 0 and ended resumes on node 1 (``Last-Event-ID``, at
  node 1's ``/events`` next to its ``/ws``) with exactly the missed events [CLUSTER-1, SSE-2].

Every client puts ``--token`` in its hello and is paced within the ``max_rate`` its own
welcome announced; every channel is a fresh ``conformance.*`` one, except the play queue.
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.resume_rules import Resume, resume_expectation
from canaux_conformance.suites._delivery import barrier, events, marks, new_mark, wait_marks
from canaux_conformance.suites.sse import _events as _sse_events
from canaux_conformance.suites.sse import _open as _open_stream
from canaux_conformance.suites.sse import _welcome as _stream_welcome
from canaux_conformance.target import derive_urls
from canaux_conformance.wire import Frame, RawClient, encode

__all__ = ["peer_01", "peer_02", "peer_03", "peer_04", "peer_05", "peer_06", "peer_07"]

_EACH = 10
"""Events each publisher sends in PEER-01: enough to interleave, far below any max_rate."""
_BEFORE, _MISSED = 3, 6
"""PEER-03: events received on node 0 before the drop, and events missed while detached."""
_COMMANDS = 5
"""PEER-06: play-queue commands each commander sends."""


def _reply_to(frame_id: str) -> Any:
    return lambda f: f.get("type") in ("ack", "error") and f.get("id") == frame_id


async def _pipeline(client: RawClient, channel: str, sent: Sequence[str], timeout: float) -> None:
    """Publish every mark of ``sent`` back to back (paced), then wait for every ack [OPS-7]."""
    ids = []
    for mark in sent:
        frame_id = client.next_id()
        ids.append(frame_id)
        await client.send(
            {"type": "publish", "id": frame_id, "channel": channel, "data": {"mark": mark}}
        )
    for frame_id in ids:
        reply = await client.expect(
            where=_reply_to(frame_id), timeout=timeout, requirement="OPS-1",
            what=f"ack or error for publish {frame_id!r}",
        )  # fmt: skip
        if reply.get("type") != "ack":
            raise CaseFailed(
                f"client {client.name}: publish {frame_id!r} refused: {encode(reply)}",
                requirement="OPS-7",
            )


async def _subscribers(ctx: CaseContext, channel: str, prefix: str = "S") -> list[RawClient]:
    """One subscriber of ``channel`` on every node (S0 on the target, S1 on the first peer...)."""
    found = []
    for node in range(ctx.nodes):
        client = await ctx.client(f"{prefix}{node}", node=node)
        await client.subscribe(channel)
        found.append(client)
    return found


async def _received(
    ctx: CaseContext,
    client: RawClient,
    channel: str,
    wanted: Sequence[str],
    origin: dict[str, int],
    node: int,
) -> list[Any]:
    """Wait for every mark of ``wanted`` on ``channel``; a missing one breaks CLUSTER-2."""
    try:
        await wait_marks(
            client, channel, list(wanted), timeout=ctx.timeout, requirement="CLUSTER-2"
        )
    except CaseFailed as failure:
        got = set(marks(events(client, channel)))
        missing = [m for m in wanted if m not in got]
        nodes = sorted({origin[m] for m in missing})
        raise CaseFailed(
            f"subscriber {client.name} on node {node} never received {len(missing)} of the "
            f"{len(wanted)} events published (acked) through node(s) {nodes}, e.g. "
            f"{missing[:3]}: an event published through any node reaches every subscriber on "
            f"every node ({failure.message})",
            requirement="CLUSTER-2",
        ) from failure
    return marks(events(client, channel))


@case(
    id="PEER-01",
    requirements=("CLUSTER-3", "CLUSTER-2", "DELIVERY-3", "DELIVERY-4", "DELIVERY-6"),
    title="publishes on two nodes, interleaved: one order for the subscribers of every node",
    nodes=2,
    timeout=60.0,
)
async def peer_01(ctx: CaseContext) -> None:
    """P0 (on node 0) and P1 (on node 1) each publish 10 events on one channel at the same
    time, pipelined. A subscriber on every node must receive all 20 [CLUSTER-2], each once
    [DELIVERY-6], every subscriber in the same order, in which each publisher's events keep
    their publish order [CLUSTER-3, DELIVERY-3, DELIVERY-4]."""
    channel = ctx.channel("order")
    subscribers = await _subscribers(ctx, channel)
    p0, p1 = await ctx.client("P0", node=0), await ctx.client("P1", node=1)
    sent = {p0.name: [new_mark(ctx, "a") for _ in range(_EACH)]}
    sent[p1.name] = [new_mark(ctx, "b") for _ in range(_EACH)]
    origin = {m: 0 for m in sent[p0.name]} | {m: 1 for m in sent[p1.name]}
    ctx.note(f"P0 (node 0) and P1 (node 1) publish {_EACH} events each, at the same time")
    await asyncio.gather(
        _pipeline(p0, channel, sent[p0.name], ctx.timeout),
        _pipeline(p1, channel, sent[p1.name], ctx.timeout),
    )
    everything = [*sent[p0.name], *sent[p1.name]]
    orders = []
    for node, subscriber in enumerate(subscribers):
        got = await _received(ctx, subscriber, channel, everything, origin, node)
        twice = sorted({m for m in got if got.count(m) > 1})
        if twice:
            raise CaseFailed(
                f"subscriber {subscriber.name} on node {node} received {twice[:3]} twice",
                requirement="DELIVERY-6",
            )
        for publisher, own in sent.items():
            seen = [m for m in got if m in own]
            if seen != own:
                raise CaseFailed(
                    f"subscriber {subscriber.name} on node {node} received {publisher}'s events "
                    f"in the order {seen}, not their publish order {own} [DELIVERY-4]",
                    requirement="CLUSTER-3",
                )
        orders.append(got)
    for node, order in enumerate(orders[1:], start=1):
        if order != orders[0]:
            at = next(i for i, (a, b) in enumerate(zip(orders[0], order, strict=False)) if a != b)
            raise CaseFailed(
                f"two subscribers received the channel in different orders: from position {at}, "
                f"{subscribers[0].name} (node 0) got {orders[0][at : at + 3]}, "
                f"{subscribers[node].name} (node {node}) got {order[at : at + 3]}; a channel has "
                "one order for the whole deployment [DELIVERY-3]",
                requirement="CLUSTER-3",
            )


@case(
    id="PEER-02",
    requirements=("CLUSTER-2", "OPS-7", "HTTP-4"),
    title="a publish through any node (a client's, an HTTP one) reaches subscribers on every node",
    nodes=2,
)
async def peer_02(ctx: CaseContext) -> None:
    """A subscriber on every node; a client on each node publishes one event, and (with
    --publish-url) one is POSTed to the target's HTTP publish endpoint: every subscriber
    receives all of them [CLUSTER-2]."""
    channel = ctx.channel("fanout")
    subscribers = await _subscribers(ctx, channel)
    origin: dict[str, int] = {}
    for node in range(ctx.nodes):
        publisher = await ctx.client(f"P{node}", node=node)
        mark = new_mark(ctx, f"n{node}")
        await publisher.publish(channel, {"mark": mark})
        origin[mark] = node
    if ctx.target.publish_url:
        mark = new_mark(ctx, "http")
        response = await ctx.http_publish(channel, {"mark": mark})
        if response.status_code != 202:
            raise CaseFailed(
                f"POST {ctx.target.publish_url} on a conformance channel answered "
                f"{response.status_code} {response.text[:200]}",
                requirement="HTTP-4",
            )
        origin[mark] = 0
    else:
        ctx.note("no --publish-url: only client publishes go through the nodes")
    for node, subscriber in enumerate(subscribers):
        await _received(ctx, subscriber, channel, list(origin), origin, node)


def _contiguous(client: RawClient) -> int:
    """The highest seq the client received contiguously from 1 [RESUME-1]."""
    last = 0
    for frame in events(client):
        if frame.get("seq") != last + 1:
            break
        last += 1
    return last


def _resume_required(ctx: CaseContext, client: RawClient, *, behind: int, since: float) -> bool:
    """Whether RESUME-2 requires ``resumed: true`` now (else the case cannot judge a refusal:
    the announced window or buffer allows it)."""
    expectation = resume_expectation(
        client.limits,
        behind=behind,
        since_drop_s=asyncio.get_running_loop().time() - since,
        heartbeat_ms=ctx.server.heartbeat_ms if ctx.server else None,
    )
    ctx.note(f"RESUME-2 for this resume: {expectation}")
    return expectation.expect is Resume.REQUIRED


def _check_resumed(
    welcome: Frame, session: str | None, assigned: int, *, required: bool, where: str
) -> bool:
    """Whether the resume was granted; fail when RESUME-2 required it and it was refused, or
    when a granted one is not the same session at the last assigned seq."""
    if welcome.get("resumed") is not True:
        if required:
            raise CaseFailed(
                f"a session made on node 0 was not resumed {where} (resumed="
                f"{welcome.get('resumed')!r}), within its window and buffer: a session issued "
                "by any node of the deployment is one issued by this server [CLUSTER-1]",
                requirement="RESUME-2",
            )
        return False
    if welcome.get("session") != session or welcome.get("seq") != assigned:
        raise CaseFailed(
            f"resumed {where}: welcome session "
            f"{'unchanged' if welcome.get('session') == session else 'changed'}, seq "
            f"{welcome.get('seq')!r}; {assigned} events were assigned to the session",
            requirement="RESUME-2",
        )
    return True


async def _ended(client: RawClient, timeout: float) -> None:
    try:
        await client.expect_close(timeout)
    except CaseFailed:
        await client.abort()


@case(
    id="PEER-03",
    requirements=("CLUSTER-1", "RESUME-2", "RESUME-3", "RESUME-11", "DELIVERY-6"),
    title="a session made on one node resumes on another with exactly the missed events",
    nodes=2,
    timeout=60.0,
)
async def peer_03(ctx: CaseContext) -> None:
    """X subscribes on node 0 and receives 3 events; its connection is reset. While it is
    detached, publishers on node 0 and node 1 publish 6 more. X resumes on node 1 from seq 3:
    resumed with the same session at seq 9 [RESUME-2], then exactly the 6 missed events with
    seqs 4..9 in order, then a live one with seq 10 [RESUME-3, RESUME-11], nothing more."""
    channel = ctx.channel("resume")
    proxy = await ctx.proxy(node=0)
    x = await ctx.client("X", via=proxy, node=0)
    await x.subscribe(channel)
    p0, p1 = await ctx.client("P0", node=0), await ctx.client("P1", node=1)
    before = [new_mark(ctx, "before") for _ in range(_BEFORE)]
    await _pipeline(p0, channel, before, ctx.timeout)
    await wait_marks(x, channel, before, timeout=ctx.timeout, requirement="CONF-1")
    last = _contiguous(x)
    ctx.note(f"X received seq 1..{last} on node 0; its connection is reset")
    proxy.cut()
    dropped = asyncio.get_running_loop().time()
    await _ended(x, ctx.timeout)
    missed = [new_mark(ctx, "missed") for _ in range(_MISSED)]
    for k, mark in enumerate(missed):
        await (p0 if k % 2 == 0 else p1).publish(channel, {"mark": mark})
    required = _resume_required(ctx, x, behind=_MISSED, since=dropped)
    x2 = await ctx.client("X2", resume={"session": x.session, "seq": last}, node=1)
    assert x2.welcome is not None
    assigned = _BEFORE + _MISSED
    if not _check_resumed(x2.welcome, x.session, assigned, required=required, where="on node 1"):
        ctx.note("the announced limits allow a refusal here: nothing more to check")
        return
    live = new_mark(ctx, "live")
    await p1.publish(channel, {"mark": live})
    after = await x2.events(_MISSED + 1, timeout=ctx.timeout, requirement="RESUME-3")
    want = list(range(last + 1, assigned + 2))
    if [f.get("seq") for f in after] != want or marks(after) != [*missed, live]:
        raise CaseFailed(
            f"after a resume on node 1 from seq {last}: got seqs {[f.get('seq') for f in after]} "
            f"marks {marks(after)}; expected seqs {want[0]}..{want[-1]}: the {_MISSED} events "
            "published (through both nodes) while the session was detached, in order, then the "
            "live one [RESUME-11]",
            requirement="RESUME-3",
        )
    extra = (await barrier(ctx, x2, channel, publisher=p0))[len(after) :]
    if extra:
        raise CaseFailed(
            f"after the replay X also received {encode(extra[0])[:200]}", requirement="DELIVERY-6"
        )


@case(
    id="PEER-04",
    requirements=("RESUME-4", "CLUSTER-1", "RESUME-2"),
    title="a resume on one node of a session attached on another closes that one with 4411",
    nodes=2,
)
async def peer_04(ctx: CaseContext) -> None:
    """X is attached on node 0 with two events received; X2 resumes the same session on node 1.
    X2 is resumed [RESUME-2] and node 0 closes X with 4411 [RESUME-4]; the next event reaches
    X2 with the next seq."""
    channel = ctx.channel("takeover")
    x = await ctx.client("X", node=0)
    await x.subscribe(channel)
    p = await ctx.client("P", node=0)
    first = [new_mark(ctx, "first") for _ in range(2)]
    await _pipeline(p, channel, first, ctx.timeout)
    await wait_marks(x, channel, first, timeout=ctx.timeout, requirement="CONF-1")
    ctx.note("X stays attached on node 0; X2 resumes its session on node 1")
    x2 = await ctx.client("X2", resume={"session": x.session, "seq": 2}, node=1)
    assert x2.welcome is not None
    _check_resumed(x2.welcome, x.session, 2, required=True, where="on node 1 (takeover)")
    try:
        code = await x.expect_close(ctx.timeout)
    except CaseFailed as failure:
        raise CaseFailed(
            "the session was resumed on node 1, but its connection on node 0 stayed open: a "
            "resume of a session still attached elsewhere closes that connection with 4411 "
            f"({failure.message})",
            requirement="RESUME-4",
        ) from failure
    if code != 4411:
        raise CaseFailed(
            f"the connection on node 0 of the session resumed on node 1 was closed with {code}, "
            "not 4411",
            requirement="RESUME-4",
        )
    mark = new_mark(ctx, "next")
    await p.publish(channel, {"mark": mark})
    got = (await wait_marks(x2, channel, [mark], timeout=ctx.timeout, requirement="RESUME-4"))[0]
    if got.get("seq") != 3:
        raise CaseFailed(
            f"the first event after the takeover has seq {got.get('seq')!r}, not 3",
            requirement="DELIVERY-1",
        )


@case(
    id="PEER-05",
    requirements=("OPS-9", "CLUSTER-1", "RESUME-2", "DELIVERY-6"),
    title="a publish answered on one node, re-sent after a resume on another, is applied once",
    nodes=2,
)
async def peer_05(ctx: CaseContext) -> None:
    """X (node 0, subscribed) publishes one event, acked, which X and a subscriber S on node 1
    receive. X's connection is reset; X resumes on node 1 and sends the same publish frame
    again (same id): it MUST get its ack again and MUST NOT be applied again — neither S nor X
    receives the event a second time [OPS-9]."""
    channel = ctx.channel("resend")
    s = await ctx.client("S", node=1)
    await s.subscribe(channel)
    proxy = await ctx.proxy(node=0)
    x = await ctx.client("X", via=proxy, node=0)
    await x.subscribe(channel)
    mark = new_mark(ctx, "once")
    frame = {"type": "publish", "id": "resent-1", "channel": channel, "data": {"mark": mark}}
    first = await x.request(frame, ok=True)
    for client in (x, s):
        await wait_marks(client, channel, [mark], timeout=ctx.timeout, requirement="CLUSTER-2")
    proxy.cut()
    dropped = asyncio.get_running_loop().time()
    await _ended(x, ctx.timeout)
    required = _resume_required(ctx, x, behind=0, since=dropped)
    x2 = await ctx.client("X2", resume={"session": x.session, "seq": 1}, node=1)
    assert x2.welcome is not None
    if not _check_resumed(x2.welcome, x.session, 1, required=required, where="on node 1"):
        ctx.note("the announced limits allow a refusal here: nothing more to check")
        return
    ctx.note("X2 (node 1) sends the publish answered on node 0 again, with the same id")
    again = await x2.request(frame)
    if (again.get("type"), again.get("code")) != (first.get("type"), first.get("code")):
        raise CaseFailed(
            f"the publish answered {encode(first)} on node 0, re-sent on node 1 after the resume, "
            f"was answered {encode(again)}: the same id gets the same reply in the session",
            requirement="OPS-9",
        )
    # Each session's events up to a marker: S's connection, X's and X2's (one session).
    received = {
        "S": marks(await barrier(ctx, s, channel, publisher=s)),
        "X": marks(events(x)) + marks(await barrier(ctx, x2, channel, publisher=s)),
    }
    for who, got in received.items():
        if got.count(mark) > 1:
            raise CaseFailed(
                f"{who} received {mark} {got.count(mark)} times: the publish re-sent on node 1 "
                "(answered on node 0 in the same session) was applied again",
                requirement="OPS-9",
            )


# --------------------------------------------------------------------------- PEER-06

_QUEUE = "playqueue"


def _version(frame: Frame) -> int | None:
    data = frame.get("data")
    value = data.get("version") if isinstance(data, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def _states(client: RawClient, count: int, timeout: float) -> list[Frame]:
    """The next ``count`` state events of the play queue; too few breaks CLUSTER-4."""
    try:
        return await client.events(count, channel=_QUEUE, timeout=timeout, requirement="CLUSTER-4")
    except CaseFailed as failure:
        raise CaseFailed(
            f"{client.name}: {failure.message}; every subscriber on every node receives the "
            "state of every command accepted through any node",
            requirement="CLUSTER-4",
        ) from failure


def _check_sequence(client: RawClient, states: list[Frame], start: int, node: int) -> None:
    versions = [_version(f) for f in states]
    want = list(range(start + 1, start + 1 + len(states)))
    if versions != want:
        raise CaseFailed(
            f"{client.name} on node {node} received play-queue versions {versions} after "
            f"version {start}, not {want[0]}..{want[-1]}: one sequence of versions for the "
            "deployment, each applied command + 1 [QUEUE-2]",
            requirement="CLUSTER-4",
        )


async def _command(client: RawClient, command: dict[str, Any]) -> str:
    frame = {"type": "publish", "id": client.next_id("q"), "channel": _QUEUE, "data": command}
    await client.send(frame)
    return str(frame["id"])


async def _commands(client: RawClient, commands: list[dict[str, Any]], timeout: float) -> None:
    """Send every command (paced, pipelined) and require an ack for each [QUEUE-2]."""
    ids = [await _command(client, command) for command in commands]
    for frame_id, command in zip(ids, commands, strict=True):
        reply = await client.expect(where=_reply_to(frame_id), timeout=timeout, requirement="OPS-1")
        if reply.get("type") != "ack":
            raise CaseFailed(
                f"{client.name}: {encode(command)} refused: {encode(reply)}", requirement="QUEUE-2"
            )


@case(
    id="PEER-06",
    requirements=("CLUSTER-4", "QUEUE-2", "QUEUE-3", "QUEUE-8"),
    profile="playqueue",
    title="play-queue commands through two nodes: one sequence of versions for every subscriber",
    nodes=2,
    timeout=60.0,
)
async def peer_06(ctx: CaseContext) -> None:
    """S0 (node 0) and S1 (node 1) subscribe to playqueue; C0 (node 0) clears the queue. Then
    C0 and C1 (node 1) each add 5 tracks at the same time. Both subscribers receive the same
    11 states, versions +1 each [QUEUE-2], and the last holds every track, each commander's in
    its order. Then C0 and C1 both send a pause with the same if_version at once: exactly one
    is applied, the other refused with version_conflict [QUEUE-3]: the deployment applies
    commands one at a time, each to the state the previous one produced [CLUSTER-4]."""
    ctx.require_channel(_QUEUE)
    subscribers = []
    snapshots = []
    for node in range(ctx.nodes):
        client = await ctx.client(f"S{node}", node=node)
        await client.subscribe(_QUEUE)
        snapshots.append(await client.expect("event", channel=_QUEUE, requirement="QUEUE-1"))
        subscribers.append(client)
    c0, c1 = await ctx.client("C0", node=0), await ctx.client("C1", node=1)
    start = _version(snapshots[0])
    if start is None or any(_version(s) != start for s in snapshots):
        raise CaseFailed(
            f"the snapshots of an unchanged queue on the nodes carry versions "
            f"{[_version(s) for s in snapshots]}: the deployment has one queue",
            requirement="CLUSTER-4",
        )
    await _commands(c0, [{"op": "clear"}], ctx.timeout)
    tracks: dict[str, list[dict[str, Any]]] = {
        name: [
            {"op": "add", "track": {"id": f"{ctx.run_id}-{name}-{k}", "title": f"{name} {k}"}}
            for k in range(_COMMANDS)
        ]
        for name in ("C0", "C1")
    }
    ctx.note(f"C0 (node 0) and C1 (node 1) each add {_COMMANDS} tracks at the same time")
    await asyncio.gather(
        _commands(c0, tracks["C0"], ctx.timeout), _commands(c1, tracks["C1"], ctx.timeout)
    )
    count = 1 + 2 * _COMMANDS
    seen: list[list[Any]] = []
    for node, subscriber in enumerate(subscribers):
        states = await _states(subscriber, count, ctx.timeout)
        _check_sequence(subscriber, states, start, node)
        seen.append([f.get("data") for f in states])
    for node, data in enumerate(seen[1:], start=1):
        if data != seen[0]:
            at = next(i for i, (a, b) in enumerate(zip(seen[0], data, strict=True)) if a != b)
            raise CaseFailed(
                f"S0 (node 0) and S{node} (node {node}) received different states for version "
                f"{start + 1 + at}: {encode(seen[0][at])[:200]} vs {encode(data[at])[:200]}",
                requirement="CLUSTER-4",
            )
    last = seen[0][-1]
    items = [i.get("id") for i in last.get("items", []) if isinstance(i, dict)]
    for name, commands in tracks.items():
        own = [c["track"]["id"] for c in commands]
        if [i for i in items if i in own] != own:
            raise CaseFailed(
                f"after every add the queue holds {name}'s tracks as "
                f"{[i for i in items if i in own]}, not {own} (each add appends)",
                requirement="CLUSTER-4",
            )
    version = start + count
    race = {"op": "pause", "if_version": version}
    ctx.note(f"C0 and C1 both send {encode(race)} at the same time")
    ids = await asyncio.gather(_command(c0, race), _command(c1, race))
    replies = [
        await client.expect(where=_reply_to(frame_id), requirement="OPS-1")
        for client, frame_id in zip((c0, c1), ids, strict=True)
    ]
    kinds = sorted((r.get("type"), r.get("code")) for r in replies)
    if kinds != [("ack", None), ("error", "version_conflict")]:
        raise CaseFailed(
            f"two commands with if_version {version}, through node 0 and node 1 at once, were "
            f"answered {[encode(r) for r in replies]}: exactly one can apply to version "
            f"{version}, the other gets version_conflict [QUEUE-3]",
            requirement="CLUSTER-4",
        )
    for node, subscriber in enumerate(subscribers):
        _check_sequence(subscriber, await _states(subscriber, 1, ctx.timeout), version, node)


@case(
    id="PEER-07",
    requirements=("CLUSTER-1", "SSE-2", "RESUME-2", "RESUME-3"),
    profile="sse",
    title="an SSE stream made on one node resumes on another with exactly the missed events",
    nodes=2,
    timeout=60.0,
)
async def peer_07(ctx: CaseContext) -> None:
    """A stream on node 0 receives 3 events and ends. While its session is detached,
    publishers on node 0 and node 1 publish 6 more. A stream on node 1 resumes it with
    ``Last-Event-ID: <session>:3``: resumed with the same session at seq 9 [SSE-2,
    RESUME-2], then exactly the 6 missed events with seqs 4..9 in order, then a live one
    with seq 10 [RESUME-3]. Node 1's ``/events`` is the one next to its ``/ws``."""
    channel = ctx.channel("sse")
    p0, p1 = await ctx.client("P0", node=0), await ctx.client("P1", node=1)
    first = await _open_stream(ctx, [channel], "sse-0")
    welcome0 = await _stream_welcome(first)
    session = str(welcome0.get("session"))
    before = [new_mark(ctx, "before") for _ in range(_BEFORE)]
    await _pipeline(p0, channel, before, ctx.timeout)
    seen = await _sse_events(first, channel, _BEFORE, session)
    last = int(seen[-1]["seq"])
    ctx.note(f"the stream received seq 1..{last} on node 0; it ends")
    await first.close()
    dropped = asyncio.get_running_loop().time()
    missed = [new_mark(ctx, "missed") for _ in range(_MISSED)]
    for k, mark in enumerate(missed):
        await (p0 if k % 2 == 0 else p1).publish(channel, {"mark": mark})
    limits = welcome0.get("limits")
    expectation = resume_expectation(
        limits if isinstance(limits, dict) else {},
        behind=_MISSED,
        since_drop_s=asyncio.get_running_loop().time() - dropped,
        heartbeat_ms=ctx.server.heartbeat_ms if ctx.server else None,
    )
    ctx.note(f"RESUME-2 for this resume: {expectation}")
    url = derive_urls(ctx.target.node_url(1))["sse"]
    position = f"{session}:{last}"
    second = await _open_stream(ctx, [channel], "sse-1", last_event_id=position, url=url)
    welcome = await _stream_welcome(second)
    assigned = _BEFORE + _MISSED
    required = expectation.expect is Resume.REQUIRED
    if not _check_resumed(
        welcome, session, assigned, required=required, where="over SSE on node 1"
    ):
        ctx.note("the announced limits allow a refusal here: nothing more to check")
        return
    live = new_mark(ctx, "live")
    await p1.publish(channel, {"mark": live})
    after = await _sse_events(second, channel, _MISSED + 1, session)
    want = list(range(last + 1, assigned + 2))
    if [f.get("seq") for f in after] != want or marks(after) != [*missed, live]:
        raise CaseFailed(
            f"after a resume on node 1 from {position}: got seqs "
            f"{[f.get('seq') for f in after]} marks {marks(after)}; expected seqs "
            f"{want[0]}..{want[-1]}: the {_MISSED} events published (through both nodes) "
            "while the session was detached, in order, then the live one [RESUME-11]",
            requirement="RESUME-3",
        )
