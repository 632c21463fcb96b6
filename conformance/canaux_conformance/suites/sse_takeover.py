"""Resuming an SSE session that another stream still holds (sse.md SSE-13, RESUME-4 for SSE)."""

from __future__ import annotations

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.suites.sse import _events, _open, _welcome

__all__ = ["sse_take_01_old_stream_ends"]


@case(
    id="SSE-TAKE-01",
    requirements=("SSE-13", "RESUME-4"),
    profile="sse",
    title="a resume of an attached SSE session ends the old stream, which gets nothing newer",
)
async def sse_take_01_old_stream_ends(ctx: CaseContext) -> None:
    """Stream 1 holds session S and has received m1; stream 2 resumes S from m1 while stream 1
    is still open. Stream 2 is resumed (a takeover, RESUME-4); the server ends stream 1's
    response, and no event assigned after stream 2's welcome (m2) appears on stream 1
    [SSE-13]."""
    channel = ctx.channel("take")
    old = await _open(ctx, [channel], "sse-1")
    session = (await _welcome(old))["session"]
    publisher = await ctx.client("publisher")
    await publisher.publish(channel, {"mark": "m1"})
    seen = await _events(old, channel, 1, session)
    position = f"{session}:{seen[-1]['seq']}"
    new = await _open(ctx, [channel], "sse-2", last_event_id=position)
    welcome = await _welcome(new)
    if welcome.get("resumed") is not True or welcome.get("session") != session:
        raise CaseFailed(
            f"a resume from {position} while stream 1 holds the session answered resumed="
            f"{welcome.get('resumed')!r} session={welcome.get('session')!r}: a session still "
            "attached is taken over",
            requirement="RESUME-4",
        )
    await publisher.publish(channel, {"mark": "m2"})
    await _events(new, channel, 1, session)
    try:
        late = await old.wait_end(ctx.timeout)
    except TimeoutError:
        raise CaseFailed(
            f"stream 1 is still open {ctx.timeout:g}s after stream 2 resumed its session",
            requirement="SSE-13",
        ) from None
    after = [m.id for m in late if m.id and m.id.rpartition(":")[2].isdigit()]
    newer = [i for i in after if int(i.rpartition(":")[2]) > int(welcome.get("seq", 0))]
    if newer:
        raise CaseFailed(
            f"stream 1 received {newer} after stream 2's welcome (seq {welcome.get('seq')})",
            requirement="SSE-13",
        )
