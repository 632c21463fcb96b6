"""Isolation: nothing reaches a session that did not ask for it
(operations.md OPS-6, delivery.md DELIVERY-2, security.md, standard-channels.md).

Each negative check ends with a seq barrier (:func:`~canaux_conformance.suites._delivery.barrier`):
the leak, if any, was assigned to the session before the marker and so arrived before it.
"""

from __future__ import annotations

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.suites._delivery import barrier, new_mark, wait_marks
from canaux_conformance.wire import encode

__all__ = ["iso_01", "iso_02", "iso_03", "iso_04", "iso_05"]


@case(
    id="ISO-01",
    requirements=("DELIVERY-2", "CONF-1"),
    title="no delivery to a session subscribed to nothing or to another channel",
)
async def iso_01(ctx: CaseContext) -> None:
    """A publishes five events on X; B (on Y) and C (on its own marker channel) receive none
    of them [DELIVERY-2]."""
    x, y, z = ctx.channel("x"), ctx.channel("y"), ctx.channel("z")
    a, b, c = await ctx.client("A"), await ctx.client("B"), await ctx.client("C")
    await a.subscribe(x)
    await b.subscribe(y)
    await c.subscribe(z)
    wanted = [new_mark(ctx) for _ in range(5)]
    for mark in wanted:
        await a.publish(x, {"mark": mark})
    await wait_marks(a, x, wanted, timeout=ctx.timeout, requirement="CONF-1")
    for client, marker_channel in ((b, y), (c, z)):
        before = await barrier(ctx, client, marker_channel)
        if before:
            raise CaseFailed(
                f"client {client.name} (not subscribed to {x}) received {encode(before[0])}",
                requirement="DELIVERY-2",
            )


@case(
    id="ISO-02",
    requirements=("DELIVERY-2", "CHANNEL-2"),
    title="channels sharing a prefix stay apart: a, a.b, ab",
)
async def iso_02(ctx: CaseContext) -> None:
    """Names that share a prefix are different channels: an event of ``p.a`` reaches neither
    ``p.a.b`` nor ``p.ab`` subscribers, and the other way round [DELIVERY-2]."""
    base = ctx.channel("pre")
    names = [f"{base}.a", f"{base}.a.b", f"{base}.ab"]
    clients = [await ctx.client(n) for n in "ABC"]
    for client, name in zip(clients, names, strict=True):
        await client.subscribe(name)
    publisher = await ctx.client("P")
    sent: dict[str, str] = {}
    for name in names:
        mark = new_mark(ctx)
        sent[mark] = name
        await publisher.publish(name, {"mark": mark})
    for client, name in zip(clients, names, strict=True):
        before = await barrier(ctx, client, name, publisher=publisher)
        foreign = [
            f for f in before if f.get("channel") != name or sent.get(f["data"].get("mark")) != name
        ]
        if foreign:
            raise CaseFailed(
                f"client {client.name}, subscribed to {name} only, received {encode(foreign[0])}",
                requirement="DELIVERY-2",
            )
        if len(before) != 1:
            raise CaseFailed(
                f"client {client.name} received {len(before)} events of {name}; one was published",
                requirement="CONF-1",
            )


@case(
    id="ISO-03",
    requirements=("OPS-6",),
    title="after the ack of an unsubscribe, nothing more of that channel",
)
async def iso_03(ctx: CaseContext) -> None:
    """A receives e1 on X, unsubscribes (ack), B publishes e2..e4 on X; A's next event is a
    marker on its other channel, not e2 [OPS-6]."""
    x, own = ctx.channel("x"), ctx.channel("own")
    a, b = await ctx.client("A"), await ctx.client("B")
    await a.subscribe(x)
    await a.subscribe(own)
    first = new_mark(ctx)
    await b.publish(x, {"mark": first})
    await wait_marks(a, x, [first], timeout=ctx.timeout, requirement="CONF-1")
    await a.unsubscribe(x)
    for _ in range(3):
        await b.publish(x, {"mark": new_mark(ctx)})
    before = await barrier(ctx, a, own)
    late = [f for f in before if f.get("channel") == x and f["data"].get("mark") != first]
    if late:
        raise CaseFailed(
            f"client A received {encode(late[0])} after its unsubscribe from {x} was acked",
            requirement="OPS-6",
        )


@case(
    id="ISO-04",
    requirements=("CHAT-2", "SECURITY-3"),
    profile="chat",
    title="a chat reply goes only to the requesting session, subscribed or not",
)
async def iso_04(ctx: CaseContext) -> None:
    """A (not subscribed to chat) sends a chat message and receives its reply; B, subscribed
    to chat, receives no event of it [CHAT-2, SECURITY-3]."""
    ctx.require_channel("chat")
    own = ctx.channel("own")
    a, b = await ctx.client("A"), await ctx.client("B")
    await b.subscribe("chat")
    await b.subscribe(own)
    request = a.next_id("chat")
    await a.publish(
        "chat", {"type": "message", "text": "Hello from the conformance suite"}, id=request
    )
    end = await a.expect(
        "event",
        channel="chat",
        timeout=ctx.timeout * 4,
        requirement="CHAT-1",
        where=lambda f: (
            isinstance(f.get("data"), dict)
            and f["data"].get("request") == request
            and f["data"].get("type") in ("done", "error")
        ),
    )
    ctx.note(f"A's request {request} ended with {encode(end['data'])}")
    before = await barrier(ctx, b, own)
    leaked = [f for f in before if f.get("channel") == "chat"]
    if leaked:
        raise CaseFailed(
            f"client B received another session's chat reply: {encode(leaked[0])}",
            requirement="CHAT-2",
        )


@case(
    id="ISO-05",
    requirements=("SECURITY-3", "OPS-1", "OPS-13"),
    title="acks and errors go only to the session whose frame they answer",
)
async def iso_05(ctx: CaseContext) -> None:
    """A's subscribe, publish, and refused publish are answered to A alone; B, meanwhile,
    gets exactly the replies to its own frames [SECURITY-3]."""
    x = ctx.channel("x")
    a, b = await ctx.client("A"), await ctx.client("B")
    await a.subscribe(x, id="a-sub")
    await a.publish(x, {"mark": new_mark(ctx)}, id="a-pub")
    await a.publish(x, {"body": "no mark"}, id="a-bad", ok=False)
    await b.subscribe(x, id="b-sub")
    await b.publish(x, {"mark": new_mark(ctx)}, id="b-pub")
    await barrier(ctx, b, x)
    theirs = {"a-sub", "a-pub", "a-bad"}
    foreign = [f for f in b.received if f.get("type") in ("ack", "error") and f.get("id") in theirs]
    if foreign:
        raise CaseFailed(
            f"client B received a reply to another session's frame: {encode(foreign[0])}",
            requirement="SECURITY-3",
        )
