"""Two resumes of one session at the same moment (spec: resume.md, RESUME-4 and RESUME-15).

When two connections ask to resume one session together, the server handles one hello after
the other: the later one wins the session and the earlier connection is closed with ``4411``.
That earlier connection sent a valid ``hello``, so it is owed its ``welcome`` first
[HANDSHAKE-2]: the loser learns it held the session and lost it, instead of seeing a 4411 out
of nowhere [RESUME-15]. Which of the two wins is the server's choice; the case accepts either.

The race needs no announced limit beyond what RECON-08 already relies on: the session stays
attached to its first connection, so even a window of 0 allows the takeovers, and the replay
is a single event (``resume_buffer`` of 1 holds it).
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio

from canaux_conformance.cases import CaseContext, CaseSkipped, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.suites._delivery import events, new_mark, wait_marks
from canaux_conformance.wire import Frame, RawClient, encode

__all__: list[str] = []


async def _first_closed(clients: list[RawClient], timeout: float) -> RawClient | None:
    """The first of ``clients`` the server closes within ``timeout`` (``None``: none did)."""
    waits = {asyncio.create_task(c.expect_close(timeout)): c for c in clients if not c.closed}
    closed = [c for c in clients if c.closed]
    if closed:
        for task in waits:
            task.cancel()
        return closed[0]
    try:
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
    finished = [waits[t] for t in done if not t.cancelled() and t.exception() is None]
    return finished[0] if finished else None


def _send_together(clients: list[RawClient], text: str) -> None:
    """Write ``text`` on every client's socket in one go, with no await in between, so that
    the frames reach the server in the same instant (``RawClient.send`` yields between them).

    The frames go through the connections' own protocol objects (framing, masking), and into
    each client's stream audit and the transcript like any other frame."""
    for client in clients:
        client.audit.sent(text)
        client.transcript.add(client.name, "send", text)
        client.connection.protocol.send_text(text.encode())
    for client in clients:
        for data in client.connection.protocol.data_to_send():
            client.connection.transport.write(data)


def _shown(frames: list[Frame]) -> str:
    return ", ".join(encode(f)[:120] for f in frames[:4]) or "nothing"


@case(
    id="RACE-01",
    requirements=("RESUME-15", "RESUME-4", "HANDSHAKE-2"),
    title="two resumes of one session at once: the loser gets its welcome, then 4411",
)
async def race_01(ctx: CaseContext) -> None:
    """A subscribes and gets one event. B and C open, then send the same resume hello for A's
    session at the same moment. Every connection the server closes with 4411 got its welcome
    (resumed: true, A's session) first, then at most the replay, in order [RESUME-15]; exactly
    one of B and C keeps the session and still receives the channel [RESUME-4]."""
    buffer = ctx.server.limit("resume_buffer", 1024) if ctx.server else 1024
    if buffer < 1:
        raise CaseSkipped(
            f"resume_buffer is {buffer}: no replay can be asked for", applicable=False
        )
    channel = ctx.channel("race")
    a = await ctx.client("A")
    await a.subscribe(channel)
    first = new_mark(ctx, "before")
    await a.publish(channel, {"mark": first})
    await wait_marks(a, channel, [first], timeout=ctx.timeout, requirement="CONF-1")
    last = max(int(f["seq"]) for f in events(a))
    b, c = await ctx.connect("B"), await ctx.connect("C")
    hello = ctx.hello_frame(resume={"session": a.session, "seq": last - 1})
    ctx.note("B and C send the same resume hello at the same moment")
    _send_together([b, c], encode(hello))
    loser = await _first_closed([b, c], ctx.timeout)
    if loser is None:
        ctx.check()  # a frame violation B or C saw meanwhile is the finding
        raise CaseFailed(
            f"two resumes of one session: neither B nor C was closed within {ctx.timeout:g}s; "
            "the session can be held by one connection only, the other is closed with 4411",
            requirement="RESUME-4",
        )
    winner = c if loser is b else b
    got = [f for f in loser.received if f.get("type") != "ping"]
    code = loser.close_code
    if not got or got[0].get("type") != "welcome":
        raise CaseFailed(
            f"client {loser.name} lost the race and was closed with {code} after {_shown(got)}, "
            "without its welcome: a valid hello is answered with welcome before the 4411 close",
            requirement="RESUME-15",
        )
    welcome = got[0]
    if welcome.get("resumed") is not True or welcome.get("session") != a.session:
        raise CaseFailed(
            f"client {loser.name} got {encode(welcome)[:200]} before it was closed with {code}: "
            "the connection that lost the session had resumed it (resumed: true, the same "
            "session) when the other took it over",
            requirement="RESUME-15",
        )
    between = got[1:]
    if [f.get("type") for f in between] != ["event"] * len(between) or [
        f.get("seq") for f in between
    ] != list(range(last, last + len(between))):
        raise CaseFailed(
            f"client {loser.name}: between its welcome and the close came {_shown(between)}; "
            f"only (part of) the replay may, in order from seq {last}",
            requirement="RESUME-15",
        )
    if code != 4411:
        raise CaseFailed(
            f"client {loser.name}, whose session the other resume took, was closed with {code}, "
            "not 4411",
            requirement="RESUME-4",
        )
    ctx.note(f"{loser.name} lost the race (welcome, {len(between)} replayed, 4411)")
    # The winner holds the session: its welcome, the whole replay, then live events.
    won = await winner.expect("welcome", timeout=ctx.timeout, requirement="HANDSHAKE-2")
    if won.get("resumed") is not True or won.get("session") != a.session:
        raise CaseFailed(
            f"client {winner.name}, which won the race, got {encode(won)[:200]}",
            requirement="RESUME-4",
        )
    await wait_marks(winner, channel, [first], timeout=ctx.timeout, requirement="RESUME-3")
    code_a = await a.expect_close(ctx.timeout, requirement="RESUME-4")
    if code_a != 4411:
        raise CaseFailed(
            f"A, whose session was resumed elsewhere, was closed with {code_a}, not 4411",
            requirement="RESUME-4",
        )
    d = await ctx.client("D")
    live = new_mark(ctx, "after")
    await d.publish(channel, {"mark": live})
    await wait_marks(winner, channel, [live], timeout=ctx.timeout, requirement="RESUME-4")
    if winner.closed:
        raise CaseFailed(
            f"both B and C were closed (the winner with {winner.close_code}): the later "
            "resume holds the session",
            requirement="RESUME-4",
        )
