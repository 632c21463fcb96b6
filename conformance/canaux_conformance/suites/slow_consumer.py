"""A connection that stops reading: the bounded outbound queue ends it with 4503 and never
skips an event (limits.md LIMIT-4, delivery.md DELIVERY-8).

The bound is the one ``welcome.limits`` announces (``outbound_queue_bytes``, optional): the
case publishes that many bytes, plus what the operating system may buffer on the way (16 MiB), to a
reader whose bytes the suite's proxy holds back, while the reader keeps sending (so it is slow,
not silent, HEARTBEAT-3).
"""

from __future__ import annotations

import asyncio
import math

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped

__all__ = ["slow_01_reader_that_stops_reading"]

OS_BUFFERS = 16 * 2**20
"""Bytes the two sockets between the server and the proxy may hold on loopback (Linux
autotunes each up to a few MiB)."""

MOST_EVENTS = 1000
EVENT_BYTES = 60_000


@case(
    id="SLOW-01",
    requirements=("LIMIT-4", "DELIVERY-8"),
    title="a reader that stops reading is closed 4503 after the announced outbound bound; "
    "the events it got have no gap",
    timeout=180.0,
)
async def slow_01_reader_that_stops_reading(ctx: CaseContext) -> None:
    """R subscribes through the suite's proxy, which then holds back every byte from the
    server; P publishes ``outbound_queue_bytes`` + 16 MiB of events on R's channel while R keeps
    sending pings. When the proxy lets go, R reads events with contiguous seqs from 1 and then
    a close with 4503 [LIMIT-4], nothing after it; no event was skipped to keep R alive
    [DELIVERY-8]."""
    channel = ctx.channel("slow")
    proxy = await ctx.proxy()
    reader = await ctx.client("R", via=proxy)
    await reader.subscribe(channel)
    limits = reader.limits
    bound, frame_limit = limits.get("outbound_queue_bytes"), limits.get("max_frame_bytes")
    if not isinstance(bound, int) or not isinstance(frame_limit, int):
        raise CaseSkipped(
            "welcome.limits announces no outbound_queue_bytes: the bound to exceed is unknown",
            applicable=False,
        )
    size = min(EVENT_BYTES, frame_limit - 256)
    count = math.ceil((bound + OS_BUFFERS) / size) + 1
    if count > MOST_EVENTS:
        raise CaseSkipped(
            f"outbound_queue_bytes {bound}: more than {MOST_EVENTS} events of {size} bytes",
            applicable=False,
        )
    publisher = await ctx.client("P")
    proxy.stall_toward_client()
    ctx.note(f"R stops reading; P publishes {count} events of ~{size} bytes (bound {bound})")
    stop = asyncio.Event()

    async def keep_talking() -> None:
        n = 0
        while not stop.is_set() and not reader.closed:
            n += 1
            await reader.send({"type": "ping", "nonce": f"alive-{n}"})
            try:
                async with asyncio.timeout(0.3):
                    await stop.wait()
            except TimeoutError:
                continue

    talker = asyncio.create_task(keep_talking())
    try:
        body = "x" * (size - 120)
        for n in range(count):
            await publisher.publish(channel, {"mark": f"s{n}", "body": body}, ok=True)
    finally:
        stop.set()
        await talker
        proxy.resume()
    code = await reader.expect_close(timeout=max(ctx.timeout, 30.0), requirement="LIMIT-4")
    events = [
        f for f in reader.received if f.get("type") == "event" and f.get("channel") == channel
    ]
    seqs = [f["seq"] for f in events]
    if seqs != list(range(1, len(seqs) + 1)):
        raise CaseFailed(f"R received seqs {seqs[:5]}…{seqs[-5:]}: a gap", requirement="DELIVERY-8")
    if code != 4503:
        raise CaseFailed(
            f"R, which stopped reading while {count} events of ~{size} bytes were published "
            f"(outbound_queue_bytes {bound}), was closed with {code}, not 4503 "
            f"(after {len(seqs)} events)",
            requirement="LIMIT-4",
        )
