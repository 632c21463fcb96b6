"""Chat streaming: correlated chunks, then exactly one end, to the requester only
(standard-channels.md, chat).

Privacy (CHAT-2 against other sessions) is checked by ISO-04 in
:mod:`canaux_conformance.suites.isolation`.
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.

from __future__ import annotations

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.suites._delivery import barrier, events
from canaux_conformance.wire import Frame, RawClient, encode

__all__ = ["chat_01", "chat_02", "check_stream"]


def check_stream(request: str, frames: list[Frame]) -> None:
    """One chat request's events: chunks 0, 1, 2 … then one done/error, nothing after [CHAT-1]."""
    datas = [f["data"] for f in frames if isinstance(f.get("data"), dict)]
    ends = [i for i, d in enumerate(datas) if d.get("type") in ("done", "error")]
    if len(ends) != 1:
        raise CaseFailed(
            f"request {request}: {len(ends)} done/error events; exactly one must end the stream",
            requirement="CHAT-1",
        )
    if ends[0] != len(datas) - 1:
        raise CaseFailed(
            f"request {request}: {encode(datas[ends[0] + 1])} came after the end of the stream",
            requirement="CHAT-1",
        )
    chunks = datas[:-1]
    indices = [d.get("index") for d in chunks]
    if indices != list(range(len(chunks))) or any(d.get("type") != "chunk" for d in chunks):
        raise CaseFailed(
            f"request {request}: chunk indices {indices}; they must run 0, 1, 2 … with no gap",
            requirement="CHAT-1",
        )
    end = datas[-1]
    if end.get("type") == "done" and end.get("chunks") != len(chunks):
        raise CaseFailed(
            f"request {request}: done says chunks={end.get('chunks')}, {len(chunks)} were sent",
            requirement="CHAT-1",
        )


async def _stream(ctx: CaseContext, client: RawClient, request: str) -> list[Frame]:
    """Wait for the end of ``request``'s stream; return its events in arrival order."""
    await client.expect(
        "event",
        channel="chat",
        timeout=ctx.timeout * 6,
        requirement="CHAT-1",
        where=lambda f: (
            isinstance(f.get("data"), dict)
            and f["data"].get("request") == request
            and f["data"].get("type") in ("done", "error")
        ),
    )
    return [
        f
        for f in events(client, "chat")
        if isinstance(f.get("data"), dict) and f["data"].get("request") == request
    ]


@case(
    id="CHAT-01",
    requirements=("CHAT-1", "CHAT-2"),
    profile="chat",
    title="a chat message streams chunks 0, 1, 2 … then one done, to the unsubscribed requester",
)
async def chat_01(ctx: CaseContext) -> None:
    """A, not subscribed to chat, sends a message: ack, then chunk events with index 0..n-1
    and ``request`` = the publish id, then one ``done`` with chunks = n; nothing after
    [CHAT-1, CHAT-2]."""
    ctx.require_channel("chat")
    a = await ctx.client("A")
    own = ctx.channel("own")
    await a.subscribe(own)
    request = "chat-1"
    await a.publish("chat", {"type": "message", "text": "Tell me about this queue."}, id=request)
    stream = await _stream(ctx, a, request)
    before = await barrier(ctx, a, own)
    stream = [
        f for f in before if f.get("channel") == "chat" and f["data"].get("request") == request
    ]
    check_stream(request, stream)
    strays = [
        f for f in before if f.get("channel") == "chat" and f["data"].get("request") != request
    ]
    if strays:
        raise CaseFailed(
            f"an event of another request reached A: {encode(strays[0])}", requirement="CHAT-2"
        )


@case(
    id="CHAT-02",
    requirements=("CHAT-3", "CHAT-1"),
    profile="chat",
    title="concurrent requests of one session are told apart by request",
)
async def chat_02(ctx: CaseContext) -> None:
    """A sends three messages back to back; each stream is complete and well-formed on its
    own, correlated by ``request`` [CHAT-3]."""
    ctx.require_channel("chat")
    a = await ctx.client("A")
    requests = ["q-1", "q-2", "q-3"]
    texts = ["first question", "a second, longer question about the play queue", "third"]
    for request, text in zip(requests, texts, strict=True):
        await a.send(
            {
                "type": "publish",
                "id": request,
                "channel": "chat",
                "data": {"type": "message", "text": text},
            }
        )
    for request in requests:
        await a.expect("ack", id=request, timeout=ctx.timeout, requirement="OPS-1")
    for request in requests:
        check_stream(request, await _stream(ctx, a, request))
    unknown = [
        f
        for f in events(a, "chat")
        if isinstance(f.get("data"), dict) and f["data"].get("request") not in requests
    ]
    if unknown:
        raise CaseFailed(
            f"a chat event names a request A never made: {encode(unknown[0])}",
            requirement="CHAT-3",
        )
