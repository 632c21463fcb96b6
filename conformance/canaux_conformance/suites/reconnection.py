"""Reconnection: real network faults, then resume
(resume.md RESUME-1..7, operations.md OPS-9, security.md SECURITY-2).

Faults go through :class:`~canaux_conformance.proxy.FaultProxy`: a TCP reset (cut), a stall
followed by a reset, and a half-close (FIN toward the server). After each, the client resumes
with the last seq it received contiguously and must get every missed event exactly once, in
order, before any newer event.

Every resume first asks :func:`~canaux_conformance.resume_rules.resume_expectation` what the
announced limits require: with a window of 0, or a buffer smaller than the gap, RESUME-2
requires ``resumed: false``, and the case checks that side instead (a new session, seq 0, no
subscriptions, nothing replayed).
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import secrets
from typing import Literal

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped
from canaux_conformance.resume_rules import Resume, ResumeExpectation, resume_expectation
from canaux_conformance.suites._delivery import barrier, events, marks, new_mark, wait_marks
from canaux_conformance.wire import Frame, RawClient, encode

__all__ = [
    "recon_01",
    "recon_02",
    "recon_03",
    "recon_04",
    "recon_05",
    "recon_06",
    "recon_07",
    "recon_08",
]

Fault = Literal["cut", "stall", "half_close"]

_BURST = 30
_FIRST = 5


def _contiguous_prefix(frames: list[Frame]) -> int:
    """The highest seq received contiguously from 1 [RESUME-1]."""
    last = 0
    for frame in frames:
        if frame.get("seq") == last + 1:
            last += 1
        else:
            break
    return last


async def _ended(client: RawClient, timeout: float) -> bool:
    try:
        await client.expect_close(timeout)
    except CaseFailed:
        return False
    return True


def _expectation(
    ctx: CaseContext,
    client: RawClient,
    *,
    behind: int,
    dropped_at: float,
    detached: bool = True,
) -> ResumeExpectation:
    """What RESUME-2 requires of a resume ``behind`` events behind, from the announced limits."""
    expectation = resume_expectation(
        client.limits,
        behind=behind,
        since_drop_s=asyncio.get_running_loop().time() - dropped_at,
        detached=detached,
        heartbeat_ms=ctx.server.heartbeat_ms if ctx.server else None,
    )
    ctx.note(f"RESUME-2 for this resume: {expectation}")
    return expectation


def _check_answer(welcome: Frame, expectation: ResumeExpectation) -> bool:
    """Whether the server resumed; fail when the announced limits forbid its answer."""
    resumed = welcome.get("resumed")
    if resumed is True and expectation.expect is Resume.REFUSED:
        raise CaseFailed(
            f"the resume was granted (resumed=true), but {expectation.reason}",
            requirement="RESUME-2",
        )
    if resumed is not True and expectation.expect is Resume.REQUIRED:
        raise CaseFailed(
            f"the resume answered resumed={resumed!r}, but RESUME-2 requires resumed=true: "
            f"{expectation.reason}",
            requirement="RESUME-2",
        )
    return resumed is True


async def _check_refused(
    ctx: CaseContext, client: RawClient, old: str | None, channel: str, publisher: RawClient
) -> None:
    """``resumed: false`` means a new session, seq 0, no subscriptions, nothing replayed
    [RESUME-2]: an event on the old session's channel does not reach it, and a marker on a
    fresh channel is its first event (seq 1)."""
    welcome = client.welcome or {}
    if welcome.get("session") == old or welcome.get("seq") != 0:
        raise CaseFailed(
            f"resumed=false must come with a new session and seq 0, got session "
            f"{'unchanged' if welcome.get('session') == old else 'new'} seq "
            f"{welcome.get('seq')!r}",
            requirement="RESUME-2",
        )
    await publisher.publish(channel, {"mark": new_mark(ctx, "old")})
    fresh = ctx.channel("fresh")
    await client.subscribe(fresh)
    before = await barrier(ctx, client, fresh, requirement="RESUME-2")
    if before:
        raise CaseFailed(
            f"the new session (resumed=false) received {encode(before[0])[:200]}: it has no "
            "subscriptions and nothing to replay",
            requirement="RESUME-2",
        )
    marker = events(client, fresh)[0]
    if marker.get("seq") != 1:
        raise CaseFailed(
            f"the first event of the new session has seq {marker.get('seq')!r}, not 1",
            requirement="RESUME-2",
        )


def _check_resumed(welcome: Frame, session: str | None, assigned: int) -> None:
    if welcome.get("session") != session:
        raise CaseFailed("resumed:true carries a different session id", requirement="RESUME-2")
    if welcome.get("seq") != assigned:
        raise CaseFailed(
            f"resumed welcome.seq is {welcome.get('seq')!r}; {assigned} events were assigned",
            requirement="RESUME-2",
        )


async def _pipeline(client: RawClient, channel: str, batch: list[str], timeout: float) -> None:
    """Publish every mark of ``batch`` back to back, then wait for all the acks."""
    ids = []
    for mark in batch:
        frame_id = client.next_id()
        ids.append(frame_id)
        await client.send(
            {"type": "publish", "id": frame_id, "channel": channel, "data": {"mark": mark}}
        )
    for frame_id in ids:
        await client.expect("ack", id=frame_id, timeout=timeout, requirement="OPS-1")


async def _fault_then_resume(ctx: CaseContext, fault: Fault) -> None:
    """A burst of 30 events to A is split by a fault: the first 5 arrive, then the network
    stalls (or half-closes) and the other 25 are published; then A resumes from its last
    contiguous seq and must get the rest, once, in order, before a newer event."""
    channel = ctx.channel(fault)
    proxy = await ctx.proxy()
    a = await ctx.client("A", via=proxy)
    await a.subscribe(channel)
    b = await ctx.client("B")
    sent = [new_mark(ctx) for _ in range(_BURST)]
    first, rest = sent[:_FIRST], sent[_FIRST:]
    await _pipeline(b, channel, first, ctx.timeout)
    await wait_marks(a, channel, first, timeout=ctx.timeout, requirement="CONF-1")
    dropped_at = asyncio.get_running_loop().time()
    if fault == "half_close":
        ctx.note("half-close: FIN toward the server, then the rest of the burst")
        proxy.half_close()
    else:
        # Frozen mid-burst: the rest of the burst is assigned but cannot reach A.
        ctx.note("stall: the network stops carrying bytes, then the rest of the burst")
        proxy.stall()
    await _pipeline(b, channel, rest, ctx.timeout)
    if fault == "cut":
        ctx.note("the stalled connection is reset (RST both ways)")
        dropped_at = asyncio.get_running_loop().time()
        proxy.cut()
        proxy.resume()
    elif fault == "half_close" and not await _ended(a, ctx.timeout):
        proxy.cut()  # the server kept the half-open connection: the client gives up on it
    elif fault == "stall":
        ctx.note("the connection stays stalled and attached; the client resumes elsewhere")
    if fault != "stall" and not await _ended(a, ctx.timeout):
        await a.abort()
    before = events(a)
    last = _contiguous_prefix(before)
    if marks(before[:last]) != sent[:last]:
        raise CaseFailed(
            f"before the fault A received {marks(before[:last])}", requirement="DELIVERY-3"
        )
    ctx.note(f"A received seq 1..{last} before the fault; resuming from {last}")
    # A stalled connection is still attached: resume around it (RESUME-4 replaces it).
    via = None if fault == "stall" else proxy
    expectation = _expectation(
        ctx, a, behind=_BURST - last, dropped_at=dropped_at, detached=fault != "stall"
    )
    a2 = await ctx.client("A2", resume={"session": a.session, "seq": last}, via=via)
    assert a2.welcome is not None
    if not _check_answer(a2.welcome, expectation):
        await _check_refused(ctx, a2, a.session, channel, b)
        return
    _check_resumed(a2.welcome, a.session, _BURST)
    live = new_mark(ctx, "live")
    await b.publish(channel, {"mark": live})
    after = await a2.events(_BURST - last + 1, timeout=ctx.timeout, requirement="RESUME-3")
    want_seqs = list(range(last + 1, _BURST + 2))
    got_seqs = [f.get("seq") for f in after]
    if got_seqs != want_seqs or marks(after) != [*sent[last:], live]:
        raise CaseFailed(
            f"after resume from seq {last}: got seqs {got_seqs} marks {marks(after)}; expected "
            f"seqs {want_seqs[0]}..{want_seqs[-1]} carrying the missed events in order, "
            "then the live one",
            requirement="RESUME-3",
        )
    tail = await barrier(ctx, a2, channel, publisher=b)
    extra = tail[len(after) :]
    if extra:
        raise CaseFailed(
            f"after the replay A also received {encode(extra[0])}", requirement="DELIVERY-6"
        )
    if fault == "stall":
        proxy.resume()
        if not await _ended(a, ctx.timeout):
            raise CaseFailed(
                "the stalled connection of a session resumed elsewhere was not closed",
                requirement="RESUME-4",
            )


@case(
    id="RECON-01",
    requirements=("RESUME-3", "RESUME-2", "DELIVERY-1", "DELIVERY-6", "RESUME-11"),
    title="reset mid-burst, resume: every missed event once, in order, replay before live",
    timeout=120.0,
)
async def recon_01(ctx: CaseContext) -> None:
    """The network freezes then resets while 30 events stream to A; A resumes from its last
    contiguous seq and receives the rest exactly once, in order, then a newer event
    [RESUME-3]."""
    await _fault_then_resume(ctx, "cut")


@case(
    id="RECON-02",
    requirements=("RESUME-3", "RESUME-2", "RESUME-4", "RESUME-9"),
    title="stalled connection, client resumes elsewhere: everything recovered, old one closed",
    timeout=120.0,
)
async def recon_02(ctx: CaseContext) -> None:
    """The network stops carrying bytes mid-burst (no FIN, no RST); the client gives up and
    resumes on another path while the server still sees the old connection attached: the
    resume replays everything once, and the old connection is closed [RESUME-3, RESUME-4]."""
    await _fault_then_resume(ctx, "stall")


@case(
    id="RECON-03",
    requirements=("RESUME-3", "RESUME-2", "RESUME-8"),
    title="half-closed connection: resume recovers everything",
    timeout=120.0,
)
async def recon_03(ctx: CaseContext) -> None:
    """The client's side sends FIN mid-burst; whatever the server does with the half-open
    connection, the client resumes and receives every missed event once [RESUME-3]."""
    await _fault_then_resume(ctx, "half_close")


@case(
    id="RECON-04",
    requirements=("RESUME-2",),
    title="resume of an unknown session: resumed:false, a new session, seq 0",
)
async def recon_04(ctx: CaseContext) -> None:
    """hello.resume names a session the server never issued: the welcome says resumed:false,
    with a new session id and seq 0, and the new session has no subscriptions [RESUME-2]."""
    bogus = secrets.token_urlsafe(24)
    a = await ctx.client("A", resume={"session": bogus, "seq": 5})
    assert a.welcome is not None
    if a.welcome.get("resumed") is not False or a.welcome.get("session") == bogus:
        raise CaseFailed(
            f"resume of a never-issued session answered {encode(a.welcome)[:300]}",
            requirement="RESUME-2",
        )
    if a.welcome.get("seq") != 0:
        raise CaseFailed(
            f"a new session starts at seq 0, welcome.seq is {a.welcome.get('seq')!r}",
            requirement="RESUME-2",
        )
    channel = ctx.channel("fresh")
    reply = await a.subscribe(channel, ok=False)
    if reply.get("type") != "ack":
        raise CaseFailed(
            f"subscribing in the new session answered {encode(reply)}", requirement="RESUME-2"
        )


@case(
    id="RECON-05",
    requirements=("RESUME-7", "RESUME-2"),
    title="resume after the window has expired: resumed:false",
    waits=True,
    timeout=300.0,
)
async def recon_05(ctx: CaseContext) -> None:
    """A drops, stays away longer than resume_window_ms, then resumes: the session is gone
    [RESUME-7]. Waits on the server's clock: skipped when the window is too long for the
    budget."""
    window_ms = ctx.server.limit("resume_window_ms", 120000) if ctx.server else 120000
    ceiling = {"quick": 5000, "default": 15000, "thorough": 150000}.get(ctx.budget.name, 15000)
    if window_ms > ceiling:
        raise CaseSkipped(
            f"resume_window_ms is {window_ms}; the {ctx.budget.name} budget waits at most "
            f"{ceiling} ms (use --thorough)"
        )
    proxy = await ctx.proxy()
    a = await ctx.client("A", via=proxy)
    channel = ctx.channel("expire")
    await a.subscribe(channel)
    proxy.cut()
    await _ended(a, ctx.timeout)
    # The subject of this case is a server timer: there is no event to wait for.
    await asyncio.sleep(window_ms / 1000 * 1.25 + 1.0)
    a2 = await ctx.client("A2", resume={"session": a.session, "seq": 0})
    assert a2.welcome is not None
    if a2.welcome.get("resumed") is not False or a2.welcome.get("session") == a.session:
        raise CaseFailed(
            f"resume {window_ms * 1.25 / 1000:.1f}s after the drop (window {window_ms} ms) "
            f"answered resumed={a2.welcome.get('resumed')!r}",
            requirement="RESUME-7",
        )


@case(
    id="RECON-06",
    requirements=("OPS-9", "RESUME-6"),
    title="frames re-sent after resume are applied once and answered again",
)
async def recon_06(ctx: CaseContext) -> None:
    """A publishes p1 (acked), sends p2 and is cut before its reply; A resumes and re-sends
    its subscribe s1, p1 and p2 with the same ids: each gets an ack, B receives p1 and p2
    exactly once, and A's own events arrive once [OPS-9, RESUME-6]."""
    channel = ctx.channel("once")
    proxy = await ctx.proxy()
    a = await ctx.client("A", via=proxy)
    b = await ctx.client("B")
    await b.subscribe(channel)
    subscribe: Frame = {"type": "subscribe", "id": "s1", "channel": channel}
    p1: Frame = {"type": "publish", "id": "p1", "channel": channel, "data": {"mark": new_mark(ctx)}}
    p2: Frame = {"type": "publish", "id": "p2", "channel": channel, "data": {"mark": new_mark(ctx)}}
    await a.request(subscribe, ok=True)
    await a.request(p1, ok=True)
    await a.send(p2)
    dropped_at = asyncio.get_running_loop().time()
    proxy.cut()
    await _ended(a, ctx.timeout)
    before = events(a)
    last = _contiguous_prefix(before)
    # p1 reached A (A is subscribed); p2 may or may not have been applied before the cut.
    worst = _expectation(ctx, a, behind=2 - last, dropped_at=dropped_at)
    best = _expectation(ctx, a, behind=max(0, 1 - last), dropped_at=dropped_at)
    expectation = worst if worst.expect is best.expect else ResumeExpectation(
        Resume.EITHER, f"{best.reason}; or {worst.reason}"
    )  # fmt: skip
    a2 = await ctx.client("A2", resume={"session": a.session, "seq": last}, via=proxy)
    assert a2.welcome is not None
    if not _check_answer(a2.welcome, expectation):
        await _check_refused(ctx, a2, a.session, channel, b)
        raise CaseSkipped(
            f"the session could not be resumed ({expectation.reason}); the new session was "
            "checked, but frames re-sent into it are new frames: OPS-9 across a resume "
            "cannot be observed with these limits",
            applicable=False,
        )
    for frame in (subscribe, p1, p2):
        reply = await a2.request(frame)
        if reply.get("type") != "ack":
            raise CaseFailed(
                f"re-sent {frame['type']} {frame['id']} answered {encode(reply)}; the first "
                "answer was (or would have been) an ack",
                requirement="OPS-9",
            )
    wanted = [p1["data"]["mark"], p2["data"]["mark"]]
    got_b = await barrier(ctx, b, channel)
    if marks(got_b) != wanted:
        raise CaseFailed(
            f"B received marks {marks(got_b)}; p1 and p2 were each to be applied once: {wanted}",
            requirement="OPS-9",
        )
    got_a = await barrier(ctx, a2, channel, publisher=b)
    all_a = [m for m in marks(before[:last]) + marks(got_a) if m in wanted]
    if all_a != wanted:
        raise CaseFailed(
            f"A received its own events as {all_a} across the resume; expected {wanted}",
            requirement="DELIVERY-6",
        )


async def _other_identity(ctx: CaseContext) -> str:
    """A token that is a different identity from the run's, or skip [SECURITY-2]."""
    if ctx.target.other_token:
        return ctx.target.other_token
    candidate = f"conformance-other-{ctx.run_id}"
    probe = await ctx.connect("probe")
    await probe.send({"type": "hello", "version": 1, "token": candidate})
    try:
        first = await probe.next_frame(ctx.timeout)
    except CaseFailed:
        first = {}
    await probe.close()
    if first.get("type") != "welcome":
        raise CaseSkipped(
            "the server rejects arbitrary tokens and no --other-token was given: "
            "cannot act as a second identity"
        )
    return candidate


@case(
    id="RECON-07",
    requirements=("SECURITY-2", "RESUME-12"),
    title="resume under another identity: resumed:false, the session left untouched",
)
async def recon_07(ctx: CaseContext) -> None:
    """A drops; X, with another token, resumes A's session: refused (a new session, as for an
    unknown one). Then A resumes and still receives everything [SECURITY-2]."""
    other = await _other_identity(ctx)
    channel = ctx.channel("mine")
    proxy = await ctx.proxy()
    a = await ctx.client("A", via=proxy)
    await a.subscribe(channel)
    b = await ctx.client("B")
    first = new_mark(ctx)
    await b.publish(channel, {"mark": first})
    await wait_marks(a, channel, [first], timeout=ctx.timeout, requirement="CONF-1")
    dropped_at = asyncio.get_running_loop().time()
    proxy.cut()
    await _ended(a, ctx.timeout)
    missed = new_mark(ctx)
    await b.publish(channel, {"mark": missed})
    x = await ctx.client("X", token=other, resume={"session": a.session, "seq": 1})
    assert x.welcome is not None
    if x.welcome.get("resumed") is not False or x.welcome.get("session") == a.session:
        raise CaseFailed(
            f"another identity resumed A's session: {encode(x.welcome)[:300]}",
            requirement="SECURITY-2",
        )
    stolen = [f for f in x.unclaimed() if f.get("type") == "event"]
    if stolen:
        raise CaseFailed(f"the impostor received {encode(stolen[0])}", requirement="SECURITY-2")
    await x.close()
    expectation = _expectation(ctx, a, behind=1, dropped_at=dropped_at)
    a2 = await ctx.client("A2", resume={"session": a.session, "seq": 1}, via=proxy)
    assert a2.welcome is not None
    resumed = a2.welcome.get("resumed") is True
    if not resumed and expectation.expect is Resume.REQUIRED:
        raise CaseFailed(
            "after the refused resume by another identity, the rightful resume answered "
            f"resumed={a2.welcome.get('resumed')!r} ({expectation.reason}): the refused "
            "request changed the session",
            requirement="RESUME-12",
        )
    if not _check_answer(a2.welcome, expectation):
        # The limits let the session go anyway: the impostor's refusal was what could be seen.
        await _check_refused(ctx, a2, a.session, channel, b)
        return
    replay = await a2.events(1, timeout=ctx.timeout, requirement="RESUME-3")
    if marks(replay) != [missed] or replay[0].get("seq") != 2:
        raise CaseFailed(
            f"the rightful resume replayed {encode(replay[0])}, expected the missed event "
            f"{missed} with seq 2",
            requirement="RESUME-3",
        )


@case(
    id="RECON-08",
    requirements=("RESUME-4",),
    title="resuming a session still attached elsewhere closes the old connection with 4411",
)
async def recon_08(ctx: CaseContext) -> None:
    """A is connected; A2 resumes A's session on a second connection: A2 is resumed and A
    is closed with 4411 [RESUME-4]."""
    a = await ctx.client("A")
    channel = ctx.channel("moved")
    await a.subscribe(channel)
    a2 = await ctx.client("A2", resume={"session": a.session, "seq": 0})
    assert a2.welcome is not None
    if a2.welcome.get("resumed") is not True:
        raise CaseFailed(
            f"resume of an attached session answered resumed={a2.welcome.get('resumed')!r}",
            requirement="RESUME-2",
        )
    code = await a.expect_close(ctx.timeout, requirement="RESUME-4")
    if code != 4411:
        raise CaseFailed(
            f"the replaced connection was closed with {code}, not 4411", requirement="RESUME-4"
        )
