"""A foreign ``Origin`` is refused before the upgrade, or not at all (security.md SECURITY-14).

A server may serve browsers from some origins only [SECURITY-8]; which ones is its deployment's
choice, so the suite cannot know whether an origin is foreign to it. What SECURITY-14 fixes is
the form of a refusal: HTTP 403 before the upgrade, never an upgrade that is then closed. The
case offers an origin no server serves (``.invalid`` is reserved, RFC 2606) and accepts either
answer: a ``welcome`` (the server does not refuse it) or HTTP 403.
"""

from __future__ import annotations

from websockets.exceptions import ConnectionClosed

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.wire import HandshakeRefused

__all__: list[str] = []

FOREIGN = "http://canaux-conformance.invalid"


@case(
    id="ORIGIN-01",
    requirements=("SECURITY-14",),
    title="a page on a foreign origin gets welcome or HTTP 403, never an upgrade then a close",
)
async def origin_01_foreign_origin(ctx: CaseContext) -> None:
    try:
        client = await ctx.connect("A", headers={"Origin": FOREIGN})
    except HandshakeRefused as refused:
        if refused.status == 403:
            return  # refused before the upgrade, as SECURITY-14 says
        raise CaseFailed(
            f"an upgrade with Origin {FOREIGN} was refused with "
            f"{'HTTP ' + str(refused.status) if refused.status else 'no HTTP status'}; a "
            "refusal for its origin is HTTP 403",
            requirement="SECURITY-14",
        ) from refused
    hello = {"type": "hello", "version": 1}
    if ctx.target.token:
        hello["token"] = ctx.target.token
    try:
        await client.send(hello)
    except ConnectionClosed as closed:
        raise CaseFailed(
            f"upgraded with Origin {FOREIGN}, then closed ({closed}); a server that refuses an "
            "origin answers HTTP 403 before the upgrade",
            requirement="SECURITY-14",
        ) from closed
    # A close here (the server upgraded, then refused) fails SECURITY-14 too.
    frame = await client.next_frame(requirement="SECURITY-14")
    if frame.get("type") != "welcome":
        raise CaseFailed(
            f"upgraded with Origin {FOREIGN}, then sent {frame.get('type')!r} instead of "
            "welcome; a server that refuses an origin answers HTTP 403 before the upgrade",
            requirement="SECURITY-14",
        )
