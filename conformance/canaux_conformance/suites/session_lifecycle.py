"""A session's life across connections: detach, resume, takeover, refusal (spec: resume.md).

These cases complement the reconnection suite with what it left unnamed: a client's own
polite close detaches the session like any other end [RESUME-10, RESUME-8]; a refused resume
request leaves the session it named alone, even right after a takeover [RESUME-12]; a refusal
looks exactly like a fresh hello [RESUME-13]; a resumed session never gets lower limits
[LIMIT-6]. Every case reads the announced window and buffer and skips, saying why, when they
make its scenario impossible.
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.

from __future__ import annotations

import asyncio
import contextlib
import secrets

from canaux_conformance.cases import CaseContext, CaseSkipped, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.suites._delivery import barrier, events, new_mark, wait_marks
from canaux_conformance.wire import Frame, encode

__all__: list[str] = []

_WAIT_CEILING_MS = {"quick": 5000, "default": 15000, "thorough": 150000}
"""The longest resume window a budget waits out."""


def _window_ms(ctx: CaseContext) -> int:
    return ctx.server.limit("resume_window_ms", 120000) if ctx.server else 120000


def _resumable(ctx: CaseContext) -> None:
    """Skip unless a session detached a moment ago can still be resumed (RESUME-2 (2), (5))."""
    window = _window_ms(ctx)
    if window < 1000:
        raise CaseSkipped(
            f"resume_window_ms is {window}: the server may discard a detached session at once "
            "(RESUME-2), so no resume can be expected",
            applicable=False,
        )


def _other_identity(ctx: CaseContext) -> str:
    """A token naming another identity than the run's (SECURITY-2)."""
    if ctx.target.other_token:
        return ctx.target.other_token
    if ctx.target.token:
        raise CaseSkipped("the server authenticates: a second identity needs --other-token")
    return f"conformance-other-{ctx.run_id}"


@case(
    id="LIFE-01",
    requirements=("RESUME-10", "RESUME-8"),
    title="a session the client closed with 1000 is detached, not ended: it resumes in full",
)
async def life_01(ctx: CaseContext) -> None:
    """A subscribes, publishes p1 (acked) and closes politely (1000); B publishes while A is
    away. A resumes: resumed, the event it missed is replayed, the subscription still delivers,
    and p1 re-sent with its id is answered again without being applied twice [RESUME-10,
    RESUME-8]."""
    _resumable(ctx)
    channel = ctx.channel("polite")
    a, b = await ctx.client("A"), await ctx.client("B")
    await b.subscribe(channel)
    await a.subscribe(channel)
    sent = new_mark(ctx, "p1")
    p1: Frame = {"type": "publish", "id": "p1", "channel": channel, "data": {"mark": sent}}
    await a.request(p1, ok=True)
    await wait_marks(a, channel, [sent], timeout=ctx.timeout, requirement="CONF-1")
    await wait_marks(b, channel, [sent], timeout=ctx.timeout, requirement="CONF-1")
    last = max((int(f["seq"]) for f in events(a)), default=0)
    await a.close(1000)
    missed = new_mark(ctx, "missed")
    await b.publish(channel, {"mark": missed})
    await wait_marks(b, channel, [missed], timeout=ctx.timeout, requirement="CONF-1")
    a2 = await ctx.client("A2", resume={"session": a.session, "seq": last})
    assert a2.welcome is not None
    if a2.welcome.get("resumed") is not True:
        raise CaseFailed(
            f"a resume right after the client's own Close 1000 answered "
            f"resumed={a2.welcome.get('resumed')!r}: the close must detach the session, "
            "not end it",
            requirement="RESUME-10",
        )
    await wait_marks(a2, channel, [missed], timeout=ctx.timeout, requirement="RESUME-8")
    seen = len(events(b))
    reply = await a2.request(p1)
    if reply.get("type") != "ack":
        raise CaseFailed(
            f"p1 re-sent after the resume answered {encode(reply)}; its remembered reply is an ack",
            requirement="RESUME-8",
        )
    before = (await barrier(ctx, b, channel))[seen:]
    again = [f for f in before if isinstance(f.get("data"), dict) and f["data"].get("mark") == sent]
    if again:
        raise CaseFailed(
            f"the re-sent p1 was applied again: B received {encode(again[0])}",
            requirement="RESUME-8",
        )


@case(
    id="LIFE-02",
    requirements=("RESUME-12", "RESUME-4"),
    title="after a takeover, a refused resume of that session leaves the live connection alone",
    waits=True,
    timeout=300.0,
)
async def life_02(ctx: CaseContext) -> None:
    """A subscribes; B resumes A's session (A is closed with 4411); the resume window passes;
    C, another identity, asks to resume the session and is refused (resumed: false). B, which
    holds the session, still receives the channel's events [RESUME-12]."""
    window = _window_ms(ctx)
    ceiling = _WAIT_CEILING_MS.get(ctx.budget.name, 15000)
    if window > ceiling:
        raise CaseSkipped(
            f"resume_window_ms is {window}; the {ctx.budget.name} budget waits at most "
            f"{ceiling} ms (use --thorough)"
        )
    other = _other_identity(ctx)
    channel = ctx.channel("live")
    a = await ctx.client("A")
    await a.subscribe(channel)
    b = await ctx.client("B", resume={"session": a.session, "seq": 0})
    assert b.welcome is not None
    if b.welcome.get("resumed") is not True:
        raise CaseSkipped(
            f"the takeover itself answered resumed={b.welcome.get('resumed')!r} (RECON-08 "
            "judges that); nothing to refuse"
        )
    code = await a.expect_close(requirement="RESUME-4")
    if code != 4411:
        raise CaseFailed(
            f"the replaced connection closed with {code}, not 4411", requirement="RESUME-4"
        )
    # The scenario is the window passing on the server's clock: there is no event to wait for.
    ctx.note(f"waiting {window * 1.5 / 1000 + 0.5:.1f}s: the resume window ({window} ms) passes")
    await asyncio.sleep(window * 1.5 / 1000 + 0.5)
    c = await ctx.client("C", token=other, resume={"session": a.session, "seq": 0})
    assert c.welcome is not None
    if c.welcome.get("resumed") is not False:
        raise CaseFailed(
            "another identity resumed the session (SECURITY-2 refuses it)",
            requirement="SECURITY-2",
        )
    publisher = await ctx.client("P")
    mark = new_mark(ctx, "after-refusal")
    await publisher.publish(channel, {"mark": mark})
    try:
        await wait_marks(b, channel, [mark], timeout=ctx.timeout, requirement="RESUME-12")
    except CaseFailed as failure:
        raise CaseFailed(
            "after a refused resume request for its session, the connection that holds the "
            f"session no longer receives its events: {failure.message}",
            requirement="RESUME-12",
        ) from failure


@case(
    id="LIFE-03",
    requirements=("RESUME-13",),
    title="a refused resume is answered exactly like a hello without resume",
)
async def life_03(ctx: CaseContext) -> None:
    """A fresh hello and a hello resuming a session that never existed get welcomes with the
    same members, seq 0, the same limits and catalogue, and a new session id: nothing tells
    why [RESUME-13]."""
    fresh = await ctx.client("F")
    bogus = secrets.token_urlsafe(16)
    refused = await ctx.client("R", resume={"session": bogus, "seq": 3})
    assert fresh.welcome is not None
    assert refused.welcome is not None
    one, two = fresh.welcome, refused.welcome
    if two.get("resumed") is not False or two.get("session") in (bogus, one.get("session")):
        raise CaseFailed(
            f"resume of an unknown session answered {encode(two)}", requirement="RESUME-2"
        )
    differences = []
    if set(one) != set(two):
        differences.append(f"members {sorted(set(one) ^ set(two))} differ")
    for member in ("seq", "version", "heartbeat_ms", "limits", "channels"):
        if one.get(member) != two.get(member):
            differences.append(f"{member}: {one.get(member)!r} vs {two.get(member)!r}")
    if differences:
        raise CaseFailed(
            "the refusal of a resume is distinguishable from a fresh welcome: "
            + "; ".join(differences),
            requirement="RESUME-13",
        )


@case(
    id="LIFE-04",
    requirements=("LIMIT-6",),
    title="a resumed session keeps limits at least as high as its first welcome's",
)
async def life_04(ctx: CaseContext) -> None:
    """A is cut and resumes: every limit of the new welcome is at least the old one
    [LIMIT-6]."""
    _resumable(ctx)
    proxy = await ctx.proxy()
    a = await ctx.client("A", via=proxy)
    channel = ctx.channel("limits")
    await a.subscribe(channel)
    proxy.cut()
    with contextlib.suppress(CaseFailed):
        await a.expect_close()
    a2 = await ctx.client("A2", resume={"session": a.session, "seq": 0})
    assert a.welcome is not None
    assert a2.welcome is not None
    if a2.welcome.get("resumed") is not True:
        raise CaseFailed(
            f"a resume right after a cut answered resumed={a2.welcome.get('resumed')!r}",
            requirement="RESUME-2",
        )
    lowered = {
        name: (value, a2.limits.get(name))
        for name, value in a.limits.items()
        if isinstance(value, int)
        and isinstance(a2.limits.get(name), int)
        and a2.limits[name] < value
    }
    if lowered:
        raise CaseFailed(
            f"limits lowered on resume (before, after): {lowered}", requirement="LIMIT-6"
        )
