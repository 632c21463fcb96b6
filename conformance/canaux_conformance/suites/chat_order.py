"""A chat request's ack comes before its reply, and the reply reaches no bystander
(standard-channels.md, chat)."""

from __future__ import annotations

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.suites._delivery import barrier
from canaux_conformance.wire import encode

__all__: list[str] = []


@case(
    id="CHAT-ACK-01",
    requirements=("CHAT-4", "CHAT-2"),
    profile="chat",
    title="the ack of a chat message comes before any event of its reply",
)
async def chat_ack_01(ctx: CaseContext) -> None:
    """A (subscribed to chat) sends a message while a bystander session B is connected: on
    A's connection the ack comes before the first reply event [CHAT-4]; B, which the case does
    not watch for chat, is left to the stream audit [CHAT-2]."""
    ctx.require_channel("chat")
    own = ctx.channel("own")
    a, b = await ctx.client("A"), await ctx.client("B")
    await a.subscribe("chat")
    await b.subscribe(own)
    request = a.next_id("chat")
    await a.send(
        {
            "type": "publish",
            "id": request,
            "channel": "chat",
            "data": {"type": "message", "text": "Is the ack first?"},
        }
    )
    end = await a.expect(
        "event",
        channel="chat",
        timeout=ctx.timeout * 4,
        requirement="CHAT-1",
        where=lambda f: (
            isinstance(f.get("data"), dict)
            and f["data"].get("request") == request
            and f["data"].get("type") in ("done", "error")
        ),
    )
    ctx.note(f"A's request {request} ended with {encode(end['data'])}")
    order = [
        "ack" if f.get("type") == "ack" else "reply"
        for f in a.received
        if (f.get("type") in ("ack", "error") and f.get("id") == request)
        or (isinstance(f.get("data"), dict) and f["data"].get("request") == request)
    ]
    if not order or order[0] != "ack":
        raise CaseFailed(
            f"on A's connection the reply came before the ack: {order[:4]}", requirement="CHAT-4"
        )
    await barrier(ctx, b, own)
