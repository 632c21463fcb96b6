"""Client cases: server messages the WebSocket layer fragmented (spec transport.md TRANSPORT-24).

RFC 6455 lets a sender split one message into a first text frame and continuation frames; a
server's WebSocket library or a proxy may do so at will. Every other client case sends each
message in one WebSocket frame; the server's side is FRAG-01.
"""

from __future__ import annotations

from canaux_conformance.client.cases import client_case
from canaux_conformance.client.context import ClientCaseContext
from canaux_conformance.client.scripted_server import ScriptedConnection
from canaux_conformance.outcomes import CaseFailed

__all__ = ["cl_frag_01"]

FRAGMENTS = 3
"""Pieces each of the case's messages is cut into (websockets ends each message with an empty
continuation frame: four WebSocket frames)."""
_TEXT = "é🧩" * 60
"""Multi-byte characters only: every cut of the event falls inside a character."""


@client_case(
    id="CL-FRAG-01",
    requirements=("TRANSPORT-24",),
    title="a welcome, an ack and an event each sent in three WebSocket fragments are handled "
    "as the frames they reassemble to",
)
async def cl_frag_01(ctx: ClientCaseContext) -> None:
    """The welcome and the subscription's ack come in three fragments each: the client
    subscribes and reaches ``connected``. Then an event whose data is multi-byte characters
    comes in three fragments cut inside characters: the application gets its data whole
    [TRANSPORT-24] "handle it exactly as the one frame it reassembles to"."""
    server = await ctx.server()
    adapter = await ctx.adapter()
    channel = ctx.channel("frag")
    conn = await ctx.connect(adapter, server, subscribe=[channel])
    await conn.hello(timeout=ctx.timeout)
    await conn.welcome(fragments=FRAGMENTS)
    subscribe = await conn.next_or_none(timeout=ctx.timeout, types=("subscribe",))
    if subscribe is None:
        raise CaseFailed(
            f"after a welcome sent in {FRAGMENTS} fragments the client sent no subscribe and "
            f"{await _did(conn)}",
            requirement="TRANSPORT-24",
        )
    await conn.send({"type": "ack", "id": str(subscribe.get("id"))}, fragments=FRAGMENTS)
    connected = await adapter.observe(
        lambda m: m.kind == "state" and m.get("state") == "connected", timeout=ctx.timeout
    )
    if connected is None:
        raise CaseFailed(
            f"after a welcome sent in {FRAGMENTS} fragments the application was never told "
            f"'connected'; the client {await _did(conn)}",
            requirement="TRANSPORT-24",
        )
    data = {**ctx.data("frag"), "text": _TEXT}
    await conn.event(1, channel, data, fragments=FRAGMENTS)
    found = await adapter.observe(
        lambda m: m.kind == "event" and m.get("channel") == channel, timeout=ctx.timeout
    )
    if found is None:
        raise CaseFailed(
            f"an event sent in {FRAGMENTS} fragments never reached the application; the "
            f"client {await _did(conn)}",
            requirement="TRANSPORT-24",
        )
    if found.get("data") != data:
        raise CaseFailed(
            f"an event sent in {FRAGMENTS} fragments reached the application with the data "
            f"{str(found.get('data'))[:200]!r}, not {data!r}",
            requirement="TRANSPORT-24",
        )


async def _did(conn: ScriptedConnection) -> str:
    """What the client did with the connection, for a failure's message."""
    code = await conn.wait_closed(timeout=0.1)
    return "kept the connection open" if code is None else f"closed the connection with {code}"
