"""Ordering: per-session seq, one order per channel, publisher order, reply order
(operations.md, delivery.md).
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.

from __future__ import annotations

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.suites._delivery import check_contiguous, marks, new_mark, wait_marks
from canaux_conformance.wire import Frame

__all__ = ["order_01", "order_02", "order_03"]


@case(
    id="ORDER-01",
    requirements=("DELIVERY-1",),
    title="events of a session are numbered 1, 2, 3 … across all its channels",
)
async def order_01(ctx: CaseContext) -> None:
    """A subscribes to three channels; B publishes on them in turn; A's events carry seq
    1..n in arrival order, no gap, no repeat [DELIVERY-1]."""
    channels = [ctx.channel(f"c{i}") for i in range(3)]
    a, b = await ctx.client("A"), await ctx.client("B")
    for channel in channels:
        await a.subscribe(channel)
    wanted: dict[str, list[str]] = {c: [] for c in channels}
    for i in range(12):
        channel = channels[i % 3]
        mark = new_mark(ctx)
        wanted[channel].append(mark)
        await b.publish(channel, {"mark": mark})
    for channel, marks_ in wanted.items():
        await wait_marks(a, channel, marks_, timeout=ctx.timeout, requirement="CONF-1")
    check_contiguous(a)


@case(
    id="ORDER-02",
    requirements=("DELIVERY-3", "DELIVERY-4"),
    title="one order per channel for every receiver; each publisher's order kept",
)
async def order_02(ctx: CaseContext) -> None:
    """Two publishers pipeline 15 publishes each on one channel without waiting for acks;
    three subscribers receive the 30 events in the same order [DELIVERY-3], and each
    publisher's events in its sending order [DELIVERY-4]."""
    channel = ctx.channel("race")
    subscribers = [await ctx.client(n) for n in "ABC"]
    for client in subscribers:
        await client.subscribe(channel)
    publishers = [await ctx.client(n) for n in ("P", "Q")]
    sent: dict[str, list[str]] = {p.name: [] for p in publishers}
    ids: list[tuple[str, str]] = []
    for _ in range(15):
        for publisher in publishers:
            mark = new_mark(ctx, publisher.name.lower())
            frame_id = publisher.next_id()
            sent[publisher.name].append(mark)
            ids.append((publisher.name, frame_id))
            await publisher.send(
                {"type": "publish", "id": frame_id, "channel": channel, "data": {"mark": mark}}
            )
    by_name = {p.name: p for p in publishers}
    for name, frame_id in ids:
        await by_name[name].expect("ack", id=frame_id, timeout=ctx.timeout, requirement="OPS-1")
    everything = [m for ms in sent.values() for m in ms]
    orders: dict[str, list[str]] = {}
    for client in subscribers:
        await wait_marks(client, channel, everything, timeout=ctx.timeout, requirement="CONF-1")
        received: list[Frame] = [
            f for f in client.received if f.get("type") == "event" and f.get("channel") == channel
        ]
        orders[client.name] = [str(m) for m in marks(received)]
    reference = orders["A"]
    for name, order in orders.items():
        if order != reference:
            at = next(i for i, (x, y) in enumerate(zip(order, reference, strict=False)) if x != y)
            raise CaseFailed(
                f"receivers disagree on the order of {channel}: at position {at} client A got "
                f"{reference[at]!r}, client {name} got {order[at]!r}",
                requirement="DELIVERY-3",
            )
    for name, marks_ in sent.items():
        mine = [m for m in reference if m in set(marks_)]
        if mine != marks_:
            raise CaseFailed(
                f"publisher {name}'s events arrived as {mine}, sent as {marks_}",
                requirement="DELIVERY-4",
            )


@case(
    id="ORDER-03",
    requirements=("OPS-2", "OPS-1", "TRANSPORT-11"),
    title="replies come in the order the frames were sent, one per frame",
)
async def order_03(ctx: CaseContext) -> None:
    """Ten subscribe/publish/unsubscribe frames sent back to back (two of them refused) are
    answered one reply each, in the same order [OPS-2]."""
    channel, other = ctx.channel("x"), ctx.channel("y")
    a = await ctx.client("A")
    frames: list[Frame] = [
        {"type": "subscribe", "id": "o1", "channel": channel},
        {"type": "publish", "id": "o2", "channel": channel, "data": {"mark": new_mark(ctx)}},
        {"type": "subscribe", "id": "o3", "channel": channel},
        {"type": "subscribe", "id": "o4", "channel": other},
        {"type": "publish", "id": "o5", "channel": other, "data": {"mark": new_mark(ctx)}},
        {"type": "unsubscribe", "id": "o6", "channel": channel},
        {"type": "unsubscribe", "id": "o7", "channel": channel},
        {"type": "publish", "id": "o8", "channel": channel, "data": {"mark": new_mark(ctx)}},
        {"type": "unsubscribe", "id": "o9", "channel": other},
        {"type": "publish", "id": "o10", "channel": other, "data": {"mark": new_mark(ctx)}},
    ]
    for frame in frames:
        await a.send(frame)
    replies: list[Frame] = []
    while len(replies) < len(frames):
        reply = await a.expect(
            timeout=ctx.timeout,
            requirement="OPS-1",
            where=lambda f: f.get("type") in ("ack", "error"),
        )
        replies.append(reply)
    order = [r.get("id") for r in replies]
    if order != [f["id"] for f in frames]:
        raise CaseFailed(f"replies came in the order {order}", requirement="OPS-2")
    refused = {r["id"]: r.get("code") for r in replies if r["type"] == "error"}
    if refused != {"o3": "already_subscribed", "o7": "not_subscribed"}:
        raise CaseFailed(
            f"expected exactly o3 already_subscribed and o7 not_subscribed, got errors {refused}",
            requirement="OPS-3" if refused.get("o3") != "already_subscribed" else "OPS-4",
        )
