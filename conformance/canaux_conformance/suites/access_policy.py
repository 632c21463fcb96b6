"""An access policy that refuses a session (channels.md CHANNEL-13, CHANNEL-16; sse.md SSE-12),
seen through the conformance profile's ``conformance.forbidden`` (standard-channels.md CONF-4)."""

from __future__ import annotations

import json

import httpx

from canaux_conformance.audit import http_error_findings
from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped
from canaux_conformance.suites.exact_entries import conformance_entry
from canaux_conformance.wire import encode

__all__ = ["FORBIDDEN", "policy_01_refused_operations", "policy_02_refused_stream"]

FORBIDDEN = "conformance.forbidden"

MOST_SUBSCRIPTIONS = 256
"""Most subscriptions the case fills to put the policy before the subscription count."""


@case(
    id="POLICY-01",
    requirements=("CHANNEL-13", "CHANNEL-16", "CONF-4"),
    title="conformance.forbidden: subscribe and publish refused with forbidden, nothing kept",
)
async def policy_01_refused_operations(ctx: CaseContext) -> None:
    """A's subscribe to and publish on ``conformance.forbidden`` are each answered ``forbidden``
    [CHANNEL-13]; A stays unsubscribed (its unsubscribe is ``not_subscribed``, a server publish
    on the channel reaches nobody) [CHANNEL-16]; with every subscription slot taken, the policy
    still answers first: ``forbidden``, not ``too_many_subscriptions`` [CHANNEL-16]."""
    conformance_entry(ctx, FORBIDDEN, "client")
    a = await ctx.client("A")
    for frame in (
        {"type": "subscribe", "id": a.next_id("s"), "channel": FORBIDDEN},
        {"type": "publish", "id": a.next_id("p"), "channel": FORBIDDEN, "data": {"mark": "no"}},
    ):
        reply = await a.request(frame)
        if reply.get("type") != "error" or reply.get("code") != "forbidden":
            raise CaseFailed(
                f"{frame['type']} on {FORBIDDEN}, whose access policy refuses every session "
                f"(CONF-4), was answered {encode(reply)}; expected forbidden",
                requirement="CHANNEL-13",
            )
    reply = await a.unsubscribe(FORBIDDEN, ok=False)
    if reply.get("type") != "error" or reply.get("code") != "not_subscribed":
        raise CaseFailed(
            f"after a refused subscribe, unsubscribe {FORBIDDEN} answered {encode(reply)}: the "
            "session must have stayed unsubscribed (not_subscribed)",
            requirement="CHANNEL-16",
        )
    if ctx.target.publish_url:
        # The server may publish there; the refused subscriber must get none of it (the
        # stream audit fails the case on any event of a channel A is not subscribed to).
        response = await ctx.http_publish(FORBIDDEN, {"mark": "server"})
        if response.status_code != 202:
            raise CaseFailed(
                f"a server publish on {FORBIDDEN} answered {response.status_code}",
                requirement="HTTP-4",
            )
        await a.ping("after-the-server-publish")
    allowed = a.limits.get("max_subscriptions")
    if not isinstance(allowed, int) or allowed > MOST_SUBSCRIPTIONS:
        ctx.note(f"max_subscriptions {allowed}: the order against the count is not checked")
        return
    for n in range(allowed):
        await a.subscribe(ctx.channel(f"slot{n}"))
    reply = await a.subscribe(FORBIDDEN, ok=False)
    if reply.get("type") != "error" or reply.get("code") != "forbidden":
        raise CaseFailed(
            f"with all {allowed} subscriptions taken, subscribe {FORBIDDEN} answered "
            f"{encode(reply)}: the access policy comes before the count (forbidden)",
            requirement="CHANNEL-16",
        )


@case(
    id="POLICY-02",
    requirements=("SSE-12", "SSE-14", "SSE-15", "CONF-4"),
    profile="sse",
    title="GET /events naming conformance.forbidden: 403 forbidden, after the list's own checks",
)
async def policy_02_refused_stream(ctx: CaseContext) -> None:
    """``channels=conformance.forbidden`` and ``channels=<a conformance channel>,
    conformance.forbidden`` answer 403 forbidden [SSE-12]; ``channels=conformance.forbidden,
    nope`` answers 400 unknown_channel, the access policy coming after the list [SSE-14]."""
    conformance_entry(ctx, FORBIDDEN, "client")
    if not ctx.target.sse_url:
        raise CaseSkipped("no SSE endpoint (give --sse-url)")
    headers = {"Authorization": f"Bearer {ctx.target.token}"} if ctx.target.token else {}
    checks = (
        (FORBIDDEN, 403, "forbidden", "SSE-12"),
        (f"{ctx.channel('open')},{FORBIDDEN}", 403, "forbidden", "SSE-12"),
        (f"{FORBIDDEN},nowhere-{ctx.run_id}", 400, "unknown_channel", "SSE-14"),
    )
    async with httpx.AsyncClient(timeout=ctx.timeout, trust_env=False) as http:
        for channels, status, code, requirement in checks:
            async with http.stream(
                "GET", ctx.target.sse_url, params={"channels": channels}, headers=headers
            ) as response:
                body = b"" if response.status_code == 200 else await response.aread()
            ctx.note(f"GET /events channels={channels} -> {response.status_code} {body[:200]!r}")
            kind = response.headers.get("content-type", "")
            text = body.decode(errors="replace")
            for finding in http_error_findings(
                response.status_code, kind, text, requirement="SSE-15"
            ):
                raise CaseFailed(f"GET /events: {finding.message}", requirement=finding.requirement)
            try:
                value = json.loads(body) if body else None
            except ValueError:
                value = None
            got = value.get("code") if isinstance(value, dict) else None
            if response.status_code != status or got != code:
                raise CaseFailed(
                    f"GET /events?channels={channels} answered {response.status_code} code "
                    f"{got!r}; expected {status} {code}",
                    requirement=requirement,
                )
