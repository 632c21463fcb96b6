"""Client cases: SSE clients (spec §13 "Server-Sent Events binding", issue 12 item 7).

The suite serves the SSE binding itself (:mod:`canaux_conformance.client.sse_server`) and asks
the adapter for a read-only stream with the optional ``sse`` command; an adapter without one
answers ``unsupported`` and the cases are skipped as not applicable.
"""

from __future__ import annotations

from typing import Any

from canaux_conformance.client.cases import client_case
from canaux_conformance.client.context import ClientCaseContext
from canaux_conformance.client.scripted_server import (
    CONFORMANCE_SCHEMA,
    DEFAULT_LIMITS,
    new_session_id,
)
from canaux_conformance.client.sse_server import ScriptedSSEServer, SSEStream
from canaux_conformance.outcomes import CaseFailed, CaseSkipped

_BACKOFF = {"base_ms": 20, "cap_ms": 200}
_HEARTBEAT_MS = 1000


def _welcome(session: str, *, resumed: bool, seq: int) -> dict[str, Any]:
    return {
        "type": "welcome",
        "version": 1,
        "session": session,
        "resumed": resumed,
        "seq": seq,
        "heartbeat_ms": _HEARTBEAT_MS,
        "limits": dict(DEFAULT_LIMITS),
        "channels": [{"name": "conformance.*", "publish": "client", "schema": CONFORMANCE_SCHEMA}],
    }


async def _open(ctx: ClientCaseContext, channel: str) -> tuple[Any, ScriptedSSEServer]:
    server = await ScriptedSSEServer(ctx.transcript).start()
    adapter = await ctx.adapter()
    done = await adapter.send("sse", url=server.url, channels=[channel], token=None,
                              backoff=_BACKOFF)  # fmt: skip
    answer = await adapter.wait_for(
        lambda m: m.kind == "done" and m.get("n") == done, timeout=ctx.timeout, what="done (sse)"
    )
    if answer.get("unsupported") is not None:
        await server.aclose()
        raise CaseSkipped("the adapter has no SSE client ('sse' unsupported)", applicable=False)
    return adapter, server


def _check_resume(stream: SSEStream, session: str, seq: int) -> None:
    wanted = f"{session}:{seq}"
    # [CLIENT-2] resume with the highest seq received without a gap: over SSE, Last-Event-ID.
    if stream.last_event_id != wanted:
        raise CaseFailed(
            f"the SSE client reconnected with Last-Event-ID {stream.last_event_id!r}; the last "
            f"event it received was {wanted!r}",
            requirement="CLIENT-2",
        )


@client_case(
    id="CL-SSE-01",
    requirements=("CLIENT-2", "CLIENT-3", "CLIENT-9"),
    profile="sse",
    title="an SSE client resumes with Last-Event-ID and delivers each event once, in order",
)
async def cl_sse_01(ctx: ClientCaseContext) -> None:
    """Stream 1: welcome, events 1-3 with seq 2 repeated, then a TCP cut. Stream 2 must carry
    Last-Event-ID ``<session>:3``; it gets ``resumed: true``, seq 3 again, then 4 and 5. The
    application must see 1, 2, 3, 4, 5 exactly once each."""
    channel = ctx.channel("sse")
    adapter, server = await _open(ctx, channel)
    try:
        first = await server.accept(timeout=ctx.timeout, requirement="CLIENT-2")
        if first.channels != [channel]:
            raise CaseFailed(
                f"the SSE client asked for channels {first.channels}, not [{channel!r}]",
                requirement="CLIENT-6",
            )
        session = new_session_id()
        sent = [ctx.data() for _ in range(5)]
        await first.message("welcome", _welcome(session, resumed=False, seq=0))
        for seq in (1, 2):
            await first.event(session, seq, channel, sent[seq - 1])
        await first.event(session, 2, channel, ctx.data("dup"))
        await first.event(session, 3, channel, sent[2])
        await ctx.wait_delivered(adapter, sent[2], requirement="CLIENT-9")
        first.cut()
        second = await server.accept(
            timeout=_BACKOFF["cap_ms"] / 1000 + ctx.timeout, requirement="CLIENT-2"
        )
        _check_resume(second, session, 3)
        await second.message("welcome", _welcome(session, resumed=True, seq=5))
        await second.event(session, 3, channel, ctx.data("dup"))
        for seq in (4, 5):
            await second.event(session, seq, channel, sent[seq - 1])
        await ctx.wait_delivered(adapter, sent[4], requirement="CLIENT-9")
        seen = ctx.delivered(adapter, channel)
        # [CLIENT-3] duplicates dropped; [CLIENT-9] in seq order.
        if seen != sent:
            raise CaseFailed(
                f"the server sent seq 1, 2, 2, 3 | cut | 3, 4, 5; the application saw {seen}, "
                f"not {sent}",
                requirement="CLIENT-3" if len(seen) > len(sent) else "CLIENT-9",
            )
    finally:
        await server.aclose()


@client_case(
    id="CL-SSE-02",
    requirements=("SSE-11",),
    level="SHOULD",
    profile="sse",
    title="an SSE client drops a stream silent for 2 x heartbeat_ms and resumes it",
    timing=True,
)
async def cl_sse_02(ctx: ClientCaseContext) -> None:
    """Welcome (heartbeat 1 s), one event, then nothing: the client should give the stream up
    after two heartbeat intervals and reconnect with Last-Event-ID ``<session>:1``."""
    channel = ctx.channel("sse")
    adapter, server = await _open(ctx, channel)
    try:
        first = await server.accept(timeout=ctx.timeout, requirement="SSE-11")
        session = new_session_id()
        await first.message("welcome", _welcome(session, resumed=False, seq=0))
        data = ctx.data()
        await first.event(session, 1, channel, data)
        await ctx.wait_delivered(adapter, data, requirement="CLIENT-9")
        # [SSE-11] "consider the stream dead after 2 × heartbeat_ms without receiving anything"
        allowed = 2 * _HEARTBEAT_MS / 1000 + _BACKOFF["cap_ms"] / 1000 + ctx.timeout
        second = await server.accept(timeout=allowed, requirement="SSE-11")
        _check_resume(second, session, 1)
    finally:
        await server.aclose()
