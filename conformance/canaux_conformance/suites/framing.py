"""Frame headers at the boundaries of RFC 6455's length encoding (spec transport.md
TRANSPORT-25).

The frame audit (:mod:`~canaux_conformance.frame_audit`) reads the header of every WebSocket
frame every connection receives; most cases never make a server write a payload on a
boundary of the length encoding, where a server that picks the wrong form shows. This one
does: it has the server send event frames of exactly 125 and 126 bytes (the last length of
the 7-bit field, the first of the 16-bit form) and 65,535 and 65,536 bytes (the last of the
16-bit form, the first of the 64-bit one), as many of them as the announced
``max_frame_bytes`` lets a publish carry: a WebSocket publish frame is a few bytes longer than
its event, so the two longest go through ``POST /publish`` (whose body is shorter) when the
run has a publish URL and the WebSocket publish would not fit.

Its broken servers (tests/conformance/test_framing.py) are the reference writing a 125-byte
frame's length in the 16-bit form (the mutant ``ws_protocol.py write_texts``: ``size < 126``
→ ``size < 125``, which survived the power run of seed 20261208) and a 65,535-byte one's in
the 64-bit form.
"""

from __future__ import annotations

import json

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped
from canaux_conformance.wire import RawClient, encode

__all__ = ["BOUNDARIES", "framing_01_length_boundaries"]

BOUNDARIES = (125, 126, 65535, 65536)
"""Payload lengths on each side of the 7-bit / 16-bit and 16-bit / 64-bit boundaries."""

ATTEMPTS = 3
"""Publishes tried per boundary: a seq gaining a digit moves the event's length by one."""


@case(
    id="FRAMING-01",
    requirements=("TRANSPORT-25",),
    title="event frames of 125, 126, 65,535 and 65,536 bytes carry their length in the "
    "minimal encoding",
)
async def framing_01_length_boundaries(ctx: CaseContext) -> None:
    """A publishes on a channel it subscribed to, padding each event's data from the length
    of the event frame before, until the server has sent an event frame of exactly each
    boundary length; the frame audit checks each header [TRANSPORT-25]. An event too long
    for a WebSocket publish within ``max_frame_bytes`` is published through ``POST
    /publish`` when the run has a publish URL (its body is shorter than the event frame)."""
    channel = ctx.channel("fr")
    client = await ctx.client("A")
    await client.subscribe(channel, timeout=ctx.timeout)
    sizer = _Sizer(ctx, client, channel)
    await sizer.publish(0, http=False)
    reachable = [size for size in BOUNDARIES if sizer.route(size) is not None]
    limit = client.max_frame_bytes
    if not reachable:
        raise CaseSkipped(
            f"max_frame_bytes {limit} leaves no room for a publish whose event is "
            f"{BOUNDARIES[0]} bytes long"
        )
    for size in reachable:
        await sizer.reach(size)
    client.check()
    if len(reachable) < len(BOUNDARIES):
        left = ", ".join(str(size) for size in BOUNDARIES if size not in reachable)
        how = "" if ctx.target.publish_url else " and the run has no --publish-url"
        ctx.note(f"event frames of {left} bytes not tried: max_frame_bytes is {limit}{how}")


class _Sizer:
    """Publishes on the channel and measures each event frame as A receives it."""

    def __init__(self, ctx: CaseContext, client: RawClient, channel: str) -> None:
        self.ctx, self.client, self.channel = ctx, client, channel
        self.overhead = 0
        """Bytes of the last event frame beyond its padding and its seq's digits."""
        self.seq = 0
        self.published = 0
        empty = {"type": "publish", "id": self._id(), "channel": channel, "data": self._data(0)}
        self.publish_overhead = len(encode(empty).encode())
        # httpx writes the body with json.dumps; its default separators are the widest.
        body = {"channel": channel, "data": self._data(0)}
        self.http_overhead = len(json.dumps(body).encode())

    def _id(self) -> str:
        # One width for every id, so that the publish overhead measured once holds.
        return f"fr-{self.published:03d}"

    def _data(self, pad: int) -> dict[str, str]:
        return {"pad": "x" * pad}

    def _pad_for(self, size: int) -> int:
        return size - self.overhead - len(str(self.seq + 1))

    def route(self, size: int) -> bool | None:
        """How an event of ``size`` bytes can be published within ``max_frame_bytes``:
        ``False`` over the WebSocket, ``True`` through ``POST /publish``, ``None`` not at
        all. Two bytes of slack: the seq may gain a digit before the event."""
        pad = self._pad_for(size)
        if pad < 0:
            return None
        limit = self.client.max_frame_bytes
        if limit is None or self.publish_overhead + pad + 2 <= limit:
            return False
        if self.ctx.target.publish_url and self.http_overhead + pad + 2 <= limit:
            return True
        return None

    async def publish(self, pad: int, *, http: bool) -> int:
        """Publish data padded by ``pad`` bytes; the length of the event frame A receives."""
        data = self._data(pad)
        self.published += 1
        if http:
            response = await self.ctx.http_publish(self.channel, data)
            if response.status_code == 401:
                raise CaseSkipped(
                    f"POST {self.ctx.target.publish_url} refused the run's credentials (401): "
                    "the long boundaries need --publish-token"
                )
            if response.status_code != 202:
                raise CaseFailed(
                    f"POST {self.ctx.target.publish_url} of {self.http_overhead + pad} bytes "
                    f"on a conformance channel answered {response.status_code} "
                    f"{response.text[:200]}",
                    requirement="HTTP-4",
                )
        else:
            await self.client.publish(self.channel, data, id=self._id(), timeout=self.ctx.timeout)
        frame = await self.client.expect(
            "event", channel=self.channel, timeout=self.ctx.timeout, requirement="CONF-1"
        )
        if frame.get("data") != data:
            raise CaseFailed(
                f"the event of seq {frame.get('seq')} carries {frame.get('data')!r:.200}, not "
                "the data published",
                requirement="DELIVERY-5",
            )
        self.seq = frame["seq"]
        size = self.client.event_bytes[self.seq]
        self.overhead = size - pad - len(str(self.seq))
        return size

    async def reach(self, size: int) -> None:
        """Have the server send an event frame of exactly ``size`` bytes."""
        for _ in range(ATTEMPTS):
            http = self.route(size)
            if http is None:
                break
            if await self.publish(max(0, self._pad_for(size)), http=http) == size:
                return
        raise CaseSkipped(
            f"no event frame of exactly {size} bytes after {ATTEMPTS} publishes padded from "
            "the length of the one before (the server's event frames vary in length)"
        )
