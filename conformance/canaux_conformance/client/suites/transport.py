"""Client cases: malformed server messages (spec transport.md)."""

from __future__ import annotations

from canaux_conformance.client.adapter import Adapter
from canaux_conformance.client.cases import client_case
from canaux_conformance.client.context import ClientCaseContext
from canaux_conformance.client.scripted_server import ScriptedServer
from canaux_conformance.outcomes import CaseFailed

_MARGIN = 1.0


async def _no_reconnect(
    ctx: ClientCaseContext, adapter: Adapter, server: ScriptedServer, what: str
) -> None:
    """[CLIENT-4] "This holds whoever sent the close": a "no" code the client sent itself."""
    window = ctx.backoff(adapter).bound(0) + _MARGIN
    if await server.accept_or_none(timeout=window) is not None:
        raise CaseFailed(f"the client reconnected after {what}", requirement="CLIENT-4")


@client_case(
    id="CL-TRANS-01",
    requirements=("TRANSPORT-4", "TRANSPORT-14", "CLIENT-4"),
    title="a binary message is closed with 1003",
)
async def cl_trans_01(ctx: ClientCaseContext) -> None:
    server = await ctx.server()
    adapter = await ctx.adapter()
    conn, _ = await ctx.welcomed(adapter, server, subscribe=[ctx.channel()])
    await conn.send_binary(b'{"type":"ping"}')
    code = await conn.wait_closed(timeout=ctx.timeout)
    # [TRANSPORT-4] "A peer that receives a binary message MUST close the connection with
    # close code 1003."
    if code != 1003:
        shown = "kept the connection open" if code is None else f"closed with {code}"
        raise CaseFailed(f"after a binary message the client {shown}", requirement="TRANSPORT-4")
    await _no_reconnect(ctx, adapter, server, "its own close with 1003")


@client_case(
    id="CL-TRANS-02",
    requirements=("TRANSPORT-5", "TRANSPORT-16", "CLIENT-4"),
    title="a text message that is not a JSON object is closed with 1007",
)
async def cl_trans_02(ctx: ClientCaseContext) -> None:
    server = await ctx.server()
    adapter = await ctx.adapter()
    channel = ctx.channel()
    conn, _ = await ctx.welcomed(adapter, server, subscribe=[channel])
    await conn.send_text("{not json")
    # [TRANSPORT-16] "MUST NOT act on frames it receives afterwards"
    await conn.event(1, channel, ctx.data("after"))
    code = await conn.wait_closed(timeout=ctx.timeout)
    # [TRANSPORT-5] "MUST close the connection with close code 1007"
    if code != 1007:
        shown = "kept the connection open" if code is None else f"closed with {code}"
        raise CaseFailed(f"after garbage text the client {shown}", requirement="TRANSPORT-5")
    if ctx.delivered(adapter):
        raise CaseFailed(
            f"the client closed on garbage text, then handed the application "
            f"{ctx.delivered(adapter)}",
            requirement="TRANSPORT-16",
        )
    await _no_reconnect(ctx, adapter, server, "its own close with 1007")
