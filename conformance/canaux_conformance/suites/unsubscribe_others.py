"""One session's unsubscribe is its own: the channel's other subscribers keep it (operations.md).

An unsubscribe changes the subscriptions of the session that sent it [OPS-6]; every other
session subscribed to the channel still receives each of its events [CONF-1]. A server that
keeps one subscriber list per channel, or releases the channel at its broker, when the first
subscriber leaves silently cuts everyone else off.
"""

from __future__ import annotations

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.suites._delivery import new_mark, wait_marks
from canaux_conformance.wire import RawClient

__all__: list[str] = []


async def _receives(
    ctx: CaseContext, client: RawClient, channel: str, publisher: RawClient, *, after: str
) -> None:
    mark = new_mark(ctx, client.name.lower())
    await publisher.publish(channel, {"mark": mark})
    try:
        await wait_marks(client, channel, [mark], timeout=ctx.timeout, requirement="CONF-1")
    except CaseFailed as failure:
        raise CaseFailed(
            f"client {client.name}, still subscribed to {channel}, no longer receives it "
            f"after {after}: " + failure.message,
            requirement="CONF-1",
        ) from failure


@case(
    id="UNSUB-01",
    requirements=("CONF-1", "OPS-6"),
    title="one session's unsubscribe leaves the channel's other subscribers subscribed",
)
async def unsub_01(ctx: CaseContext) -> None:
    """A and B subscribe to X; A unsubscribes: a publish on X still reaches B. A subscribes
    again and B unsubscribes: the next one reaches A. B leaves too, so nobody here is
    subscribed; A subscribes once more: the next publish reaches A [CONF-1, OPS-6]."""
    x = ctx.channel("x")
    a, b, p = await ctx.client("A"), await ctx.client("B"), await ctx.client("P")
    await a.subscribe(x)
    await b.subscribe(x)
    await a.unsubscribe(x)
    await _receives(ctx, b, x, p, after="A unsubscribed")
    await a.subscribe(x)
    await b.unsubscribe(x)
    await _receives(ctx, a, x, p, after="B unsubscribed")
    await a.unsubscribe(x)
    await a.subscribe(x)
    await _receives(ctx, a, x, p, after="every subscriber had left and A subscribed again")
