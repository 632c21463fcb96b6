"""``GET /health`` counts an open legacy connection, and stops counting it once it closed
(http-publish.md HTTP-5: ``connections`` counts "WebSocket connections to ``/ws`` and to the
legacy endpoints")."""

from __future__ import annotations

import operator
from functools import partial

import httpx

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped
from canaux_conformance.suites.http_publish import health_url
from canaux_conformance.suites.sse import _HEALTH_ATTEMPTS, _connections, _count_reaches

__all__: list[str] = []


@case(
    id="LEG-HEALTH-01",
    requirements=("HTTP-5", "LEGACY-1"),
    profile="legacy",
    title="GET /health connections counts an open legacy socket, and stops counting it once closed",
)
async def leg_health_01(ctx: CaseContext) -> None:
    """``connections`` counts the legacy endpoints' WebSocket connections too [HTTP-5]: it
    goes up by (at least) one while the case's own ``/api/ws`` socket is open (a ping answered
    first, so the server has it [LEGACY-1]) and comes back down once the case closed it. The
    count is server-wide, so, as SSE-STREAM-10 does for streams, the case polls it (bounded)
    around its own socket and only fails when no cycle of ``_HEALTH_ATTEMPTS`` shows the
    socket counted and then released."""
    url = ctx.target.legacy_system_url
    if not url:
        raise CaseSkipped("no legacy /api/ws endpoint on this server", applicable=False)
    health = health_url(ctx.target.publish_url) if ctx.target.publish_url else None
    if health is None:
        raise CaseSkipped("no --publish-url ending in /publish: /health cannot be located",
                          applicable=False)  # fmt: skip
    problem = ""
    async with httpx.AsyncClient(timeout=ctx.timeout, trust_env=False) as http:
        for attempt in range(1, _HEALTH_ATTEMPTS + 1):
            before = await _connections(ctx, http, health)
            client = await ctx.connect(f"legacy-{attempt}", url=url, subprotocols=None,
                                       legacy=True)  # fmt: skip
            await client.send({"type": "ping"})
            await client.expect("pong", requirement="LEGACY-7")
            counted, during = await _count_reaches(ctx, http, health, partial(operator.lt, before))
            await client.close()
            if not counted:
                problem = f"connections stayed {during} (was {before}) with a legacy socket open"
                continue
            released, after = await _count_reaches(ctx, http, health, partial(operator.gt, during))
            ctx.note(f"health connections: {before} before, {during} open, {after} closed")
            if released:
                return
            problem = f"connections stayed {after} after the legacy socket ({during}) closed"
    raise CaseFailed(f"{problem} ({_HEALTH_ATTEMPTS} tries)", requirement="HTTP-5")
