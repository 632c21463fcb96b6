"""Client cases: SSE clients (spec sse.md, issue 12 item 7).

The suite serves the SSE binding itself (:mod:`canaux_conformance.client.sse_server`) and asks
the adapter for a read-only stream with the optional ``sse`` command; an adapter without one
answers ``unsupported`` and the cases are skipped as not applicable. Every stream starts with
``retry:`` (the case's backoff cap) before the welcome: an ``EventSource`` waits the reconnection
time the server sets, and no case depends on a browser's default (Chromium's is 3 s).
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


async def _greet(stream: SSEStream, session: str, *, resumed: bool, seq: int) -> None:
    """``retry:`` (what an EventSource waits after a drop), then the welcome [SSE-1]."""
    await stream.retry(_BACKOFF["cap_ms"])
    await stream.message("welcome", _welcome(session, resumed=resumed, seq=seq))


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


async def _reconnection(
    ctx: ClientCaseContext, server: ScriptedSSEServer, *, requirement: str
) -> SSEStream:
    """The stream the client opens after a drop: within the ``retry:`` time and a wait."""
    return await server.accept(
        timeout=_BACKOFF["cap_ms"] / 1000 + ctx.timeout, requirement=requirement
    )


def _check_resume(
    stream: SSEStream, session: str, seq: int, *, requirement: str = "CLIENT-2"
) -> None:
    wanted = f"{session}:{seq}"
    # [CLIENT-2] resume with the highest seq received without a gap: over SSE, Last-Event-ID.
    if stream.last_event_id != wanted:
        raise CaseFailed(
            f"the SSE client reconnected with Last-Event-ID {stream.last_event_id!r}; the last "
            f"event it received without a gap was {wanted!r}",
            requirement=requirement,
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
        await _greet(first, session, resumed=False, seq=0)
        for seq in (1, 2):
            await first.event(session, seq, channel, sent[seq - 1])
        await first.event(session, 2, channel, ctx.data("dup"))
        await first.event(session, 3, channel, sent[2])
        await ctx.wait_delivered(adapter, sent[2], requirement="CLIENT-9")
        first.cut()
        second = await _reconnection(ctx, server, requirement="CLIENT-2")
        _check_resume(second, session, 3)
        await _greet(second, session, resumed=True, seq=5)
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
        await _greet(first, session, resumed=False, seq=0)
        data = ctx.data()
        await first.event(session, 1, channel, data)
        await ctx.wait_delivered(adapter, data, requirement="CLIENT-9")
        # [SSE-11] "consider the stream dead after 2 × heartbeat_ms without receiving anything"
        allowed = 2 * _HEARTBEAT_MS / 1000 + _BACKOFF["cap_ms"] / 1000 + ctx.timeout
        second = await server.accept(timeout=allowed, requirement="SSE-11")
        _check_resume(second, session, 1)
    finally:
        await server.aclose()


@client_case(
    id="CL-SSE-03",
    requirements=("RESUME-5", "CLIENT-2", "CLIENT-9"),
    profile="sse",
    title="an SSE client whose session is lost resets before the new session's events",
)
async def cl_sse_03(ctx: ClientCaseContext) -> None:
    """Stream 1: welcome, events 1 and 2, a TCP cut. Stream 2 asks to resume ``<session>:2``
    and gets a new session (``resumed: false``) and its event 1: the application must be told
    to reset before it sees that event."""
    channel = ctx.channel("sse")
    adapter, server = await _open(ctx, channel)
    try:
        first = await server.accept(timeout=ctx.timeout, requirement="CLIENT-2")
        session = new_session_id()
        await _greet(first, session, resumed=False, seq=0)
        old = [ctx.data("old") for _ in range(2)]
        for seq, data in enumerate(old, 1):
            await first.event(session, seq, channel, data)
        await ctx.wait_delivered(adapter, old[-1], requirement="CLIENT-9")
        first.cut()
        second = await _reconnection(ctx, server, requirement="CLIENT-2")
        _check_resume(second, session, 2)
        fresh_session = new_session_id()
        await _greet(second, fresh_session, resumed=False, seq=0)
        fresh = ctx.data("new")
        await second.event(fresh_session, 1, channel, fresh)
        await ctx.wait_delivered(adapter, fresh, requirement="CLIENT-9")
        order = adapter.of_kind("reset", "event")
        kinds = [m.kind for m in order]
        at = next(i for i, m in enumerate(order) if m.kind == "event" and m.get("data") == fresh)
        # [RESUME-5] / [CLIENT-2] "emit a reset ... before delivering any event of the new
        # session"
        if "reset" not in kinds[:at]:
            raise CaseFailed(
                f"the server started a new session (resumed: false); the application saw "
                f"{kinds} with no reset before the new session's event",
                requirement="RESUME-5",
            )
    finally:
        await server.aclose()


@client_case(
    id="CL-SSE-04",
    requirements=("CLIENT-3", "CLIENT-9"),
    profile="sse",
    title="an SSE client passes no event across a seq gap and resumes from before the gap",
)
async def cl_sse_04(ctx: ClientCaseContext) -> None:
    """Stream 1: welcome, events 1 and 2, then 4 and 5 (3 is missing). The client must hand
    neither 4 nor 5 to the application, drop the stream and resume ``<session>:2``; stream 2
    replays 3, 4, 5, and the application sees 1 to 5 once each, in order."""
    channel = ctx.channel("sse")
    adapter, server = await _open(ctx, channel)
    try:
        first = await server.accept(timeout=ctx.timeout, requirement="CLIENT-3")
        session = new_session_id()
        sent = [ctx.data() for _ in range(5)]
        await _greet(first, session, resumed=False, seq=0)
        for seq in (1, 2, 4, 5):
            await first.event(session, seq, channel, sent[seq - 1])
        # [CLIENT-3] "MUST close the connection and MUST reconnect with a resume request
        # carrying the last seq it received without a gap"
        second = await _reconnection(ctx, server, requirement="CLIENT-3")
        _check_resume(second, session, 2, requirement="CLIENT-3")
        if not await first.wait_closed(timeout=ctx.timeout):
            raise CaseFailed(
                "the SSE client resumed after the gap but kept the stream with the gap open",
                requirement="CLIENT-3",
            )
        await _greet(second, session, resumed=True, seq=5)
        for seq in (3, 4, 5):
            await second.event(session, seq, channel, sent[seq - 1])
        await ctx.wait_delivered(adapter, sent[4], requirement="CLIENT-9")
        seen = ctx.delivered(adapter, channel)
        before_3 = seen[: seen.index(sent[2])] if sent[2] in seen else seen
        # [CLIENT-3] a gap "MUST NOT pass it to the application"; [CLIENT-9] seq order
        if seen != sent:
            raise CaseFailed(
                f"the server sent seq 1, 2, 4, 5 | resume | 3, 4, 5; the application saw "
                f"{seen}, not {sent}",
                requirement="CLIENT-3"
                if len(seen) != len(sent) or any(d in before_3 for d in sent[3:])
                else "CLIENT-9",
            )
    finally:
        await server.aclose()
