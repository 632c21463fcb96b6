"""Client cases: what the application is given of the event stream (spec delivery.md, client.md)."""

from __future__ import annotations

from typing import Any

from canaux_conformance.client.adapter import Adapter
from canaux_conformance.client.cases import client_case
from canaux_conformance.client.context import ClientCaseContext
from canaux_conformance.outcomes import CaseFailed

_BIG_FRAME = 1_048_576
"""[TRANSPORT-13] the frame size every client accepts."""


async def _flush(ctx: ClientCaseContext, adapter: Adapter, conn: Any, seq: int, ch: str) -> Any:
    """Send one more event and wait for it: everything sent before it has been handled."""
    marker = ctx.data("end")
    await conn.event(seq, ch, marker)
    await ctx.wait_delivered(adapter, marker, requirement="CLIENT-9")
    return marker


@client_case(
    id="CL-DELIV-01",
    requirements=("CLIENT-9", "TRANSPORT-11"),
    title="events reach the application once each, in seq order, on their own channel",
)
async def cl_deliv_01(ctx: ClientCaseContext) -> None:
    server = await ctx.server()
    adapter = await ctx.adapter()
    a, b = ctx.channel("a"), ctx.channel("b")
    conn, _ = await ctx.welcomed(adapter, server, subscribe=[a, b])
    sent: list[tuple[str, Any]] = [((a, b)[i % 3 == 0], ctx.data()) for i in range(8)]
    for seq, (channel, data) in enumerate(sent, start=1):
        await conn.event(seq, channel, data)
    marker = await _flush(ctx, adapter, conn, len(sent) + 1, a)
    seen = [(m.get("channel"), m.get("data")) for m in adapter.of_kind("event")]
    # [CLIENT-9] "MUST pass events to the application in seq order"
    if seen != [*sent, (a, marker)]:
        raise CaseFailed(
            f"the server sent {sent} (then the marker); the application saw {seen}",
            requirement="CLIENT-9",
        )


@client_case(
    id="CL-DUP-01",
    requirements=("CLIENT-3",),
    title="an event with a seq already received is dropped",
)
async def cl_dup_01(ctx: ClientCaseContext) -> None:
    """seq 1, 2, 2, 1, 3: the repeated seqs carry new data, which the application must not see."""
    server = await ctx.server()
    adapter = await ctx.adapter()
    channel = ctx.channel()
    conn, _ = await ctx.welcomed(adapter, server, subscribe=[channel])
    first, second, dup2, dup1, third = (ctx.data() for _ in range(5))
    for seq, data in ((1, first), (2, second), (2, dup2), (1, dup1), (3, third)):
        await conn.event(seq, channel, data)
    await _flush(ctx, adapter, conn, 4, channel)
    seen = ctx.delivered(adapter, channel)[:-1]
    # [CLIENT-3] "MUST drop, without passing it to the application, an event whose seq is less
    # than or equal to the last seq it received"
    if seen != [first, second, third]:
        raise CaseFailed(
            f"events seq 1, 2, 2, 1, 3: the application saw {seen}", requirement="CLIENT-3"
        )


@client_case(
    id="CL-BIG-01",
    requirements=("TRANSPORT-13",),
    title="the client accepts a server frame of 1 048 576 bytes",
)
async def cl_big_01(ctx: ClientCaseContext) -> None:
    server = await ctx.server()
    adapter = await ctx.adapter()
    channel = ctx.channel()
    conn, _ = await ctx.welcomed(adapter, server, subscribe=[channel])
    frame_head = f'{{"type":"event","seq":1,"channel":"{channel}","data":{{"mark":"big","pad":"'
    pad = "x" * (_BIG_FRAME - len(frame_head) - len('"}}'))
    text = frame_head + pad + '"}}'
    assert len(text.encode()) == _BIG_FRAME
    await conn.send_text(text)
    found = await adapter.observe(
        lambda m: (
            m.kind == "event"
            and isinstance(m.get("data"), dict)
            and m.get("data", {}).get("mark") == "big"
        ),
        timeout=ctx.timeout * 2,
    )
    # [TRANSPORT-13] "MUST accept server frames of up to 1 048 576 bytes"
    if found is None or found.get("data", {}).get("pad") != pad:
        code = await conn.wait_closed(timeout=0.1)
        why = f" (it closed the connection with {code})" if code is not None else ""
        raise CaseFailed(
            f"a 1 048 576-byte event never reached the application{why}",
            requirement="TRANSPORT-13",
        )


@client_case(
    id="CL-ORDER-01",
    requirements=("OPS-7",),
    title="a publish's own event may come before its ack",
)
async def cl_order_01(ctx: ClientCaseContext) -> None:
    """The server delivers the publisher's own event first, then the ack: the application gets
    both (clients MUST NOT depend on their order)."""
    server = await ctx.server()
    adapter = await ctx.adapter()
    channel = ctx.channel()
    conn, _ = await ctx.welcomed(adapter, server, subscribe=[channel])
    data = ctx.data()
    n = await adapter.send("publish", channel=channel, data=data)
    frame = await conn.next(timeout=ctx.timeout, types=("publish",))
    await conn.event(1, channel, frame.get("data"))
    await conn.ack(str(frame.get("id")))
    # [OPS-7] "The relative order of the ack and the publisher's own event is not specified,
    # and clients MUST NOT depend on it."
    await ctx.wait_delivered(adapter, data, requirement="OPS-7")
    outcome = await ctx.outcome(adapter, n, requirement="OPS-7")
    if outcome.kind != "ack":
        raise CaseFailed(
            f"the event came before the ack; the application saw {outcome.body!r}",
            requirement="OPS-7",
        )


@client_case(
    id="CL-BIG-02",
    requirements=("CLIENT-4", "TRANSPORT-14"),
    title="a frame over 1 048 576 bytes: delivered, or closed with 1009 and no reconnection",
)
async def cl_big_02(ctx: ClientCaseContext) -> None:
    """A client may refuse a frame larger than the spec makes it accept; if it closes, it uses
    the registry's code for it and, as for every "no" code, does not come back."""
    server = await ctx.server()
    adapter = await ctx.adapter()
    channel = ctx.channel()
    conn, _ = await ctx.welcomed(adapter, server, subscribe=[channel])
    pad = "z" * (_BIG_FRAME + 4096)
    await conn.event(1, channel, {"mark": "huge", "pad": pad})
    found = await adapter.observe(
        lambda m: m.kind == "event" and (m.get("data") or {}).get("mark") == "huge",
        timeout=ctx.timeout,
    )
    if found is not None:
        return  # delivered: nothing more is asked of it
    code = await conn.wait_closed(timeout=ctx.timeout)
    if code is None:
        return  # kept the connection without delivering: no requirement says more
    # [TRANSPORT-14] the registry's code for a frame too big is 1009.
    if code != 1009:
        raise CaseFailed(
            f"the client refused a {len(pad)}-byte event by closing with {code}, not 1009",
            requirement="TRANSPORT-14",
        )
    window = ctx.backoff(adapter).bound(0) + 1.0
    if await server.accept_or_none(timeout=window) is not None:
        raise CaseFailed(
            "the client closed with 1009 (Reconnect: no) and reconnected", requirement="CLIENT-4"
        )
