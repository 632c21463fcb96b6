"""A legacy ping is answered with a pong and nothing else (legacy.md).

LEGACY-7 says what the answer to ``{"type": "ping"}`` is; LEGACY-3 says which frames get an
error notice, and a ping is none of them (on ``/api/ws`` it is the one frame not answered
``forbidden``). A server that also treats the ping as a chat frame answers it twice.
"""

from __future__ import annotations

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped
from canaux_conformance.wire import Frame, encode

__all__: list[str] = []


def _error_notice(frame: Frame) -> bool:
    data = frame.get("data")
    return (
        frame.get("channel") == "system"
        and isinstance(data, dict)
        and data.get("level") == "error"
        and data.get("code") in ("bad_frame", "forbidden")
    )


@case(
    id="LEG-PING-01",
    requirements=("LEGACY-7", "LEGACY-3"),
    profile="legacy",
    title="a legacy ping gets its pong and no error notice, on both legacy endpoints",
)
async def leg_ping_01(ctx: CaseContext) -> None:
    """On each legacy endpoint: ping, pong, ping again, pong again; no bad_frame or forbidden
    notice arrives before the second pong (frames of one socket are answered in order)."""
    urls = [u for u in (ctx.target.legacy_chat_url, ctx.target.legacy_system_url) if u]
    if not urls:
        raise CaseSkipped("no legacy endpoint on this server", applicable=False)
    for url in urls:
        client = await ctx.connect("legacy", url=url, subprotocols=None, legacy=True)
        for _ in range(2):
            await client.send({"type": "ping"})
            await client.expect("pong", requirement="LEGACY-7", what=f"pong on {url}")
        notices = [f for f in client.received if _error_notice(f)]
        if notices:
            raise CaseFailed(
                f"{url} answered a ping with a pong and also {encode(notices[0])}; a ping is "
                "answered with a pong only",
                requirement="LEGACY-7",
            )
        await client.close()
