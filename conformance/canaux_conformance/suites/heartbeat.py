"""Heartbeat cases: pings at the advertised interval, pongs, silent clients dropped (heartbeat.md).

Timing cases read ``heartbeat_ms`` from the welcome and wait on the server's clock, so they
are marked ``waits=True`` and run alongside the other cases. Margins are generous (a loaded
CI machine is slow) but bounded: at most the suite's ``--timeout`` over the spec's bound.
"""

from __future__ import annotations

import asyncio

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped
from canaux_conformance.wire import RawClient

__all__ = [
    "hb_01_server_pings",
    "hb_02_pong",
    "hb_03_silent_client_dropped",
    "hb_04_answering_client_kept",
    "hb_05_any_frame_is_life",
]

LONGEST_WAIT_S = 120.0
"""Heartbeat intervals beyond what a test run should wait for are skipped, not waited."""


def _interval(client: RawClient) -> float:
    welcome = client.welcome or {}
    value = welcome.get("heartbeat_ms")
    if not isinstance(value, int):
        raise CaseFailed("welcome.heartbeat_ms missing", requirement="HANDSHAKE-9")
    return value / 1000.0


def _margin(ctx: CaseContext, interval: float) -> float:
    return min(max(1.0, interval * 0.5), ctx.timeout)


@case(
    id="HB-01",
    requirements=("HEARTBEAT-1",),
    title="an idle connection gets a frame (a ping) at least every heartbeat_ms",
    waits=True,
    timeout=3 * LONGEST_WAIT_S,
)
async def hb_01_server_pings(ctx: CaseContext) -> None:
    """The client answers pings and sends nothing else; the gaps between server frames are
    measured over two pings (one with --quick)."""
    client = await ctx.client("A")
    interval = _interval(client)
    if interval > LONGEST_WAIT_S:
        raise CaseSkipped(f"heartbeat_ms {interval * 1000:.0f} is longer than this run waits")
    margin = _margin(ctx, interval)
    loop = asyncio.get_running_loop()
    last = loop.time()
    wanted = 1 if ctx.budget.name == "quick" else 2
    for count in range(1, wanted + 1):
        try:
            pings = await client.wait_pings(count, interval + margin)
        except CaseFailed as exc:
            if client.closed:
                raise CaseFailed(
                    f"connection closed with {client.close_code} while answering every ping",
                    requirement="HEARTBEAT-3",
                ) from exc
            raise CaseFailed(
                f"no ping within {interval + margin:.1f}s of silence "
                f"(heartbeat_ms {interval * 1000:.0f})"
            ) from exc
        at, ping = pings[count - 1]
        gap = at - last
        ctx.note(f"ping {ping.get('nonce')!r} after {gap:.2f}s")
        if gap > interval + margin:
            raise CaseFailed(f"{gap:.2f}s between server frames, heartbeat_ms is {interval:.1f}s")
        last = at


@case(
    id="HB-02",
    requirements=("HEARTBEAT-2",),
    title="the server answers a client ping with a pong carrying the same nonce",
)
async def hb_02_pong(ctx: CaseContext) -> None:
    client = await ctx.client("A")
    for nonce in ("n-1", "nonce with spaces é", ""):
        await client.ping(nonce)
    await client.send({"type": "ping"})
    pong = await client.expect("pong")
    if "nonce" in pong:
        raise CaseFailed(f"a ping without nonce was answered {pong}: there is no nonce to echo")


@case(
    id="HB-03",
    requirements=("HEARTBEAT-3",),
    title="a client silent for 2 × heartbeat_ms is closed with 4410",
    waits=True,
    timeout=3 * LONGEST_WAIT_S,
)
async def hb_03_silent_client_dropped(ctx: CaseContext) -> None:
    """After the hello the client sends nothing at all, not even pongs."""
    client = await ctx.client("A", auto_pong=False)
    interval = _interval(client)
    if interval > LONGEST_WAIT_S:
        raise CaseSkipped(f"heartbeat_ms {interval * 1000:.0f} is longer than this run waits")
    loop = asyncio.get_running_loop()
    started = loop.time()
    limit = 2 * interval + _margin(ctx, interval) + 1.0
    code = await client.expect_close(limit, requirement="HEARTBEAT-3")
    waited = loop.time() - started
    ctx.note(f"closed with {code} after {waited:.2f}s of client silence")
    if code != 4410:
        raise CaseFailed(
            f"a silent client was closed with {code} after {waited:.1f}s, expected 4410"
        )
    pings = [frame for frame in client.received if frame.get("type") == "ping"]
    if not pings:
        raise CaseFailed(
            f"the server dropped the client without a ping in {waited:.1f}s",
            requirement="HEARTBEAT-1",
        )


@case(
    id="HB-04",
    requirements=("HEARTBEAT-3", "HEARTBEAT-2"),
    title="a client that only answers pings stays connected past 2 × heartbeat_ms",
    waits=True,
    timeout=3 * LONGEST_WAIT_S,
)
async def hb_04_answering_client_kept(ctx: CaseContext) -> None:
    """Pongs are signs of life: a quiet client that answers every ping must not be dropped."""
    client = await ctx.client("A")
    interval = _interval(client)
    if interval > LONGEST_WAIT_S:
        raise CaseSkipped(f"heartbeat_ms {interval * 1000:.0f} is longer than this run waits")
    window = 2 * interval + _margin(ctx, interval) + 1.0
    await client.expect_nothing(window, where=lambda f: f.get("type") == "error")
    if client.closed:
        raise CaseFailed(
            f"closed with {client.close_code} although every ping was answered",
            requirement="HEARTBEAT-3",
        )
    await client.ping("still-here")


@case(
    id="HB-05",
    requirements=("HEARTBEAT-8", "HEARTBEAT-3"),
    title="any frame is a sign of life: a client that never pongs but pings itself stays",
    waits=True,
    timeout=3 * LONGEST_WAIT_S,
)
async def hb_05_any_frame_is_life(ctx: CaseContext) -> None:
    """The client ignores the server's pings and sends its own ping every half interval; the
    server must restart its silence timer on those frames too."""
    client = await ctx.client("A", auto_pong=False)
    interval = _interval(client)
    if interval > LONGEST_WAIT_S:
        raise CaseSkipped(f"heartbeat_ms {interval * 1000:.0f} is longer than this run waits")
    window = 2 * interval + _margin(ctx, interval) + 1.0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + window
    beat = 0
    while loop.time() < deadline:
        beat += 1
        try:
            await client.ping(f"beat-{beat}", timeout=interval / 2)
        except CaseFailed as exc:
            if not client.closed:
                raise
            raise CaseFailed(
                f"closed with {client.close_code} after {beat} client pings in "
                f"{window - (deadline - loop.time()):.1f}s",
                requirement="HEARTBEAT-8",
            ) from exc
        # The pong arrived early; the rest of the half interval passes without sending.
        await client.expect_nothing(
            max(0.0, min(interval / 2, deadline - loop.time())),
            where=lambda f: f.get("type") == "error",
        )
