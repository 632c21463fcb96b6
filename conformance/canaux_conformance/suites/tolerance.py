"""What a server lets pass without a word: a pong nobody asked for (heartbeat.md)."""

from __future__ import annotations

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.suites._delivery import new_mark, wait_marks
from canaux_conformance.wire import encode

__all__: list[str] = []


@case(
    id="TOL-01",
    requirements=("HEARTBEAT-7",),
    title="a pong that answers no ping is ignored: no error, no close, the session goes on",
)
async def tol_01(ctx: CaseContext) -> None:
    """A sends a pong with an unknown nonce and a pong without nonce, then publishes on its
    own channel: the only frames back are the ack and the event, and the connection stays
    open [HEARTBEAT-7]."""
    channel = ctx.channel("pong")
    a = await ctx.client("A")
    await a.subscribe(channel)
    await a.send({"type": "pong", "nonce": f"never-asked-{ctx.run_id}"})
    await a.send({"type": "pong"})
    mark = new_mark(ctx)
    await a.publish(channel, {"mark": mark})
    await wait_marks(a, channel, [mark], timeout=ctx.timeout, requirement="HEARTBEAT-7")
    stray = [f for f in a.received if f.get("type") == "error"]
    if stray:
        raise CaseFailed(
            f"an unsolicited pong was answered with {encode(stray[0])}; it must be ignored",
            requirement="HEARTBEAT-7",
        )
    if a.closed:
        raise CaseFailed(
            f"the connection closed ({a.close_code}) after an unsolicited pong",
            requirement="HEARTBEAT-7",
        )
