"""The resume buffer's bound, judged at the announced ``resume_buffer`` (limits.md LIMIT-5).

A detached session whose buffer overflowed cannot be resumed: the client gets
``resumed: false`` and starts again, never a replay with a silent gap [LIMIT-5, RESUME-2 (5)].
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped
from canaux_conformance.wire import Frame, RawClient, encode

__all__ = ["buf_01_overflowed_buffer_is_not_resumed"]

MOST_RATE = 300
"""Most events per second the case publishes in all: more would load the server enough to
delay what the cases running alongside it measure (heartbeats)."""


def _reply_to(frame_id: str) -> Callable[[Frame], bool]:
    return lambda f: f.get("type") in ("ack", "error") and f.get("id") == frame_id


async def _publish_all(publisher: RawClient, channel: str, marks: list[str]) -> None:
    """Send every publish (paced within the announced rate), then read every ack."""
    ids = []
    for mark in marks:
        frame_id = publisher.next_id("p")
        ids.append(frame_id)
        await publisher.send_text(
            encode({"type": "publish", "id": frame_id, "channel": channel, "data": {"mark": mark}}),
            record=len(ids) <= 3,
        )
    for frame_id in ids:
        reply = await publisher.expect(
            where=_reply_to(frame_id), requirement="OPS-1", what=f"the reply to publish {frame_id}"
        )
        if reply["type"] != "ack":
            raise CaseFailed(f"publish {frame_id} refused: {encode(reply)}", requirement="OPS-7")


@case(
    id="BUF-01",
    requirements=("LIMIT-5", "RESUME-2"),
    title="more than resume_buffer events while detached: the resume answers resumed:false",
    timeout=180.0,
)
async def buf_01_overflowed_buffer_is_not_resumed(ctx: CaseContext) -> None:
    """A subscribes to C and drops its connection; publishers put ``resume_buffer`` + 1 events
    on C while A is away; A's resume within the window MUST get ``resumed: false`` with a new
    session at seq 0 [LIMIT-5, RESUME-2 (5)], not a replay that cannot hold every event."""
    channel = ctx.channel("buffer")
    a = await ctx.client("A")
    await a.subscribe(channel)
    limits = a.limits
    buffer, window = limits.get("resume_buffer"), limits.get("resume_window_ms")
    rate = limits.get("max_rate")
    if not isinstance(buffer, int) or not isinstance(window, int) or not isinstance(rate, int):
        raise CaseFailed(f"welcome.limits incomplete: {dict(limits)}", requirement="LIMIT-1")
    if window == 0:
        raise CaseSkipped(
            "resume_window_ms is 0: every resume is refused by the window already [RESUME-2 (2)]",
            applicable=False,
        )
    count = buffer + 1
    # Done in half the window, so that the resume comes while the session is surely kept.
    needed = count / (window / 2000)
    if needed > max(MOST_RATE, rate):
        raise CaseSkipped(
            f"{count} events (resume_buffer {buffer}) cannot be published within half of "
            f"resume_window_ms {window} at {MOST_RATE} events/s: these limits keep the buffer "
            "from overflowing before the window ends",
            applicable=False,
        )
    publishers = max(1, math.ceil(needed / rate))
    clients = [await ctx.client(f"P{n}") for n in range(publishers)]
    assert a.welcome is not None
    session = a.session
    seq = max((f["seq"] for f in a.received if f.get("type") == "event"), default=0)
    await a.abort()
    loop = asyncio.get_running_loop()
    dropped = loop.time()
    ctx.note(f"A dropped; {publishers} publisher(s) put {count} events on {channel}")
    marks = [f"m{i}" for i in range(count)]
    await asyncio.gather(
        *(_publish_all(p, channel, marks[n::publishers]) for n, p in enumerate(clients))
    )
    took = loop.time() - dropped
    back = await ctx.client("A2", resume={"session": session, "seq": seq})
    assert back.welcome is not None
    if back.welcome.get("resumed") is not False:
        raise CaseFailed(
            f"{count} events were assigned while A was detached and resume_buffer is {buffer},"
            f" yet the resume {took:.1f}s later answered resumed="
            f"{back.welcome.get('resumed')!r}: the buffer cannot hold them all, so it must be"
            " resumed:false",
            requirement="LIMIT-5",
        )
    if back.welcome.get("session") == session or back.welcome.get("seq") != 0:
        raise CaseFailed(
            f"resumed:false must come with a new session at seq 0: {encode(back.welcome)[:300]}",
            requirement="RESUME-2",
        )
