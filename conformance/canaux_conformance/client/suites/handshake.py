"""Client cases: the opening handshake and hello (spec transport.md, handshake.md)."""

from __future__ import annotations

from canaux_conformance.client.cases import client_case
from canaux_conformance.client.context import ClientCaseContext
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.wire import SUBPROTOCOL

_QUIET = 0.5
"""Seconds the server waits before its welcome, watching for frames the client must not send."""


@client_case(
    id="CL-HS-01",
    requirements=("TRANSPORT-1", "HANDSHAKE-1", "HANDSHAKE-11", "OPS-12"),
    title="the client offers canaux.v1, sends hello first, then nothing until welcome",
)
async def cl_hs_01(ctx: ClientCaseContext) -> None:
    """The application subscribes and publishes before the welcome comes: the client must hold
    both back until then, and send them afterwards."""
    server = await ctx.server()
    adapter = await ctx.adapter()
    channel = ctx.channel()
    conn = await ctx.connect(adapter, server, subscribe=[channel])
    # [TRANSPORT-1] "MUST offer the subprotocol canaux.v1"
    if SUBPROTOCOL not in conn.offered:
        raise CaseFailed(
            f"the client offered {list(conn.offered)}, not {SUBPROTOCOL!r}",
            requirement="TRANSPORT-1",
        )
    hello = await conn.hello(timeout=ctx.timeout)
    problem = conn.frame_problem(hello)
    if problem:
        raise CaseFailed(f"invalid hello {hello.text!r}: {problem}", requirement="OPS-12")
    data = ctx.data()
    publish = await adapter.send("publish", channel=channel, data=data)
    # [HANDSHAKE-11] "MUST NOT send any other frame until it has received welcome"
    early = await conn.next_or_none(timeout=_QUIET)
    if early is not None:
        raise CaseFailed(
            f"the client sent {early.text!r} before the welcome", requirement="HANDSHAKE-11"
        )
    await conn.welcome()
    await ctx.ack_subscriptions(conn, 1)
    sent = await conn.next(timeout=ctx.timeout, types=("publish",))
    problem = conn.frame_problem(sent)
    if problem:
        raise CaseFailed(f"invalid publish {sent.text!r}: {problem}", requirement="OPS-12")
    await conn.ack(str(sent.get("id")))
    outcome = await ctx.outcome(adapter, publish, requirement="CLIENT-7")
    if outcome.kind != "ack":
        raise CaseFailed(
            f"the server acked the publish, the application saw {outcome.body!r}",
            requirement="CLIENT-7",
        )


@client_case(
    id="CL-HS-02",
    requirements=("TRANSPORT-8",),
    title="a handshake response without canaux.v1 is closed with 1002",
)
async def cl_hs_02(ctx: ClientCaseContext) -> None:
    """The server accepts the WebSocket without selecting the subprotocol."""
    server = await ctx.server(select_subprotocol=False)
    adapter = await ctx.adapter()
    conn = await ctx.connect(adapter, server, subscribe=[ctx.channel()])
    code = await conn.wait_closed(timeout=ctx.timeout)
    # [TRANSPORT-8] "MUST close the connection with close code 1002"
    if code != 1002:
        shown = "kept it open" if code is None else f"closed it with {code}"
        raise CaseFailed(
            f"the server selected no subprotocol; the client {shown}, not 1002",
            requirement="TRANSPORT-8",
        )
    hello = [f for f in conn.received if f.type is not None]
    if hello:
        raise CaseFailed(
            f"the client sent {hello[0].text!r} on a connection without canaux.v1",
            requirement="TRANSPORT-8",
        )


@client_case(
    id="CL-HS-03",
    requirements=("CLIENT-14",),
    title="an event before welcome is never delivered: the client closes with 1002",
)
async def cl_hs_03(ctx: ClientCaseContext) -> None:
    """The server answers hello with an event instead of a welcome: the application must not
    see it, and the client must close that connection with 1002."""
    server = await ctx.server()
    adapter = await ctx.adapter()
    channel = ctx.channel()
    conn = await ctx.connect(adapter, server, subscribe=[channel])
    await conn.hello(timeout=ctx.timeout)
    data = ctx.data()
    await conn.event(1, channel, data)
    # [CLIENT-14] "MUST NOT hand the application any frame other than welcome that arrives
    # ... before its welcome"; "On a frame other than welcome or ping before welcome it MUST
    # close the connection with 1002" (a ping before welcome it MAY answer: not checked here).
    found = await adapter.observe(lambda m: m.kind == "event", timeout=_QUIET)
    if found is not None:
        raise CaseFailed(
            f"an event sent before welcome reached the application: {found.get('data')!r}",
            requirement="CLIENT-14",
        )
    code = await conn.wait_closed(timeout=ctx.timeout)
    if code != 1002:
        shown = "kept the connection open" if code is None else f"closed with {code}"
        raise CaseFailed(
            f"after an event before welcome the client {shown}, not 1002",
            requirement="CLIENT-14",
        )
