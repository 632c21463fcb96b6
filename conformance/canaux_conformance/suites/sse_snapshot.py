"""A stream that lists ``playqueue`` gets the queue's state first (spec: sse.md, QUEUE-1).

Channel snapshots apply to SSE as to a WebSocket subscribe: the ``state`` event comes right
after the welcome, before anything else the stream is sent.
"""

from __future__ import annotations

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.suites.sse import _open, _welcome

__all__: list[str] = []


@case(
    id="SSE-QUEUE-01",
    requirements=("QUEUE-1",),
    profile="sse",
    title="an SSE stream that lists playqueue receives the queue's state right after welcome",
)
async def sse_queue_01(ctx: CaseContext) -> None:
    """``GET /events?channels=playqueue``: the message after the welcome is a ``playqueue``
    event whose data is a ``state`` [QUEUE-1]."""
    ctx.require_channel("playqueue")
    stream = await _open(ctx, ["playqueue"], "S")
    await _welcome(stream)
    message = await stream.next(requirement="QUEUE-1")
    frame = message.json()
    data = frame.get("data") if isinstance(frame, dict) else None
    if message.event != "playqueue" or not isinstance(data, dict) or data.get("type") != "state":
        raise CaseFailed(
            f"after the welcome the stream sent event {message.event!r} {message.data[:200]!r}, "
            "not the playqueue state: a stream listing playqueue gets its snapshot first",
            requirement="QUEUE-1",
        )
