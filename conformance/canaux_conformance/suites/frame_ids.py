"""Frame ids: scoped to a session, and a repeated id gets its first reply (operations.md).

Two sessions may use the same ids without noticing each other [OPS-11]; within a session an id
already answered is answered again the same way even when the frame changed, and the new
content is not applied [OPS-16].
"""

from __future__ import annotations

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.suites._delivery import barrier, new_mark, wait_marks
from canaux_conformance.wire import Frame, encode

__all__: list[str] = []


@case(
    id="IDS-01",
    requirements=("OPS-11",),
    title="two sessions using the same frame ids each get their own replies and effects",
)
async def ids_01(ctx: CaseContext) -> None:
    """A and B both publish with id "same" (different data) and subscribe with id "sub": each
    frame is acked and applied; the watcher W receives both events [OPS-11]."""
    channel, other = ctx.channel("shared"), ctx.channel("other")
    a, b, w = await ctx.client("A"), await ctx.client("B"), await ctx.client("W")
    await w.subscribe(channel)
    await a.subscribe(channel, id="sub")
    await b.subscribe(other, id="sub")
    marks = {"A": new_mark(ctx, "a"), "B": new_mark(ctx, "b")}
    for client in (a, b):
        frame: Frame = {
            "type": "publish",
            "id": "same",
            "channel": channel,
            "data": {"mark": marks[client.name]},
        }
        reply = await client.request(frame)
        if reply.get("type") != "ack":
            raise CaseFailed(
                f"client {client.name}'s publish with id 'same' answered {encode(reply)}",
                requirement="OPS-11",
            )
    try:
        await wait_marks(
            w, channel, list(marks.values()), timeout=ctx.timeout, requirement="OPS-11"
        )
    except CaseFailed as failure:
        raise CaseFailed(
            "a publish whose id another session had used was not applied: " + failure.message,
            requirement="OPS-11",
        ) from failure


@case(
    id="IDS-02",
    requirements=("OPS-16", "OPS-9"),
    title="a repeated id gets the first reply again, and its new content is not applied",
)
async def ids_02(ctx: CaseContext) -> None:
    """A publishes p1 (acked); A sends p1 again with other data: acked again, and no event of
    the new data reaches any subscriber [OPS-16]."""
    channel = ctx.channel("again")
    a, w = await ctx.client("A"), await ctx.client("W")
    await w.subscribe(channel)
    first, second = new_mark(ctx, "first"), new_mark(ctx, "second")
    reply = await a.request(
        {"type": "publish", "id": "p1", "channel": channel, "data": {"mark": first}}
    )
    if reply.get("type") != "ack":
        raise CaseFailed(f"the first publish answered {encode(reply)}", requirement="OPS-7")
    await wait_marks(w, channel, [first], timeout=ctx.timeout, requirement="CONF-1")
    again = await a.request(
        {"type": "publish", "id": "p1", "channel": channel, "data": {"mark": second}}
    )
    if again.get("type") != "ack":
        raise CaseFailed(
            f"p1 sent again with other data answered {encode(again)}; the first answer was an ack",
            requirement="OPS-16",
        )
    before = await barrier(ctx, w, channel, publisher=a)
    applied = [
        f for f in before if isinstance(f.get("data"), dict) and f["data"].get("mark") == second
    ]
    if applied:
        raise CaseFailed(
            f"the new content of a repeated id was applied: {encode(applied[0])}",
            requirement="OPS-16",
        )


@case(
    id="IDS-03",
    requirements=("OPS-9",),
    title="an old subscribe or unsubscribe sent again is answered again, not applied again",
)
async def ids_03(ctx: CaseContext) -> None:
    """A subscribes to C (s1) and unsubscribes (u1), then sends s1 again: acked, and A stays
    unsubscribed. A subscribes to D (s2), unsubscribes (u2), subscribes again (s3), then sends
    u2 again: acked, and A stays subscribed to D [OPS-9]."""
    c, d = ctx.channel("c"), ctx.channel("d")
    a, p = await ctx.client("A"), await ctx.client("P")
    own = ctx.channel("own")
    await a.subscribe(own)
    for frame_id, kind, channel in (("s1", "subscribe", c), ("u1", "unsubscribe", c)):
        await a.request({"type": kind, "id": frame_id, "channel": channel}, ok=True)
    again = await a.request({"type": "subscribe", "id": "s1", "channel": c})
    if again.get("type") != "ack":
        raise CaseFailed(
            f"s1 sent again answered {encode(again)}; it was acked", requirement="OPS-9"
        )
    for frame_id, kind in (("s2", "subscribe"), ("u2", "unsubscribe"), ("s3", "subscribe")):
        await a.request({"type": kind, "id": frame_id, "channel": d}, ok=True)
    again = await a.request({"type": "unsubscribe", "id": "u2", "channel": d})
    if again.get("type") != "ack":
        raise CaseFailed(
            f"u2 sent again answered {encode(again)}; it was acked", requirement="OPS-9"
        )
    on_c, on_d = new_mark(ctx, "c"), new_mark(ctx, "d")
    await p.publish(c, {"mark": on_c})
    await p.publish(d, {"mark": on_d})
    try:
        await wait_marks(a, d, [on_d], timeout=ctx.timeout, requirement="OPS-9")
    except CaseFailed as failure:
        raise CaseFailed(
            "u2 sent again was applied again: A no longer receives D. " + failure.message,
            requirement="OPS-9",
        ) from failure
    before = await barrier(ctx, a, own, publisher=p)
    if [f for f in before if f.get("channel") == c]:
        raise CaseFailed("s1 sent again was applied again: A receives C", requirement="OPS-9")
