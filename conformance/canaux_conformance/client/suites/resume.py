"""Client cases: coming back after a drop (spec resume.md, client.md "Resuming")."""

from __future__ import annotations

from typing import Any

from canaux_conformance.client.adapter import Adapter
from canaux_conformance.client.cases import client_case
from canaux_conformance.client.context import ClientCaseContext
from canaux_conformance.client.scripted_server import (
    ClientFrame,
    ScriptedConnection,
    ScriptedServer,
)
from canaux_conformance.outcomes import CaseFailed


async def _reconnect(
    ctx: ClientCaseContext, adapter: Adapter, server: ScriptedServer
) -> tuple[ScriptedConnection, ClientFrame]:
    """The client's next connection after a drop (first reconnection: attempt 0) and its hello."""
    wait = ctx.backoff(adapter).bound(0) + ctx.timeout
    conn = await server.accept(timeout=wait)
    return conn, await conn.hello(timeout=ctx.timeout)


def _expect_resume(hello: ClientFrame, session: str, seq: int, requirement: str) -> None:
    resume = hello.get("resume")
    # [RESUME-1] "hello with resume set to the session id it was given and the highest seq it
    # received in that session such that it also received every lower seq"
    if resume != {"session": session, "seq": seq}:
        raise CaseFailed(
            f"expected hello.resume {{'session': <the session>, 'seq': {seq}}}, got {hello.text!r}",
            requirement=requirement,
        )


async def _marker(ctx: ClientCaseContext, adapter: Adapter, conn: Any, seq: int, ch: str) -> Any:
    data = ctx.data("end")
    await conn.event(seq, ch, data)
    await ctx.wait_delivered(adapter, data, requirement="CLIENT-9")
    return data


@client_case(
    id="CL-RES-01",
    requirements=("RESUME-1", "CLIENT-2", "RESUME-14", "CLIENT-9"),
    title="after a TCP cut the client resumes from its last seq and takes the replay in order",
)
async def cl_res_01(ctx: ClientCaseContext) -> None:
    """Events 1-3, a cut; the resumed welcome replays 3 (a duplicate), 4 and 5."""
    server = await ctx.server()
    adapter = await ctx.adapter()
    channel = ctx.channel()
    conn, welcome = await ctx.welcomed(adapter, server, subscribe=[channel])
    before = [ctx.data() for _ in range(3)]
    for seq, data in enumerate(before, start=1):
        await conn.event(seq, channel, data)
    for data in before:
        await ctx.wait_delivered(adapter, data, requirement="CLIENT-9")
    conn.cut()
    conn2, hello = await _reconnect(ctx, adapter, server)
    _expect_resume(hello, welcome["session"], 3, "RESUME-1")
    await conn2.welcome(session=welcome["session"], resumed=True, seq=5)
    replay = [ctx.data(), ctx.data()]
    # [RESUME-14] the replay starts at resume.seq + 1 and the seq checks go on across it.
    await conn2.event(3, channel, ctx.data("dup"))
    await conn2.event(4, channel, replay[0])
    await conn2.event(5, channel, replay[1])
    marker = await _marker(ctx, adapter, conn2, 6, channel)
    seen = ctx.delivered(adapter, channel)
    if seen != [*before, *replay, marker]:
        raise CaseFailed(
            f"events 1-3, then after resume 3 (again), 4, 5, 6: the application saw {seen}",
            requirement="RESUME-14",
        )
    if adapter.of_kind("reset"):
        raise CaseFailed(
            "the client emitted a reset although the session was resumed", requirement="CLIENT-2"
        )


@client_case(
    id="CL-RES-02",
    requirements=("RESUME-5", "CLIENT-2", "CLIENT-6"),
    title="on resumed: false the client restores its subscriptions and resets before new events",
)
async def cl_res_02(ctx: ClientCaseContext) -> None:
    """Subscribed to a and b; then unsubscribes b (acked) and subscribes c (never answered);
    a cut; the server has lost the session."""
    server = await ctx.server()
    adapter = await ctx.adapter()
    a, b, c = ctx.channel("a"), ctx.channel("b"), ctx.channel("c")
    conn, welcome = await ctx.welcomed(adapter, server, subscribe=[a, b])
    await conn.event(1, a, ctx.data())
    await adapter.command("unsubscribe", channel=b)
    unsub = await conn.next(timeout=ctx.timeout, types=("unsubscribe",))
    await conn.ack(str(unsub.get("id")))
    await adapter.command("subscribe", channel=c)
    await conn.next(timeout=ctx.timeout, types=("subscribe",))  # left unanswered
    conn.cut()
    conn2, hello = await _reconnect(ctx, adapter, server)
    _expect_resume(hello, welcome["session"], 1, "CLIENT-2")
    await conn2.welcome(resumed=False)
    # [CLIENT-6] "restore exactly that state in a new session"; [RESUME-5] "subscribe again"
    wanted = {a, c}
    restored: set[str] = set()
    while restored != wanted:
        frame = await conn2.next_or_none(timeout=ctx.timeout, types=("subscribe", "unsubscribe"))
        if frame is None:
            raise CaseFailed(
                f"after resumed: false the client subscribed to {sorted(restored)}, "
                f"not {sorted(wanted)}",
                requirement="CLIENT-6",
            )
        channel = str(frame.get("channel"))
        if frame.type != "subscribe" or channel not in wanted or channel in restored:
            raise CaseFailed(
                f"restoring {sorted(wanted)} after resumed: false, the client sent {frame.text!r}",
                requirement="CLIENT-6",
            )
        restored.add(channel)
        await conn2.ack(str(frame.get("id")))
    fresh = ctx.data("new")
    await conn2.event(1, a, fresh)
    await ctx.wait_delivered(adapter, fresh, requirement="CLIENT-2")
    order = [m.kind for m in adapter.of_kind("reset", "event")]
    # [CLIENT-2] "emit a reset to every handler ... before delivering any event of the new
    # session"
    if "reset" not in order or order.index("reset") > len(order) - 1 - order[::-1].index("event"):
        raise CaseFailed(
            f"after resumed: false the application saw {order} (a reset must come before the "
            "new session's first event)",
            requirement="CLIENT-2",
        )
    late = await conn2.next_or_none(timeout=0.3, types=("subscribe", "unsubscribe"))
    if late is not None:
        raise CaseFailed(
            f"the client sent {late.text!r} after restoring {sorted(wanted)}",
            requirement="CLIENT-6",
        )


async def _publish(ctx: ClientCaseContext, adapter: Adapter, conn: ScriptedConnection, ch: str,
                   data: Any) -> tuple[int, ClientFrame]:  # fmt: skip
    n = await adapter.send("publish", channel=ch, data=data)
    frame = await conn.next(timeout=ctx.timeout, types=("publish",))
    return n, frame


async def _resend_case(ctx: ClientCaseContext, *, resumed: bool) -> None:
    server = await ctx.server()
    adapter = await ctx.adapter()
    channel = ctx.channel()
    conn, welcome = await ctx.welcomed(adapter, server, subscribe=[channel])
    n1, p1 = await _publish(ctx, adapter, conn, channel, ctx.data())
    await conn.ack(str(p1.get("id")))
    await ctx.outcome(adapter, n1, requirement="CLIENT-7")
    n2, p2 = await _publish(ctx, adapter, conn, channel, ctx.data())
    n3, p3 = await _publish(ctx, adapter, conn, channel, ctx.data())
    ids = [p.get("id") for p in (p1, p2, p3)]
    # [OPS-10] "MUST NOT use the same id for two different frames within one session"
    if len(set(ids)) != 3:
        raise CaseFailed(f"three different publishes carried the ids {ids}", requirement="OPS-10")
    conn.cut()
    conn2, _ = await _reconnect(ctx, adapter, server)
    if resumed:
        await conn2.welcome(session=welcome["session"], resumed=True)
    else:
        await conn2.welcome(resumed=False)
        await ctx.ack_subscriptions(conn2, 1)
    requirement = "RESUME-6"
    again = []
    for _ in range(2):
        frame = await conn2.next_or_none(timeout=ctx.timeout, types=("publish",))
        if frame is None:
            break
        again.append(frame)
    expected = [(p.get("id"), p.get("channel"), p.get("data")) for p in (p2, p3)]
    got = [(p.get("id"), p.get("channel"), p.get("data")) for p in again]
    # [RESUME-6] "re-send, with their original ids and in their original order, every ...
    # publish ... for which it has received neither ack nor error"
    if got != expected:
        raise CaseFailed(
            f"unanswered publishes {expected} (the acked one {ids[0]!r} not); after "
            f"resumed: {str(resumed).lower()} the client re-sent {got}",
            requirement=requirement,
        )
    extra = await conn2.next_or_none(timeout=0.3, types=("publish",))
    if extra is not None:
        raise CaseFailed(
            f"the client re-sent {extra.text!r}, which was answered or already re-sent",
            requirement="CLIENT-7",
        )
    for frame in again:
        await conn2.ack(str(frame.get("id")))
    for n in (n2, n3):
        outcome = await ctx.outcome(adapter, n, requirement="CLIENT-7")
        if outcome.kind != "ack":
            raise CaseFailed(
                f"the re-sent publish was acked; the application saw {outcome.body!r}",
                requirement="CLIENT-7",
            )


@client_case(
    id="CL-RES-03",
    requirements=("RESUME-6", "CLIENT-7", "OPS-10"),
    title="after resumed: true the unanswered publishes are re-sent with their ids, in order",
)
async def cl_res_03(ctx: ClientCaseContext) -> None:
    await _resend_case(ctx, resumed=True)


@client_case(
    id="CL-RES-04",
    requirements=("RESUME-6", "CLIENT-7"),
    title="after resumed: false the unanswered publishes are re-sent too",
)
async def cl_res_04(ctx: ClientCaseContext) -> None:
    await _resend_case(ctx, resumed=False)


@client_case(
    id="CL-GAP-01",
    requirements=("CLIENT-3", "RESUME-1"),
    title="a gap in seq is not delivered: the client closes with 1002 and resumes",
)
async def cl_gap_01(ctx: ClientCaseContext) -> None:
    """Events 1, 2, then 4: the client must hold 4 back, close, and resume from 2."""
    server = await ctx.server()
    adapter = await ctx.adapter()
    channel = ctx.channel()
    conn, welcome = await ctx.welcomed(adapter, server, subscribe=[channel])
    first, second, skipped, beyond = ctx.data(), ctx.data(), ctx.data("gap"), ctx.data("gap")
    await conn.event(1, channel, first)
    await conn.event(2, channel, second)
    await conn.event(4, channel, beyond)
    code = await conn.wait_closed(timeout=ctx.timeout)
    # [CLIENT-3] "MUST close the connection (with close code 1002)"
    if code != 1002:
        shown = "kept the connection open" if code is None else f"closed with {code}"
        raise CaseFailed(f"after seq 1, 2, 4 the client {shown}, not 1002", requirement="CLIENT-3")
    conn2, hello = await _reconnect(ctx, adapter, server)
    _expect_resume(hello, welcome["session"], 2, "CLIENT-3")
    await conn2.welcome(session=welcome["session"], resumed=True, seq=4)
    await conn2.event(3, channel, skipped)
    await conn2.event(4, channel, beyond)
    marker = await _marker(ctx, adapter, conn2, 5, channel)
    seen = ctx.delivered(adapter, channel)
    if seen != [first, second, skipped, beyond, marker]:
        raise CaseFailed(
            f"seq 1, 2, 4 (gap), then after resume 3, 4, 5: the application saw {seen}",
            requirement="CLIENT-3",
        )


@client_case(
    id="CL-GAP-02",
    requirements=("RESUME-14", "CLIENT-3"),
    title="a replay that skips a seq is a gap too: close with 1002, resume from the same seq",
)
async def cl_gap_02(ctx: ClientCaseContext) -> None:
    """Events 1, 2, a cut; the resumed welcome's replay starts at 4 instead of 3."""
    server = await ctx.server()
    adapter = await ctx.adapter()
    channel = ctx.channel()
    conn, welcome = await ctx.welcomed(adapter, server, subscribe=[channel])
    first, second = ctx.data(), ctx.data()
    await conn.event(1, channel, first)
    await conn.event(2, channel, second)
    await ctx.wait_delivered(adapter, second, requirement="CLIENT-9")
    conn.cut()
    conn2, hello = await _reconnect(ctx, adapter, server)
    _expect_resume(hello, welcome["session"], 2, "RESUME-1")
    await conn2.welcome(session=welcome["session"], resumed=True, seq=4)
    beyond = ctx.data("gap")
    await conn2.event(4, channel, beyond)
    code = await conn2.wait_closed(timeout=ctx.timeout)
    # [RESUME-14] "expect the replayed events to start at resume.seq + 1 and continue the seq
    # checks of CLIENT-3 across the reconnection"
    if code != 1002:
        shown = "kept the connection open" if code is None else f"closed with {code}"
        raise CaseFailed(
            f"a replay starting at seq 4 after resume.seq 2: the client {shown}, not 1002",
            requirement="RESUME-14",
        )
    conn3, hello3 = await _reconnect(ctx, adapter, server)
    _expect_resume(hello3, welcome["session"], 2, "CLIENT-3")
    await conn3.welcome(session=welcome["session"], resumed=True, seq=4)
    missed = ctx.data()
    await conn3.event(3, channel, missed)
    await conn3.event(4, channel, beyond)
    marker = await _marker(ctx, adapter, conn3, 5, channel)
    seen = ctx.delivered(adapter, channel)
    if seen != [first, second, missed, beyond, marker]:
        raise CaseFailed(
            f"seq 1, 2, then a replay from 4 (refused), then 3, 4, 5: the application saw {seen}",
            requirement="RESUME-14",
        )
