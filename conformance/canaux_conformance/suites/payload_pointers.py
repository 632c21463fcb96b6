"""A refused publish points at the member at fault (spec: channels.md CHANNEL-5).

``invalid_payload`` carries a ``pointer`` that locates the offending value inside the publish
frame. For a member the schema does not allow, that is the member itself, wherever it stands
among the allowed ones: a pointer at the first member of ``data`` (the command's ``op``)
would send a client looking at the one member that is right.
"""

from __future__ import annotations

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.wire import encode

__all__: list[str] = []


@case(
    id="PTR-01",
    requirements=("CHANNEL-5",),
    profile="playqueue",
    title="a command with a member its schema does not allow is refused pointing at that member",
)
async def ptr_01(ctx: CaseContext) -> None:
    """A sends the playqueue command ``{"op": "pause", "zzz": 1}`` (pause allows ``op`` and
    ``if_version`` only): the error is ``invalid_payload`` with pointer ``/data/zzz``
    [CHANNEL-5]."""
    ctx.require_channel("playqueue")
    a = await ctx.client("A")
    frame = {
        "type": "publish",
        "id": "extra-member",
        "channel": "playqueue",
        "data": {"op": "pause", "zzz": 1},
    }
    reply = await a.request(frame)
    if reply.get("type") != "error" or reply.get("code") != "invalid_payload":
        raise CaseFailed(
            f"a pause command with the member zzz, which its schema does not allow, was "
            f"answered {encode(reply)[:200]}, not invalid_payload",
            requirement="CHANNEL-5",
        )
    if reply.get("pointer") != "/data/zzz":
        raise CaseFailed(
            f"the invalid_payload for the member zzz points at {reply.get('pointer')!r}, "
            "not '/data/zzz': the pointer locates the offending value",
            requirement="CHANNEL-5",
        )
