"""Closing a connection: a registered code, and nothing acted on after the decision
(transport.md)."""

from __future__ import annotations

from websockets.exceptions import ConnectionClosed

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.suites._delivery import barrier, new_mark
from canaux_conformance.wire import encode

__all__: list[str] = []


@case(
    id="CLOSE-01",
    requirements=("TRANSPORT-16", "TRANSPORT-14", "HANDSHAKE-6"),
    title="a publish right behind a second hello is not acted on; the close code is 4409",
)
async def close_01(ctx: CaseContext) -> None:
    """A sends a second hello and, right behind it, a publish on a channel B watches: A is
    closed with 4409, a registered code, and B receives nothing of the publish
    [TRANSPORT-16, TRANSPORT-14, HANDSHAKE-6]."""
    channel = ctx.channel("after-close")
    a, b = await ctx.client("A"), await ctx.client("B")
    await b.subscribe(channel)
    mark = new_mark(ctx, "after")
    hello: dict[str, object] = {"type": "hello", "version": 1}
    if ctx.target.token:
        hello["token"] = ctx.target.token
    frame = {"type": "publish", "id": a.next_id(), "channel": channel, "data": {"mark": mark}}
    await a.send(hello)
    try:
        await a.send(frame)
    except ConnectionClosed:  # the server may already have closed: that is allowed
        ctx.note("the publish behind the second hello could not be sent: already closed")
    code = await a.expect_close(requirement="HANDSHAKE-6")
    if code != 4409:
        raise CaseFailed(
            f"a second hello was closed with {code}, not 4409", requirement="HANDSHAKE-6"
        )
    before = await barrier(ctx, b, channel)
    acted = [f for f in before if isinstance(f.get("data"), dict) and f["data"].get("mark") == mark]
    if acted:
        raise CaseFailed(
            f"the publish sent after the frame that closed the connection was applied: "
            f"{encode(acted[0])}",
            requirement="TRANSPORT-16",
        )
