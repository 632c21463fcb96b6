"""What a server keeps for sessions that are gone, in bytes and in number (spec: limits.md).

The optional members of ``welcome.limits`` [LIMIT-14] say how much a server keeps for a
detached session: ``resume_buffer_bytes`` bounds its buffer in bytes [LIMIT-11, LIMIT-5] and
``max_detached_sessions`` the detached sessions of one identity [LIMIT-12]. Past either bound
the server forgets, and says so: a resume gets ``resumed: false``, never a replay with a gap.
A server that announces neither is not judged here (the cases do not apply).
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.

from __future__ import annotations

import asyncio
import secrets

from canaux_conformance.cases import CaseContext, CaseSkipped, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.resume_rules import Resume, resume_expectation
from canaux_conformance.suites._delivery import new_mark, wait_marks
from canaux_conformance.wire import encode

__all__: list[str] = []

_MOST_SESSIONS = 256
"""The most sessions MEM-01 opens: beyond, the case would flood the server it judges."""

_MOST_EVENTS = 512
"""The most events MEM-02 publishes."""

_BODY_BYTES = 60000
"""Length of the body of each large event MEM-02 publishes (less when frames are smaller)."""


def _window_ms(ctx: CaseContext) -> int:
    return ctx.server.limit("resume_window_ms", 120000) if ctx.server else 120000


def _announced(ctx: CaseContext, name: str) -> int:
    """An optional limit the server announced [LIMIT-14]; the case does not apply without it."""
    value = ctx.server.limit(name, 0) if ctx.server else 0
    if value < 1:
        raise CaseSkipped(
            f"the server announces no {name} (optional, LIMIT-14): the bound it keeps is unknown",
            applicable=False,
        )
    return value


def _resumable(ctx: CaseContext) -> int:
    """The window, when a session detached a moment ago can still be resumed (RESUME-2 (2))."""
    window = _window_ms(ctx)
    if window < 1000:
        raise CaseSkipped(
            f"resume_window_ms is {window}: the server may discard a detached session at once "
            "(RESUME-2), so nothing is kept to bound",
            applicable=False,
        )
    return window


def _own_identity(ctx: CaseContext) -> str:
    """A token no other case uses, so that pushing this identity's detached sessions out never
    touches a session another case (running meanwhile) means to resume [LIMIT-12]."""
    if ctx.target.token is None:
        return f"conformance-detached-{ctx.run_id}-{secrets.token_hex(4)}"
    if ctx.target.other_token:
        return ctx.target.other_token  # other cases only ask refused resumes with it
    raise CaseSkipped(
        "the server authenticates: pushing the run's own identity's detached sessions out "
        "would disturb other cases; give --other-token"
    )


@case(
    id="MEM-01",
    requirements=("LIMIT-12",),
    title="one identity detaching more than max_detached_sessions sessions loses the oldest",
)
async def mem_01(ctx: CaseContext) -> None:
    """With ``max_detached_sessions`` N announced, an identity of the case's own opens N + 2
    sessions and closes them one after another (1000: detached [RESUME-10]). The first is
    pushed out: its resume gets resumed: false, a new session at seq 0, never a replay with a
    gap; the third, among the newest N, still resumes [LIMIT-12, RESUME-2]."""
    window = _resumable(ctx)
    kept = _announced(ctx, "max_detached_sessions")
    if kept + 2 > _MOST_SESSIONS:
        raise CaseSkipped(
            f"max_detached_sessions is {kept}: the case opens at most {_MOST_SESSIONS} sessions"
        )
    identity = _own_identity(ctx)
    loop = asyncio.get_running_loop()
    clients = []
    for start in range(0, kept + 2, 8):  # a few handshakes at a time, not a flood
        names = [f"D{n}" for n in range(start, min(start + 8, kept + 2))]
        clients += await asyncio.gather(*(ctx.client(name, token=identity) for name in names))
    # Closed one after another: the detach order is the close order [RESUME-10].
    sessions: list[tuple[str, float]] = []
    for client in clients:
        assert client.session is not None
        await client.close(1000)
        sessions.append((client.session, loop.time()))
    limits = {"resume_window_ms": window}
    first, first_closed = sessions[0]
    in_time = resume_expectation(limits, behind=0, since_drop_s=loop.time() - first_closed)
    if in_time.expect is not Resume.REQUIRED:
        raise CaseSkipped(
            f"closing {kept + 2} sessions took too long for resume_window_ms {window}: the "
            "first may have expired anyway, so its refusal would prove nothing"
        )
    refused = await ctx.client("R", token=identity, resume={"session": first, "seq": 0})
    assert refused.welcome is not None
    if refused.welcome.get("resumed") is not False:
        raise CaseFailed(
            f"{kept + 2} sessions of one identity were detached, max_detached_sessions is "
            f"{kept}, and the first still resumed ({encode(refused.welcome)}): the one "
            "detached longest ago must be discarded",
            requirement="LIMIT-12",
        )
    if refused.welcome.get("seq") != 0 or refused.session == first:
        raise CaseFailed(
            f"the refused resume answered {encode(refused.welcome)}, not a new session at seq 0",
            requirement="RESUME-2",
        )
    third, third_closed = sessions[2]
    expectation = resume_expectation(limits, behind=0, since_drop_s=loop.time() - third_closed)
    if expectation.expect is not Resume.REQUIRED:
        ctx.note(f"not checking that the third session is kept: {expectation}")
        return
    again = await ctx.client("K", token=identity, resume={"session": third, "seq": 0})
    assert again.welcome is not None
    if again.welcome.get("resumed") is not True:
        raise CaseFailed(
            f"the third of {kept + 2} detached sessions, among the newest {kept} an identity "
            f"may keep, was not resumed ({encode(again.welcome)})",
            requirement="LIMIT-12",
        )


@case(
    id="MEM-02",
    requirements=("LIMIT-11", "LIMIT-5"),
    title="a detached session that missed more than resume_buffer_bytes is not resumed",
)
async def mem_02(ctx: CaseContext) -> None:
    """A subscribes and closes (detached); B publishes K large events, more than
    ``resume_buffer_bytes`` of data in all but fewer than ``resume_buffer`` events. A's buffer
    cannot hold them all, so its resume must get resumed: false: a replay would have a gap
    [LIMIT-11, LIMIT-5, RESUME-2 (5)]."""
    window = _resumable(ctx)
    budget = _announced(ctx, "resume_buffer_bytes")
    count = ctx.server.limit("resume_buffer", 1) if ctx.server else 1
    frame_bytes = ctx.server.limit("max_frame_bytes", 4096) if ctx.server else 4096
    body = min(_BODY_BYTES, frame_bytes - 512)
    # Each event carries at least `body` bytes, so K of them hold more than the budget.
    k = budget // body + 1
    if k < 2 or k > count:
        raise CaseSkipped(
            f"{k} events of {body} bytes exceed resume_buffer_bytes {budget}, but "
            f"resume_buffer is {count}: the count bound refuses such a resume first",
            applicable=False,
        )
    if k > _MOST_EVENTS:
        raise CaseSkipped(f"{k} events of {body} bytes: more than the case publishes")
    channel = ctx.channel("bytes")
    a, b = await ctx.client("A"), await ctx.client("B")
    await a.subscribe(channel)
    await b.subscribe(channel)
    await a.close(1000)
    loop = asyncio.get_running_loop()
    closed_at = loop.time()
    filler = "x" * body
    sent = [new_mark(ctx, f"big{n}") for n in range(k)]
    for mark in sent:
        await b.publish(channel, {"mark": mark, "body": filler})
    # Every event reached B, so each was assigned to A's session too [RESUME-8].
    await wait_marks(b, channel, sent, timeout=ctx.timeout, requirement="CONF-1")
    in_time = resume_expectation(
        {"resume_window_ms": window}, behind=0, since_drop_s=loop.time() - closed_at
    )
    if in_time.expect is not Resume.REQUIRED:
        raise CaseSkipped(
            f"publishing {k} events took too long for resume_window_ms {window}: the session "
            "may have expired anyway, so a refusal would prove nothing"
        )
    a2 = await ctx.client("A2", resume={"session": a.session, "seq": 0})
    assert a2.welcome is not None
    if a2.welcome.get("resumed") is not False:
        raise CaseFailed(
            f"A missed {k} events of over {body} bytes each ({k * body} bytes of data), "
            f"resume_buffer_bytes is {budget}, and its resume answered resumed="
            f"{a2.welcome.get('resumed')!r}: the buffer cannot hold them all",
            requirement="LIMIT-11",
        )
