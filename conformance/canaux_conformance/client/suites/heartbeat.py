"""Client cases: ping, pong and a silent server (spec heartbeat.md)."""

from __future__ import annotations

from canaux_conformance.client.cases import client_case
from canaux_conformance.client.context import ClientCaseContext
from canaux_conformance.outcomes import CaseFailed

_HEARTBEAT_MS = 1000
"""The smallest heartbeat a welcome may announce (frame.json): silence cases stay short."""


@client_case(
    id="CL-PING-01",
    requirements=("HEARTBEAT-2",),
    title="the client answers every ping with a pong carrying its nonce, or none",
)
async def cl_ping_01(ctx: ClientCaseContext) -> None:
    server = await ctx.server()
    adapter = await ctx.adapter()
    conn, _ = await ctx.welcomed(adapter, server, subscribe=[ctx.channel()], heartbeat_ms=5000)
    for nonce in ("n-1", None, "n-2"):
        await conn.send({"type": "ping"} if nonce is None else {"type": "ping", "nonce": nonce})
        # [HEARTBEAT-2] "promptly and in any case within heartbeat_ms"
        pong = await conn.next_or_none(timeout=5.0, types=("pong",))
        if pong is None:
            raise CaseFailed(
                f"no pong within heartbeat_ms (5000) for a ping with nonce {nonce!r}",
                requirement="HEARTBEAT-2",
            )
        # "The pong MUST carry the nonce of the ping when the ping had one, and MUST NOT carry
        # a nonce otherwise."
        if pong.get("nonce") != nonce or (nonce is None and "nonce" in pong.frame):
            raise CaseFailed(
                f"ping nonce {nonce!r} answered by {pong.text!r}", requirement="HEARTBEAT-2"
            )


@client_case(
    id="CL-HB-01",
    requirements=("HEARTBEAT-4",),
    level="SHOULD",
    title="a server silent for 2 x heartbeat_ms is dropped and the client resumes",
    timing=True,
)
async def cl_hb_01(ctx: ClientCaseContext) -> None:
    """The server stalls after the welcome (no frames, no pongs) with heartbeat_ms = 1000."""
    server = await ctx.server()
    adapter = await ctx.adapter()
    conn, welcome = await ctx.welcomed(
        adapter, server, subscribe=[ctx.channel()], heartbeat_ms=_HEARTBEAT_MS
    )
    conn.stall()
    silence = 2 * _HEARTBEAT_MS / 1000
    window = silence + ctx.backoff(adapter).bound(0) + ctx.timeout
    nxt = await server.accept_or_none(timeout=window)
    # [HEARTBEAT-4] "consider the server dead ... drop the connection ... and reconnect with a
    # resume request"
    if nxt is None:
        raise CaseFailed(
            f"the server was silent for {window:.1f}s (heartbeat_ms {_HEARTBEAT_MS}); the client "
            "neither dropped it nor reconnected",
            requirement="HEARTBEAT-4",
        )
    hello = await nxt.hello(timeout=ctx.timeout)
    resume = hello.get("resume")
    if not isinstance(resume, dict) or resume.get("session") != welcome["session"]:
        raise CaseFailed(
            f"after dropping a silent server the client sent {hello.text!r}, not a resume",
            requirement="HEARTBEAT-4",
        )


@client_case(
    id="CL-HB-02",
    requirements=("HEARTBEAT-8",),
    title="any frame from the server is a sign of life, not only a pong",
    timing=True,
)
async def cl_hb_02(ctx: ClientCaseContext) -> None:
    """heartbeat_ms = 1000; the server never answers a ping but sends an event every 250 ms
    for 3 s: the client must keep the connection (only a 2 s stall of the suite itself would
    look like silence)."""
    server = await ctx.server()
    adapter = await ctx.adapter()
    channel = ctx.channel()
    conn, _ = await ctx.welcomed(adapter, server, subscribe=[channel], heartbeat_ms=_HEARTBEAT_MS)
    conn.answer_pings = False
    for seq in range(1, 13):
        await conn.event(seq, channel, ctx.data())
        # Pace the events: the wait is the point of the case, bounded and not a synchronisation.
        if await conn.wait_closed(timeout=0.25) is not None:
            raise CaseFailed(
                f"the client dropped a server that sent an event every 0.25 s (heartbeat_ms "
                f"{_HEARTBEAT_MS}) after {seq} events, with close code {conn.close_code}",
                requirement="HEARTBEAT-8",
            )
    if server.connections[-1] is not conn:
        raise CaseFailed("the client opened another connection while the server was alive",
                         requirement="HEARTBEAT-8")  # fmt: skip
