"""Legacy endpoint cases: ``/ws/chat`` and ``/api/ws`` keep working for old clients (legacy.md).

Skipped when the server has no legacy endpoints (they are the ``legacy`` profile). Frames
received there are checked against ``legacy.json#/$defs/server_frame`` and the channel's
``$defs/event``.
"""

from __future__ import annotations

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped
from canaux_conformance.wire import SUBPROTOCOL, Frame, HandshakeRefused, RawClient, encode

__all__ = [
    "leg_01_chat_reply",
    "leg_02_system_delivered",
    "leg_03_chat_reply_private",
    "leg_04_subprotocol",
    "leg_05_ping",
]


def _chat_url(ctx: CaseContext) -> str:
    if not ctx.target.legacy_chat_url:
        raise CaseSkipped("no legacy /ws/chat endpoint on this server")
    # [LEGACY-1] /ws/chat carries the chat channel: without one it has nothing to answer.
    ctx.require_channel("chat")
    return ctx.target.legacy_chat_url


async def _reply(client: RawClient, limit: float) -> list[Frame]:
    """The chat events answering one message: chunks then done (or error) [CHAT-1]."""
    events: list[Frame] = []
    while True:
        frame = await client.expect(
            where=lambda f: f.get("channel") == "chat", timeout=limit, requirement="LEGACY-1"
        )
        events.append(frame)
        if frame["data"].get("type") in ("done", "error"):
            return events


@case(
    id="LEG-01",
    requirements=("LEGACY-1", "LEGACY-2", "LEGACY-6", "CHAT-1"),
    profile="legacy",
    title="/ws/chat: a flat {message} gets the chat reply, chunks in order then done",
)
async def leg_01_chat_reply(ctx: CaseContext) -> None:
    client = await ctx.connect("legacy", url=_chat_url(ctx), subprotocols=None, legacy=True)
    await client.send({"message": f"Hello from the conformance run {ctx.run_id}"})
    events = await _reply(client, ctx.timeout * 2)
    chunks = [e["data"] for e in events if e["data"].get("type") == "chunk"]
    if [c.get("index") for c in chunks] != list(range(len(chunks))):
        raise CaseFailed(
            f"chunk indexes {[c.get('index') for c in chunks]} are not 0, 1, 2…",
            requirement="CHAT-1",
        )
    last = events[-1]["data"]
    if last.get("type") == "done" and last.get("chunks") != len(chunks):
        raise CaseFailed(f"done says {last.get('chunks')} chunks, {len(chunks)} were sent")
    # The connection stays usable: a second message gets a second complete reply, whose
    # request value differs from the first one's [LEGACY-6].
    await client.send({"channel": "chat", "data": {"type": "message", "text": "again"}})
    second = await _reply(client, ctx.timeout * 2)
    first_request, second_request = events[0]["data"]["request"], second[0]["data"]["request"]
    if first_request == second_request:
        raise CaseFailed(
            f"two legacy chat replies share the request value {first_request!r}",
            requirement="LEGACY-6",
        )


@case(
    id="LEG-02",
    requirements=("LEGACY-1", "HTTP-1"),
    profile="legacy",
    title="/api/ws delivers system events, as {channel, data} frames",
)
async def leg_02_system_delivered(ctx: CaseContext) -> None:
    if not ctx.target.legacy_system_url:
        raise CaseSkipped("no legacy /api/ws endpoint on this server")
    # [LEGACY-1] /api/ws carries system and progress: without system there is nothing to see.
    ctx.require_channel("system")
    client = await ctx.connect(
        "legacy", url=ctx.target.legacy_system_url, subprotocols=None, legacy=True
    )
    text = f"conformance legacy notice {ctx.run_id}"
    # A WebSocket opening is not a subscription ack: repeat the publish until the first lands,
    # so a server that registers the connection a moment after accepting it is not penalised.
    for attempt in range(3):
        response = await ctx.http_publish("system", {"level": "info", "text": text})
        if response.status_code != 202:
            raise CaseSkipped(f"HTTP publish answered {response.status_code}: cannot drive system")
        try:
            await client.expect(
                where=lambda f: f.get("channel") == "system" and f["data"].get("text") == text,
                timeout=ctx.timeout if attempt == 2 else 1.0,
                requirement="LEGACY-1",
            )
            return
        except CaseFailed:
            if attempt == 2:
                raise


@case(
    id="LEG-03",
    requirements=("LEGACY-1", "CHAT-2", "SECURITY-3"),
    profile="legacy",
    title="/ws/chat: the reply goes only to the connection that asked",
)
async def leg_03_chat_reply_private(ctx: CaseContext) -> None:
    url = _chat_url(ctx)
    asking = await ctx.connect("asking", url=url, subprotocols=None, legacy=True)
    other = await ctx.connect("other", url=url, subprotocols=None, legacy=True)
    await asking.send({"message": "private question"})
    await _reply(asking, ctx.timeout * 2)
    # The other connection asks too, after the first reply is complete; anything it receives
    # before its own reply's first event leaked from the first connection.
    await other.send({"message": "second question"})
    events = await _reply(other, ctx.timeout * 2)
    leaked = [f for f in other.received if f not in events and f.get("channel") == "chat"]
    if leaked:
        raise CaseFailed(f"another connection received {encode(leaked[0])}", requirement="CHAT-2")


@case(
    id="LEG-04",
    requirements=("LEGACY-4",),
    profile="legacy",
    title="legacy endpoints accept connections with or without a subprotocol, never canaux.v1",
)
async def leg_04_subprotocol(ctx: CaseContext) -> None:
    urls = [u for u in (ctx.target.legacy_chat_url, ctx.target.legacy_system_url) if u]
    if not urls:
        raise CaseSkipped("no legacy endpoint on this server")
    for url in urls:
        for offered in (None, (SUBPROTOCOL,)):
            try:
                client = await ctx.connect("legacy", url=url, subprotocols=offered, legacy=True)
            except HandshakeRefused as refused:
                raise CaseFailed(f"{url} refused a client offering {offered}: {refused}") from None
            if client.subprotocol == SUBPROTOCOL:
                raise CaseFailed(f"{url} selected {SUBPROTOCOL}; a legacy endpoint must not")
            await client.close()


@case(
    id="LEG-05",
    requirements=("LEGACY-7",),
    profile="legacy",
    title='legacy endpoints answer {"type": "ping"} with {"type": "pong"}',
)
async def leg_05_ping(ctx: CaseContext) -> None:
    urls = [u for u in (ctx.target.legacy_chat_url, ctx.target.legacy_system_url) if u]
    if not urls:
        raise CaseSkipped("no legacy endpoint on this server")
    for url in urls:
        client = await ctx.connect("legacy", url=url, subprotocols=None, legacy=True)
        await client.send({"type": "ping"})
        pong = await client.expect("pong", requirement="LEGACY-7", what=f"pong on {url}")
        if pong != {"type": "pong"}:
            raise CaseFailed(
                f'{url} answered {encode(pong)}; LEGACY-7 says {{"type": "pong"}}',
                requirement="LEGACY-7",
            )
        await client.close()
