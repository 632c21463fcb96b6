"""How far back a server recognises a re-sent id: counted by first answers (operations.md).

A server remembers the ids and replies of at least the last ``resume_buffer`` frames it
answered, counted by their first answer: a copy answered again from that memory neither
makes its id newer nor pushes another id out [OPS-9]. A server that treats its memory as
"least recently used" forgets a frame that a client may still re-send, and applies it twice.
"""

from __future__ import annotations

from typing import Any

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped
from canaux_conformance.suites._delivery import new_mark, wait_marks
from canaux_conformance.wire import Frame, RawClient, encode

__all__: list[str] = []

PACING_AT_MOST = 15.0
"""Seconds of pacing within the announced ``max_rate`` the case accepts; beyond that (a very
large ``resume_buffer`` with a low rate) it skips rather than outlive its budget."""


def _limit(client: RawClient, name: str) -> int:
    value = client.limits.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise CaseFailed(
            f"welcome.limits.{name} is {value!r}, not a positive integer",
            requirement="HANDSHAKE-9",
        )
    return value


async def _answered(client: RawClient, frame: Frame, *, record: bool = True) -> Frame:
    """Send ``frame`` (paced, kept out of the transcript unless ``record``) and return the
    ``ack`` or ``error`` answering it [OPS-1]."""
    await client.send_text(encode(frame), record=record)
    frame_id = frame["id"]
    return await client.expect(
        where=lambda f: f.get("type") in ("ack", "error") and f.get("id") == frame_id,
        requirement="OPS-1",
        what=f"ack or error for {frame['type']} {frame_id!r}",
    )


def _same_reply(first: Frame, again: Frame) -> bool:
    return (first.get("type"), first.get("code")) == (again.get("type"), again.get("code"))


@case(
    id="DEDUP-01",
    requirements=("OPS-9",),
    title="a re-sent id answered from memory pushes no later first answer out of the memory",
    timeout=90.0,
)
async def dedup_01(ctx: CaseContext) -> None:
    """With R = resume_buffer: A subscribes to C (s0), then sends R frames with new ids: x1
    (an unsubscribe of F, never subscribed), t (unsubscribe C: acked), and R-2 more like x1.
    A sends x1 again (answered from memory), then subscribes to C again (s2). Only R-1 frames
    with new ids were answered after t, so t is still remembered: sent again it MUST get its
    ack again and NOT be applied, and a publish on C still reaches A [OPS-9]. A server whose
    memory of R ids counts the replay of x1 as a use has pushed t out, and unsubscribes A."""
    a, p = await ctx.client("A"), await ctx.client("P")
    buffer, rate = _limit(a, "resume_buffer"), _limit(a, "max_rate")
    if buffer < 2:
        raise CaseSkipped(
            f"resume_buffer is {buffer}: a memory of one id holds only the latest first "
            "answer, which no replay can push out",
            applicable=False,
        )
    frames = buffer + 5  # s0, the R frames, x1 again, s2, t again
    pacing = max(0, frames - rate) / rate
    if pacing > PACING_AT_MOST:
        raise CaseSkipped(
            f"resume_buffer {buffer} at max_rate {rate}: the {frames} frames this takes "
            f"would need {pacing:.0f} s of pacing (at most {PACING_AT_MOST:.0f})"
        )
    c, never = ctx.channel("c"), ctx.channel("never")
    await a.subscribe(c, id="s0")
    x1: dict[str, Any] = {"type": "unsubscribe", "id": "x1", "channel": never}
    first = await _answered(a, x1)
    t: dict[str, Any] = {"type": "unsubscribe", "id": "t", "channel": c}
    await a.request(t, ok=True)
    ctx.note(f"sending {buffer - 2} more frames with new ids (resume_buffer {buffer})")
    for n in range(2, buffer):
        await _answered(a, {"type": "unsubscribe", "id": f"x{n}", "channel": never}, record=False)
    again = await _answered(a, x1)
    if not _same_reply(first, again):
        raise CaseFailed(
            f"x1, one of the last {buffer} frames answered, sent again answered "
            f"{encode(again)}; the first answer was {encode(first)}",
            requirement="OPS-9",
        )
    await a.subscribe(c, id="s2")
    ctx.note(f"t is one of the last {buffer} frames first answered: sending it again")
    again = await a.request(t)
    if again.get("type") != "ack":
        raise CaseFailed(
            f"t sent again answered {encode(again)}; it was acked, and only {buffer - 1} "
            "frames with new ids were answered after it",
            requirement="OPS-9",
        )
    mark = new_mark(ctx, "c")
    await p.publish(c, {"mark": mark})
    try:
        await wait_marks(a, c, [mark], timeout=ctx.timeout, requirement="OPS-9")
    except CaseFailed as failure:
        raise CaseFailed(
            f"t (unsubscribe C) sent again was applied again: A no longer receives C. Only "
            f"{buffer - 1} frames with new ids were answered after t; the replay of x1 in "
            "between is not an answer that counts (frames are counted by their first "
            "answer). " + failure.message,
            requirement="OPS-9",
        ) from failure
