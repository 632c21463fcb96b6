"""Client cases: what the client does when a connection ends (close code registry, CLIENT-1/4)."""

from __future__ import annotations

import asyncio
import random

from canaux_conformance.client.cases import client_case
from canaux_conformance.client.context import ClientCaseContext
from canaux_conformance.outcomes import CaseFailed

NO_RECONNECT = (1000, 1003, 1007, 1009, 4400, 4401, 4406, 4409, 4411)
"""The codes whose registry entry says "Reconnect: no" (spec/close-codes.md)."""

RECONNECT = (1001, 1011, 1013, 4408, 4410, 4503, 4999)
"""Codes after which the client reconnects with a resume request; 4999 stands for a code the
registry does not know ("reconnects as for yes")."""

_AT_ONCE = 3
"""Clients checked at once by CL-CLOSE-01."""

_MARGIN = 1.0
"""Seconds allowed on top of a backoff bound for the client's own scheduling and the loopback."""
_LATE = 2.0
"""Seconds a reconnection may come after its bound before CL-CLOSE-02 calls it late: an upper
bound on a shared, loaded machine (the distribution itself is the backoff cases' job)."""


@client_case(
    id="CL-CLOSE-01",
    requirements=("CLIENT-4",),
    title='after a close code marked "no" the client does not reconnect and reports the code',
    timeout=120.0,
)
async def cl_close_01(ctx: ClientCaseContext) -> None:
    """One fresh client per code of the registry whose "Reconnect" entry is "no", a few at a
    time (each mostly waits out the window in which a reconnection would come)."""
    gate = asyncio.Semaphore(_AT_ONCE)

    async def one(code: int) -> None:
        async with gate:
            await _no_reconnect(ctx, code)

    codes = list(NO_RECONNECT)
    if ctx.budget.name == "quick":
        # --quick: 1000 and two more codes drawn with the case's seed (all of them otherwise).
        codes = [1000, *random.Random(ctx.seed).sample(codes[1:], 2)]
    ctx.note(f"close codes checked: {codes}")
    await asyncio.gather(*(one(code) for code in codes))


async def _no_reconnect(ctx: ClientCaseContext, code: int) -> None:
    server = await ctx.server()
    adapter = await ctx.adapter()
    conn, _ = await ctx.welcomed(adapter, server, subscribe=[ctx.channel()])
    await conn.close(code, "conformance: no reconnect")
    closed = await adapter.observe(
        lambda m: m.kind == "state" and m.get("state") == "closed", timeout=ctx.timeout
    )
    # [CLIENT-4] "it reports the close code to the application instead"
    if closed is None or closed.get("code") != code:
        raise CaseFailed(
            f"after close code {code} the application was told "
            f"{closed.body if closed else 'nothing'} (expected state closed, code {code})",
            requirement="CLIENT-4",
        )
    # The first reconnection would come within the attempt-0 bound: wait that long.
    window = ctx.backoff(adapter).bound(0) + _MARGIN
    again = await server.accept_or_none(timeout=window)
    # [CLIENT-4] "MUST NOT reconnect automatically after a close code whose Reconnect entry
    # ... is no"
    if again is not None:
        raise CaseFailed(f"the client reconnected after close code {code}", requirement="CLIENT-4")


@client_case(
    id="CL-CLOSE-02",
    requirements=("CLIENT-1", "CLIENT-2", "RESUME-1"),
    title="after a drop or a reconnect code the client comes back within its backoff, resuming",
    timeout=120.0,
    timing=True,
)
async def cl_close_02(ctx: ClientCaseContext) -> None:
    """A cut, then each reconnect code in turn, each on the connection that resumed the last.
    None of these connections lives heartbeat_ms, so none proves healthy [CLIENT-11]: the k-th
    reconnection is attempt k, and its delay is bounded by min(cap, base x 2^k)."""
    server = await ctx.server()
    adapter = await ctx.adapter()
    channel = ctx.channel()
    conn, welcome = await ctx.welcomed(adapter, server, subscribe=[channel])
    session = welcome["session"]
    backoff = ctx.backoff(adapter)
    for seq, code in enumerate((None, *RECONNECT), start=1):
        bound = backoff.bound(seq - 1)
        data = ctx.data()
        await conn.event(seq, channel, data)
        await ctx.wait_delivered(adapter, data, requirement="CLIENT-9")
        if code is None:
            conn.cut()
        else:
            await conn.close(code, "conformance: come back")
        await conn.wait_closed(timeout=ctx.timeout)
        ended = conn.ended_at
        what = "a TCP cut" if code is None else f"close code {code}"
        nxt = await server.accept_or_none(timeout=bound + _LATE + ctx.timeout)
        if nxt is None:
            raise CaseFailed(f"the client did not reconnect after {what}", requirement="CLIENT-1")
        assert ended is not None
        delay = nxt.requested_at - ended
        # [CLIENT-1] attempt n waits at most min(cap, base x 2^n).
        if delay > bound + _LATE:
            raise CaseFailed(
                f"after {what} the client waited {delay:.3f}s; attempt {seq - 1} allows at most "
                f"{bound:.3f}s (+{_LATE:g}s for scheduling)",
                requirement="CLIENT-1",
            )
        hello = await nxt.hello(timeout=ctx.timeout)
        # [CLIENT-2] "MUST ask to resume its session with the highest seq it received"
        if hello.get("resume") != {"session": session, "seq": seq}:
            raise CaseFailed(
                f"after {what} the client's hello was {hello.text!r}; expected a resume of the "
                f"session at seq {seq}",
                requirement="CLIENT-2",
            )
        await nxt.welcome(session=session, resumed=True, seq=seq)
        await ctx.state(adapter, "connected")
        conn = nxt
