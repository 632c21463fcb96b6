"""The resume buffer's byte bound at its exact boundary (limits.md LIMIT-11).

An event's size is the UTF-8 length of its ``event`` frame's text as the server sends it, the
same text live and in every replay [LIMIT-11]: a client that measured the events it received
knows what the buffer holds. A server that announces ``resume_buffer_bytes`` keeps exactly the
longest run of the newest events within both bounds, so a run of exactly
``resume_buffer_bytes`` bytes is kept whole, and one byte more loses its oldest event.

The case sizes its events from the frames it received (padding in their data), so that some
run of them takes exactly the bound: a server that counts other bytes, or trims one event too
many once the bound is met, is seen at the byte.
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped
from canaux_conformance.resume_rules import Resume, resume_expectation
from canaux_conformance.wire import RawClient, encode

__all__ = ["buf_02_a_run_of_exactly_resume_buffer_bytes_is_kept"]

MOST_EVENTS = 1024
"""The most events the case publishes."""

MOST_MISSES = 3
"""Sized events whose frame came out of another length than the case predicted, at most."""

PACING_AT_MOST = 15.0
"""Seconds of rate pacing the case may spend on its publishes."""

_SLACK = 16
"""Bytes kept free in each publish frame for its id's digits."""


@dataclass(frozen=True)
class _Event:
    seq: int
    size: int
    """UTF-8 bytes of the event frame's text as received [LIMIT-11]."""
    data: Any


class _Session:
    """The events of one session as received, and the buffer LIMIT-11 makes of them."""

    def __init__(self, count: int, budget: int) -> None:
        self.count, self.budget = count, budget
        self.events: list[_Event] = []

    def kept_from(self) -> int:
        """Index of the oldest event the buffer keeps: of the newest events, the longest run
        within ``resume_buffer`` events and ``resume_buffer_bytes`` bytes, at least one."""
        held, start = 0, len(self.events)
        for index in range(len(self.events) - 1, -1, -1):
            size = self.events[index].size
            kept = len(self.events) - index
            if kept > self.count or (held + size > self.budget and kept > 1):
                break
            held += size
            start = index
        return start

    def run_bytes(self, start: int) -> int:
        return sum(event.size for event in self.events[start:])

    def plan(self, target: int, smallest: int, largest: int) -> tuple[int, int] | None:
        """``(start, size)``: one more event of ``size`` bytes makes the run from ``start`` to
        it hold exactly ``target`` bytes, while the event just before ``start`` is still kept
        (so that event is what the server trims). ``None`` when no such size is in range."""
        oldest = self.kept_from()
        for start in range(oldest + 1, len(self.events) + 1):
            if len(self.events) - start + 1 > self.count:
                continue
            size = target - self.run_bytes(start)
            if smallest <= size <= largest:
                return start, size
        return None


class _Sizer:
    """Publishes events of chosen sizes through P and measures them as A receives them."""

    def __init__(self, ctx: CaseContext, channel: str, p: RawClient, session: _Session) -> None:
        self.ctx, self.channel, self.p, self.session = ctx, channel, p, session
        self.receiver: RawClient | None = None
        self.published = 0
        self.overhead = 0
        """Bytes of the last event frame beyond its padding and its seq's digits."""
        frame = {"type": "publish", "id": "p", "channel": channel, "data": self._data("")}
        self.largest_pad = (p.max_frame_bytes or 4096) - len(encode(frame).encode()) - _SLACK

    def _data(self, pad: str) -> dict[str, str]:
        return {"mark": f"{self.ctx.run_id}-{self.published:05d}", "pad": pad}

    def _digits(self) -> int:
        last = self.session.events[-1].seq if self.session.events else 0
        return len(str(last + 1))

    @property
    def smallest(self) -> int:
        """The shortest next event frame, by the last one measured."""
        return self.overhead + self._digits()

    @property
    def largest(self) -> int:
        return self.overhead + self._digits() + self.largest_pad

    async def publish(self, size: int | None) -> _Event:
        """Publish one event meant to be ``size`` bytes long as received (``None``: no
        padding); wait until the receiver got it and measure it."""
        receiver = self.receiver
        assert receiver is not None
        if self.published >= MOST_EVENTS:
            raise CaseSkipped(
                f"{MOST_EVENTS} events published and no run of them took exactly "
                f"resume_buffer_bytes {self.session.budget} bytes"
            )
        pad = 0 if size is None else size - self.smallest
        data = self._data("x" * max(0, min(pad, self.largest_pad)))
        self.published += 1
        await self.p.publish(self.channel, data, timeout=self.ctx.timeout)
        frame = await receiver.expect(
            "event", channel=self.channel, timeout=self.ctx.timeout, requirement="CONF-1"
        )
        seq = frame["seq"]
        if frame.get("data") != data:
            raise CaseFailed(
                f"the event of seq {seq} carries {frame.get('data')!r:.200}, not the "
                "data published",
                requirement="DELIVERY-5",
            )
        event = _Event(seq, receiver.event_bytes[seq], data)
        self.overhead = event.size - len(data["pad"]) - len(str(seq))
        self.session.events.append(event)
        return event

    async def exact_run(self, target: int) -> int:
        """Publish until a run of the newest events holds exactly ``target`` bytes, its last
        event sized for it, the event before it still kept until then; return the run's first
        index in :attr:`_Session.events`."""
        misses = 0
        while True:
            planned = self.session.plan(target, self.smallest, self.largest)
            if planned is None:
                # Too little is kept for one event to reach the target: add one of at most
                # half the largest, so that the oldest event kept, which the last one pushes
                # out, is never too large for an event to take its place to the byte.
                start = self.session.kept_from() + 1
                need = target - self.session.run_bytes(start)
                half = self.largest // 2
                await self.publish(max(self.smallest, min(half, need - half)))
                continue
            start, size = planned
            event = await self.publish(size)
            if event.size == size:
                return start
            misses += 1
            self.ctx.note(
                f"event {event.seq} came out {event.size} bytes long, not {size}: sized again"
            )
            if misses >= MOST_MISSES:
                raise CaseSkipped(
                    f"{misses} events came out of another length than their data predicted "
                    "(the server's encoding changes with the content): no run of exactly "
                    f"{target} bytes could be made"
                )


def _announced(limits: Any, name: str) -> int | None:
    value = limits.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@case(
    id="BUF-02",
    requirements=("LIMIT-11", "RESUME-2", "RESUME-3"),
    title="a run of events of exactly resume_buffer_bytes bytes is kept whole, one byte more "
    "loses its oldest event",
    timeout=120.0,
)
async def buf_02_a_run_of_exactly_resume_buffer_bytes_is_kept(ctx: CaseContext) -> None:
    """A subscribes; P publishes events whose padding the case sizes from the event frames A
    received (their exact UTF-8 length), until the newest run takes exactly
    ``resume_buffer_bytes`` bytes (within ``resume_buffer`` events), its last event pushing
    out the one before the run. A drops. A resume just before the run MUST get resumed: true
    and exactly that run, each event the same text as live; a resume one event earlier MUST
    get resumed: false. Then one event more makes a run of ``resume_buffer_bytes`` + 1
    bytes: a resume needing all of it MUST get resumed: false [LIMIT-11, RESUME-2 (5)]."""
    channel = ctx.channel("bytes")
    a = await ctx.client("A")
    limits = a.limits
    budget, count = _announced(limits, "resume_buffer_bytes"), _announced(limits, "resume_buffer")
    window, rate = _announced(limits, "resume_window_ms"), _announced(limits, "max_rate")
    frame_bytes = a.max_frame_bytes
    if budget is None or budget < 1:
        raise CaseSkipped(
            "the server announces no resume_buffer_bytes (optional, LIMIT-14): the bound it "
            "keeps is unknown",
            applicable=False,
        )
    if count is None or window is None or rate is None or frame_bytes is None:
        raise CaseFailed(f"welcome.limits incomplete: {dict(limits)}", requirement="LIMIT-1")
    if window < 1000:
        raise CaseSkipped(
            f"resume_window_ms is {window}: the server may discard a detached session at once "
            "(RESUME-2), so nothing is kept to bound",
            applicable=False,
        )
    # The events that fill the run take at most half a frame each (see _Sizer.exact_run),
    # plus the one the last event pushes out, and the first, which measures the overhead.
    half = (frame_bytes - 256) // 2
    needed = -(-budget // half) + 3
    if needed > count:
        raise CaseSkipped(
            f"resume_buffer is {count}: {needed} events of at most {half} bytes are needed "
            f"to fill resume_buffer_bytes {budget}, so the count bound decides first",
            applicable=False,
        )
    if needed + 4 > MOST_EVENTS:
        raise CaseSkipped(f"{needed} events of {half} bytes: more than the case publishes")
    pacing = max(0.0, (needed + 4 - rate) / rate)
    if pacing > PACING_AT_MOST:
        raise CaseSkipped(
            f"about {needed + 4} publishes at max_rate {rate} would need {pacing:.0f} s of "
            f"pacing (at most {PACING_AT_MOST:.0f})"
        )
    await a.subscribe(channel)
    p = await ctx.client("P")
    session = _Session(count, budget)
    sizer = _Sizer(ctx, channel, p, session)
    sizer.receiver = a
    await sizer.publish(None)  # measures the frame's overhead
    start = await sizer.exact_run(budget)
    run = session.events[start:]
    ctx.note(
        f"seq {run[0].seq}..{run[-1].seq}: {len(run)} events of {session.run_bytes(start)} "
        f"bytes (resume_buffer_bytes {budget}); seq {session.events[start - 1].seq} before them"
    )
    await a.close(1000)
    loop = asyncio.get_running_loop()
    dropped = loop.time()
    before = session.events[start - 1]
    await _refused(
        ctx,
        a.session,
        before.seq - 1,
        f"the run from seq {before.seq} takes {budget + before.size} bytes, over "
        f"resume_buffer_bytes {budget}",
        window,
        dropped,
    )
    again = await _resumed(ctx, a.session, channel, run, (window, dropped), budget)
    # One byte over: a run of budget + 1 bytes must lose its oldest event.
    sizer.receiver = again
    over = await sizer.exact_run(budget + 1)
    first = session.events[over]
    await again.close(1000)
    await _refused(
        ctx,
        a.session,
        first.seq - 1,
        f"the run from seq {first.seq} takes {budget + 1} bytes, one over resume_buffer_bytes",
        window,
        loop.time(),
    )


async def _refused(
    ctx: CaseContext, session: str | None, seq: int, why: str, window: int, dropped: float
) -> None:
    """A resume of ``session`` after ``seq`` must get resumed: false."""
    probe = await ctx.client(f"R{seq}", resume={"session": session, "seq": seq})
    assert probe.welcome is not None
    await probe.close()
    if probe.welcome.get("resumed") is not False:
        raise CaseFailed(
            f"a resume after seq {seq} answered {encode(probe.welcome)[:200]}: {why}, so the "
            "buffer cannot hold every event it needs",
            requirement="LIMIT-11",
        )
    since = asyncio.get_running_loop().time() - dropped
    in_time = resume_expectation({"resume_window_ms": window}, behind=0, since_drop_s=since)
    if in_time.expect is not Resume.REQUIRED:
        raise CaseSkipped(f"the resumes came too late to tell: {in_time}")


async def _resumed(
    ctx: CaseContext,
    session: str | None,
    channel: str,
    run: list[_Event],
    timing: tuple[int, float],
    budget: int,
) -> RawClient:
    """A resume just before ``run`` must get resumed: true and exactly ``run``, each event the
    same text (length) as received live; return the resumed client."""
    window, dropped = timing
    loop = asyncio.get_running_loop()
    seq = run[0].seq - 1
    back = await ctx.client("A2", resume={"session": session, "seq": seq})
    assert back.welcome is not None
    expectation = resume_expectation(
        {"resume_window_ms": window}, behind=0, since_drop_s=loop.time() - dropped
    )
    if back.welcome.get("resumed") is not True:
        if expectation.expect is not Resume.REQUIRED:
            raise CaseSkipped(f"the resume came too late to tell: {expectation}")
        raise CaseFailed(
            f"the {len(run)} events after seq {seq} take exactly resume_buffer_bytes {budget}"
            f" bytes, yet the resume after seq {seq} answered {encode(back.welcome)[:200]}: "
            "a run of exactly the bound must be kept whole",
            requirement="LIMIT-11",
        )
    if back.welcome.get("seq") != run[-1].seq:
        raise CaseFailed(
            f"resumed with welcome.seq {back.welcome.get('seq')!r}, but the last seq assigned "
            f"is {run[-1].seq}",
            requirement="RESUME-2",
        )
    replay = await back.events(len(run), timeout=ctx.timeout, requirement="RESUME-3")
    got = [(f.get("seq"), f.get("channel"), f.get("data")) for f in replay]
    wanted = [(e.seq, channel, e.data) for e in run]
    if got != wanted:
        raise CaseFailed(
            f"the replay after seq {seq} holds seqs {[g[0] for g in got]}, not "
            f"{[e.seq for e in run]} with their data",
            requirement="RESUME-3",
        )
    for event in run:
        replayed = back.event_bytes.get(event.seq)
        if replayed != event.size:
            raise CaseFailed(
                f"event {event.seq} was {event.size} bytes long live and {replayed} in the "
                "replay: the server must send an event as the same text every time",
                requirement="LIMIT-11",
            )
    return back
