"""Client cases: reconnection delays, judged as a distribution (spec CLIENT-1, CLIENT-5).

The scripted server measures every delay itself: from the moment it ends a connection to the
moment the client's next opening request arrives. Each delay must lie in
``[0, min(cap, base·2^n)]`` for its attempt number ``n``, and the delays divided by their
ceilings must look uniform on ``[0, 1]`` (full jitter): a one-sample Kolmogorov-Smirnov test at
significance 0.001 that allows each measured delay up to ``slack`` seconds of latency
(:mod:`canaux_conformance.client.uniformity`). The slack is measured, not guessed: twice
the slowest ping round trip seen in the case, and at least 20 ms. Only delays whose ceiling is
at least four slacks enter the fit (below that, no delay, a drawn one and the full ceiling look
alike), and at least six are needed, else the case says the machine is too busy to judge
instead of passing. A delay longer than its ceiling by more than 250 ms (or the slack, if
larger) fails on its own.

The cases ask a configurable client for short settings (the ceilings still grow 32-fold, so a
counter that never goes back to 0 shows), and judge a fixed one with the settings it declared.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from canaux_conformance.client.adapter import Adapter
from canaux_conformance.client.cases import client_case
from canaux_conformance.client.context import Backoff, ClientCaseContext
from canaux_conformance.client.scripted_server import (
    ScriptedConnection,
    ScriptedServer,
    new_session_id,
)
from canaux_conformance.client.uniformity import DelaySample, judge_uniform
from canaux_conformance.outcomes import CaseFailed, CaseSkipped

__all__ = ["ALPHA", "HEARTBEAT_MS", "INFORMATIVE", "LATE_ALLOWANCE", "MIN_INFORMATIVE", "MIN_SLACK"]

ALPHA = 0.001
"""Significance of the goodness-of-fit test: a correct client fails it once in a thousand runs."""
MIN_SLACK = 0.02
"""Seconds: the smallest latency allowance per delay."""
LATE_ALLOWANCE = 0.25
"""Seconds a delay may exceed its ceiling (a scheduling hiccup) before it fails on its own."""
INFORMATIVE = 4
"""A delay enters the fit only if its ceiling is at least this many latency allowances."""
MIN_INFORMATIVE = 6
"""Fewest delays the fit needs: six delays all at one end give p < 0.001 (D = 0.75)."""
HEARTBEAT_MS = 1000
"""The smallest heartbeat a welcome may announce: a connection proves healthy after it
(CLIENT-11), which sets the attempt number back to 0."""

_SHORT = {"base_ms": 50, "cap_ms": 1600}
"""Asked of a configurable client for the distribution: ceilings 0.05 s … 1.6 s."""
_TALL = {"base_ms": 1500, "cap_ms": 3000}
"""Asked for the 4429 case: a first delay long enough to tell from no delay at all, even on a
loaded machine where a reconnection "at once" reaches the server 0.2-0.4 s later (with a
0.4 s ceiling such a client passed the fit, 8 delays of 0.2-0.4 s looking uniform enough)."""
_CYCLES = {"quick": 2, "default": 4, "thorough": 8}
_AFTER_4429 = {"quick": 6, "default": 8, "thorough": 12}
_UNHEALTHY_CHAINS = {"quick": 2, "default": 3, "thorough": 6}
_MAX_CHAIN = 6
"""Failed attempts in a row per cycle (enough for the short settings to reach their cap)."""


@dataclass
class _Timeline:
    """One client's connections, and the delays between them as the server measured them."""

    ctx: ClientCaseContext
    server: ScriptedServer
    backoff: Backoff
    session: str = field(default_factory=new_session_id)
    rtts: list[float] = field(default_factory=list)

    async def connect(self, adapter: Adapter, settings: dict[str, int]) -> ScriptedConnection:
        await adapter.command("connect", url=self.server.url, token=None, backoff=settings)
        conn = await self.server.accept(timeout=self.ctx.timeout)
        await conn.hello(timeout=self.ctx.timeout)
        await conn.welcome(session=self.session, heartbeat_ms=HEARTBEAT_MS)
        await self.ctx.state(adapter, "connected")
        return conn

    async def ping(self, conn: ScriptedConnection, nonce: str) -> None:
        """One ping round trip, recorded: the latency the delays are allowed."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        await conn.send({"type": "ping", "nonce": nonce})
        pong = await conn.next(timeout=self.ctx.timeout, types=("pong",))
        # [HEARTBEAT-2] the client answers with the same nonce.
        if pong.get("nonce") != nonce:
            raise CaseFailed(
                f"ping nonce {nonce!r} answered with {pong.text!r}", requirement="HEARTBEAT-2"
            )
        self.rtts.append(loop.time() - started)

    async def stay_healthy(self, conn: ScriptedConnection, welcomed_at: float) -> None:
        """Keep ``conn`` open past ``heartbeat_ms`` after its welcome, measuring round trips."""
        for i in range(3):
            await self.ping(conn, f"rtt{len(self.rtts)}-{i}")
        loop = asyncio.get_running_loop()
        # Until the connection has proved healthy (CLIENT-11), with a margin for the client
        # reading the welcome late.
        remaining = welcomed_at + HEARTBEAT_MS / 1000 + 0.2 - loop.time()
        if remaining > 0 and await conn.wait_closed(timeout=remaining) is not None:
            raise CaseFailed(
                "the client closed a connection whose server answered every ping "
                f"(close code {conn.close_code})",
                requirement="HEARTBEAT-4",
            )

    async def next_attempt(self, ended_at: float, attempt: int) -> tuple[ScriptedConnection, float]:
        """The next connection after one ended at ``ended_at``; the measured delay."""
        wait = self.backoff.bound(attempt) + self.late + self.ctx.timeout
        conn = await self.server.accept(timeout=wait)
        return conn, conn.requested_at - ended_at

    @property
    def slack(self) -> float:
        return max(MIN_SLACK, 2 * max(self.rtts, default=0.0))

    @property
    def late(self) -> float:
        return max(LATE_ALLOWANCE, self.slack)

    def judge(self, samples: list[tuple[int, DelaySample]], requirement: str, what: str) -> None:
        """Fail ``requirement`` for a delay over its ceiling, or a spread unlike full jitter."""
        for attempt, sample in samples:
            if sample.measured > sample.ceiling + self.late:
                raise CaseFailed(
                    f"{what}: attempt {attempt} came after {sample.measured:.3f}s, over its "
                    f"ceiling min(cap, base·2^{attempt}) = {sample.ceiling:.3f}s "
                    f"(+{self.late:.3f}s allowed for latency)",
                    requirement=requirement,
                )
        # A delay whose ceiling is within a few latency allowances of 0 says nothing about its
        # spread (at once, drawn, or the full ceiling all look alike): on a busy machine the
        # fit would pass a client without jitter. Judge only the others, and when too few are
        # left, say the run could not judge rather than pass.
        informative = [s for _, s in samples if s.ceiling >= INFORMATIVE * self.slack]
        if len(informative) < MIN_INFORMATIVE:
            raise CaseSkipped(
                f"{what}: only {len(informative)} delay(s) have a ceiling of at least "
                f"{INFORMATIVE}x the latency allowance ({self.slack:.3f}s, twice the slowest "
                f"ping round trip), {MIN_INFORMATIVE} are needed to tell full jitter from none: "
                "the machine is too busy for this check"
            )
        verdict = judge_uniform(informative, slack=self.slack, alpha=ALPHA)
        self.ctx.note(
            f"{what}: {len(informative)} with a ceiling of at least {INFORMATIVE}x the allowance "
            f"judged: {verdict.describe()}"
        )
        if not verdict.uniform:
            shown = ", ".join(f"{s.measured:.3f}/{s.ceiling:.3f}" for _, s in samples[:24])
            raise CaseFailed(
                f"{what}: the delays are not spread like full jitter: {verdict.describe()}; "
                f"delays/ceilings (s): {shown}",
                requirement=requirement,
            )


def _settings(ctx: ClientCaseContext, adapter: Adapter, wanted: dict[str, int]) -> Backoff:
    info = adapter.info
    assert info is not None
    if info.configurable:
        return Backoff(wanted["base_ms"] / 1000, wanted["cap_ms"] / 1000)
    return ctx.backoff(adapter)


@client_case(
    id="CL-BACKOFF-01",
    requirements=("CLIENT-1",),
    title="reconnection delays: full jitter under min(cap, base·2^n), reset when healthy",
    timing=True,
)
async def cl_backoff_01(ctx: ClientCaseContext) -> None:
    """Cycles of: a healthy connection the server cuts, then failed attempts in a row (each cut
    before its welcome) until the ceiling reaches the cap; the last attempt is welcomed."""
    server = await ctx.server()
    adapter = await ctx.adapter()
    backoff = _settings(ctx, adapter, _SHORT)
    line = _Timeline(ctx, server, backoff)
    loop = asyncio.get_running_loop()
    conn = await line.connect(adapter, _SHORT)
    welcomed_at = loop.time()
    chain = next((n + 1 for n in range(_MAX_CHAIN) if backoff.bound(n) >= backoff.cap), _MAX_CHAIN)
    samples: list[tuple[int, DelaySample]] = []
    for cycle in range(_CYCLES.get(ctx.budget.name, 4)):
        await line.stay_healthy(conn, welcomed_at)
        ended_at = loop.time()
        conn.cut()
        for attempt in range(chain):
            conn, delay = await line.next_attempt(ended_at, attempt)
            sample = DelaySample(delay, backoff.bound(attempt))
            samples.append((attempt, sample))
            if cycle > 0 and attempt < 2 and delay > sample.ceiling + line.late:
                # [CLIENT-1] "The attempt number MUST go back to 0" after a healthy connection.
                raise CaseFailed(
                    f"after a connection that lasted {HEARTBEAT_MS} ms past its welcome, "
                    f"reconnection {attempt} came after {delay:.3f}s, over the ceiling "
                    f"{sample.ceiling:.3f}s of attempt {attempt} (+{line.late:.3f}s allowed): "
                    "the attempt number was not set back to 0",
                    requirement="CLIENT-1",
                )
            if attempt < chain - 1:
                ended_at = loop.time()
                conn.cut()  # a failed attempt: cut before any welcome
        await conn.hello(timeout=ctx.timeout)
        await conn.welcome(session=line.session, resumed=True, seq=0, heartbeat_ms=HEARTBEAT_MS)
        welcomed_at = loop.time()
    line.judge(samples, "CLIENT-1", f"{len(samples)} reconnection delays")


@client_case(
    id="CL-BACKOFF-02",
    requirements=("CLIENT-11", "CLIENT-1"),
    title="a connection closed before heartbeat_ms after its welcome is a failed attempt",
    timing=True,
)
async def cl_backoff_02(ctx: ClientCaseContext) -> None:
    """Chains of connections each welcomed and then cut at once: the attempt number must keep
    growing (the delays follow the growing ceilings), not start again at 0 after every
    welcome; a healthy connection between chains sets it back to 0."""
    server = await ctx.server()
    adapter = await ctx.adapter()
    backoff = _settings(ctx, adapter, _SHORT)
    line = _Timeline(ctx, server, backoff)
    loop = asyncio.get_running_loop()
    conn = await line.connect(adapter, _SHORT)
    welcomed_at = loop.time()
    chain = next((n + 1 for n in range(_MAX_CHAIN) if backoff.bound(n) >= backoff.cap), _MAX_CHAIN)
    samples: list[tuple[int, DelaySample]] = []
    for _ in range(_UNHEALTHY_CHAINS.get(ctx.budget.name, 3)):
        await line.stay_healthy(conn, welcomed_at)  # the attempt number is 0 again
        ended_at = loop.time()
        conn.cut()
        for attempt in range(chain):
            conn, delay = await line.next_attempt(ended_at, attempt)
            samples.append((attempt, DelaySample(delay, backoff.bound(attempt))))
            await conn.hello(timeout=ctx.timeout)
            await conn.welcome(session=line.session, resumed=True, seq=0, heartbeat_ms=HEARTBEAT_MS)
            welcomed_at = loop.time()
            if attempt < chain - 1:
                # The pong shows the client has read the welcome; then the cut comes well before
                # heartbeat_ms: [CLIENT-11] "A connection that ends before that [...] is a
                # failed attempt".
                await line.ping(conn, f"welcomed{len(samples)}")
                ended_at = loop.time()
                conn.cut()
    line.judge(samples, "CLIENT-11", f"{len(samples)} delays after connections cut at once")


@client_case(
    id="CL-BACKOFF-03",
    requirements=("CLIENT-5",),
    title="after close code 4429 the client waits a full backoff delay before reconnecting",
    timing=True,
)
async def cl_backoff_03(ctx: ClientCaseContext) -> None:
    """Healthy connections closed with 4429: each first reconnection must wait a delay drawn
    for attempt 0, not come back at once."""
    server = await ctx.server()
    adapter = await ctx.adapter()
    backoff = _settings(ctx, adapter, _TALL)
    line = _Timeline(ctx, server, backoff)
    loop = asyncio.get_running_loop()
    conn = await line.connect(adapter, _TALL)
    welcomed_at = loop.time()
    samples: list[tuple[int, DelaySample]] = []
    for _ in range(_AFTER_4429.get(ctx.budget.name, 8)):
        await line.stay_healthy(conn, welcomed_at)
        ended_at = loop.time()
        await conn.close(4429, "rate limited")
        conn, delay = await line.next_attempt(ended_at, 0)
        samples.append((0, DelaySample(delay, backoff.bound(0))))
        await conn.hello(timeout=ctx.timeout)
        await conn.welcome(session=line.session, resumed=True, seq=0, heartbeat_ms=HEARTBEAT_MS)
        welcomed_at = loop.time()
    line.judge(samples, "CLIENT-5", f"{len(samples)} reconnections after 4429")
