"""Messages the WebSocket layer fragmented: handled as the frames they reassemble to
(transport.md TRANSPORT-24).

RFC 6455 lets a sender split one message into a first frame and continuation frames; a
browser or a proxy may do so at will. Every case but this one sends each message in one
WebSocket frame.

Its broken server cannot be a relay of ``tests/conformance/broken/`` (the relay's WebSocket
layer reassembles what it receives): tests/conformance/test_fragmented.py runs the reference
with a WebSocket protocol that keeps only a message's first fragment.
"""

from __future__ import annotations

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.wire import RawClient, encode

__all__ = ["frag_01_fragmented_messages"]

FRAGMENTS = 3
"""WebSocket frames each of the case's messages is split into."""


@case(
    id="FRAG-01",
    requirements=("TRANSPORT-24",),
    title="a subscribe and a publish each sent in three WebSocket fragments are handled as "
    "the frames they reassemble to",
)
async def frag_01_fragmented_messages(ctx: CaseContext) -> None:
    """A subscribes to a channel with a subscribe frame sent in three fragments, then
    publishes on it, also in three fragments: each gets its ack, and the event A receives
    carries the published data whole [TRANSPORT-24]."""
    channel = ctx.channel("frag")
    client = await ctx.client("A")
    subscribe_id = client.next_id("fs")
    subscribe = {"type": "subscribe", "id": subscribe_id, "channel": channel}
    await client.send_text(encode(subscribe), fragments=FRAGMENTS)
    await _answered(client, subscribe_id, "subscribe")
    data = {"mark": f"frag-{ctx.run_id}", "body": {"text": "reassembled " * 40}}
    publish_id = client.next_id("fp")
    publish = {"type": "publish", "id": publish_id, "channel": channel, "data": data}
    await client.send_text(encode(publish), fragments=FRAGMENTS)
    await _answered(client, publish_id, "publish")
    event = await client.expect(
        "event", channel=channel, timeout=ctx.timeout, requirement="TRANSPORT-24"
    )
    if event.get("data") != data:
        raise CaseFailed(
            f"the event of the publish sent in {FRAGMENTS} fragments carries "
            f"{event.get('data')!r}, not the data published",
            requirement="TRANSPORT-24",
        )


async def _answered(client: RawClient, frame_id: str, what: str) -> None:
    reply = await client.expect(
        where=lambda f: f.get("type") in ("ack", "error") and f.get("id") == frame_id,
        what=f"the reply to the {what} sent in {FRAGMENTS} fragments",
        requirement="TRANSPORT-24",
    )
    if reply.get("type") != "ack":
        raise CaseFailed(
            f"the {what} sent in {FRAGMENTS} fragments was refused: {reply!r}",
            requirement="TRANSPORT-24",
        )
