"""The bound on detached sessions in all: past it, the one detached longest ago goes
(limits.md LIMIT-13).

``welcome`` does not announce that bound (it depends on every other client), so the case runs
only when the suite knows it: ``--max-detached-total N`` (or the flag of a reference server the
suite starts itself). It then detaches N + 1 sessions of distinct identities, one after the
other, and resumes them: the first must be gone, the last ones kept.
"""

from __future__ import annotations

import asyncio
import math

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped

__all__ = ["detach_01_the_oldest_detached_session_goes_first"]

MOST_SESSIONS = 256
"""Sessions the case detaches at most (the bound + 1)."""


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@case(
    id="DETACH-01",
    requirements=("LIMIT-13",),
    title="past the bound on detached sessions in all, the one detached longest ago is "
    "discarded, of any identity, and the newer ones stay resumable",
    timeout=120.0,
)
async def detach_01_the_oldest_detached_session_goes_first(ctx: CaseContext) -> None:
    """With the server's bound N on detached sessions in all (not announced: given to the
    suite), sessions S0…SN of distinct identities (one token each; on a server that
    authenticates, the run's two tokens, within ``max_detached_sessions`` each) are opened
    and detached one after the other. SN's detach is beyond the bound: S0, detached longest
    ago, must be discarded (a resume gets ``resumed: false``), while SN and the session
    halfway stay resumable [LIMIT-13]."""
    total = ctx.target.max_detached_total
    if total is None:
        raise CaseSkipped(
            "the server's bound on detached sessions in all is not announced (LIMIT-13): "
            "give --max-detached-total N to check it",
            applicable=False,
        )
    if total < 1 or total + 1 > MOST_SESSIONS:
        raise CaseSkipped(
            f"--max-detached-total {total}: the case detaches at most {MOST_SESSIONS} sessions",
            applicable=False,
        )
    tokens = _identities(ctx, total + 1)
    first = await ctx.client("S0", token=tokens[0])
    limits = first.limits
    window = _count(limits.get("resume_window_ms"))
    if not window:
        raise CaseSkipped(
            "resume_window_ms 0: no session is kept detached, the bound never applies",
            applicable=False,
        )
    if ctx.target.token is not None:
        per_identity = _count(limits.get("max_detached_sessions"))
        needed = math.ceil((total + 1) / len(set(tokens)))
        if per_identity is None or per_identity < needed:
            raise CaseSkipped(
                f"the server authenticates: {total + 1} sessions over {len(set(tokens))} "
                f"identities need {needed} detached sessions per identity, and "
                f"max_detached_sessions is {per_identity} (LIMIT-12 would apply first)",
                applicable=False,
            )
    loop = asyncio.get_running_loop()
    sessions: list[tuple[str, str, float]] = []
    """(session, token, when it was detached), in detach order."""
    client = first
    for n in range(total + 1):
        if n:
            client = await ctx.client(f"S{n}", token=tokens[n])
        session = client.session
        if session is None:  # pragma: no cover - hello() raises without a welcome
            raise CaseFailed("no session id in welcome", requirement="HANDSHAKE-2")
        # Every end of a connection detaches its session [RESUME-10]; one after the other.
        await client.close()
        sessions.append((session, tokens[n], loop.time()))
    ctx.note(f"{total + 1} sessions detached one after the other (bound {total} in all)")
    newest, middle, oldest = sessions[-1], sessions[len(sessions) // 2], sessions[0]
    checks = [(newest, True, "detached last"), (oldest, False, "detached longest ago")]
    if middle is not newest and loop.time() - middle[2] < window / 2000:
        checks.insert(1, (middle, True, "detached halfway"))
    for (session, token, _), kept, which in checks:
        probe = await ctx.client(
            f"R-{session[:6]}", token=token, resume={"session": session, "seq": 0}
        )
        resumed = bool(probe.welcome and probe.welcome.get("resumed"))
        await probe.close()
        if resumed != kept:
            raise CaseFailed(
                f"after {total + 1} sessions detached (bound {total} in all), the session "
                f"{which} answered resumed: {str(resumed).lower()}: the server must discard "
                "the one detached longest ago, and only that one",
                requirement="LIMIT-13",
            )


def _identities(ctx: CaseContext, count: int) -> list[str]:
    """One token per session; on a server that authenticates, the run's tokens in turn."""
    if ctx.target.token is None:
        return [f"conformance-{ctx.run_id}-detach-{n}" for n in range(count)]
    mine = [ctx.target.token] + ([ctx.target.other_token] if ctx.target.other_token else [])
    return [mine[n % len(mine)] for n in range(count)]
