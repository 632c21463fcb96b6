"""``/api/ws`` is receive-only: a chat frame sent there is refused and not acted upon
(legacy.md) [LEGACY-1, LEGACY-3]."""

from __future__ import annotations

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseSkipped
from canaux_conformance.wire import Frame

__all__: list[str] = []


def _forbidden(frame: Frame) -> bool:
    data = frame.get("data")
    return (
        frame.get("channel") == "system"
        and isinstance(data, dict)
        and data.get("level") == "error"
        and data.get("code") == "forbidden"
    )


@case(
    id="LEG-RO-01",
    requirements=("LEGACY-3", "LEGACY-1"),
    profile="legacy",
    title="a valid chat frame sent to /api/ws gets forbidden and no chat reply",
)
async def leg_ro_01(ctx: CaseContext) -> None:
    """On /api/ws, A sends a valid flat chat message: it is answered with a forbidden notice
    [LEGACY-3], then a ping and its pong; no chat event reaches A, now or in the next
    seconds (/api/ws carries system and progress only, and the message was not a request)
    [LEGACY-1]."""
    url = ctx.target.legacy_system_url
    if not url:
        raise CaseSkipped("no legacy /api/ws endpoint on this server", applicable=False)
    client = await ctx.connect("legacy", url=url, subprotocols=None, legacy=True)
    await client.send({"message": f"not a request here {ctx.run_id}"})
    await client.expect(where=_forbidden, requirement="LEGACY-3", what="a forbidden notice")
    await client.send({"type": "ping"})
    await client.expect("pong", requirement="LEGACY-7")
    await client.expect_nothing(
        min(ctx.timeout, 2.0),
        where=lambda f: f.get("channel") == "chat",
        requirement="LEGACY-1",
        what="chat event on /api/ws after a refused chat frame",
    )
