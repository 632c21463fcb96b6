"""A connection that stops reading: the bounded outbound queue ends it and never skips an event
(limits.md LIMIT-4, LIMIT-15, delivery.md DELIVERY-8).

The bound is the one ``welcome.limits`` announces (``outbound_queue`` and
``outbound_queue_bytes``, optional): the case publishes past it, plus what the operating system
may buffer on the way (:data:`OS_BUFFERS`), to a reader whose bytes the suite's proxy holds back,
while the reader keeps sending (so it is slow, not silent, HEARTBEAT-3).

The server's ``4503`` Close frame waits behind the bytes it already wrote (LIMIT-15): the reader
sees it only once it reads again, and a server that waited long enough for that may end the
TCP connection without it. So the case publishes from several connections at once, each
within its own token bucket, to pass the bound within about a second, then lets the reader read
again at once: a ``4503`` close, or an abrupt end, both after a gapless run of events.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from typing import Any

from websockets.exceptions import ConnectionClosed

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped
from canaux_conformance.wire import RawClient

__all__ = ["slow_01_reader_that_stops_reading"]

OS_BUFFERS = 16 * 2**20
"""Bytes the sockets between the server and the suite's proxy may hold (spec/limits.md: on one
host, a few megabytes; Linux autotunes a send buffer up to 4 MiB by default)."""

EVENT_BYTES = 65_000
"""Most bytes of one event frame the case publishes (less when ``max_frame_bytes`` is lower)."""

FRAME_OVERHEAD = 256
"""Bytes of a publish frame around its body (type, id, channel, the data's other members)."""

MOST_PUBLISHERS = 16
"""Connections the case publishes from at most, each within its own token bucket."""

PUBLISH_SECONDS = 1.0
"""How long the publishers may take, at the announced ``max_rate``, to pass the bound: the
reader reads again right after, well within any wait of LIMIT-15."""

CLOSE_WAIT = 2.0
"""Seconds a server SHOULD wait for a reader to take its 4503 close frame [LIMIT-15]."""

EXTRA_EVENTS = 4
"""Events beyond the computed bound, for rounding and the frames that are not events."""


def _bound(limits: dict[str, Any], size: int) -> int | None:
    """Bytes past which the announced outbound queue has surely overflowed (events of
    ``size``), or ``None`` when neither of its bounds is announced."""
    frames, volume = limits.get("outbound_queue"), limits.get("outbound_queue_bytes")
    bounds = []
    if isinstance(frames, int) and not isinstance(frames, bool) and frames >= 1:
        bounds.append(frames * size)
    if isinstance(volume, int) and not isinstance(volume, bool) and volume >= 1:
        bounds.append(volume)
    # [LIMIT-4] overflow once EITHER bound is passed; one more event beyond the smaller one.
    return min(bounds) + size if bounds else None


async def _publish_all(publishers: list[RawClient], channel: str, count: int, body: str) -> None:
    """Publish ``count`` events on ``channel``, shared out among ``publishers`` (each paced
    within its own token bucket by the suite's client), in seq order per publisher."""
    marks = iter(range(count))

    async def one(publisher: RawClient) -> None:
        for n in marks:
            await publisher.publish(channel, {"mark": f"s{n}", "body": body}, ok=True)

    await asyncio.gather(*(one(p) for p in publishers))


@case(
    id="SLOW-01",
    requirements=("LIMIT-4", "DELIVERY-8", "LIMIT-15"),
    title="a reader that stops reading is cut past the announced outbound bound (4503, or an "
    "abrupt end once the close waited); the events it got have no gap",
    timeout=120.0,
)
async def slow_01_reader_that_stops_reading(ctx: CaseContext) -> None:
    """R subscribes through the suite's proxy, which then holds back every byte from the
    server; publishers P1…Pk publish past the announced outbound bound plus 16 MiB of
    operating-system buffers on R's channel within about a second, while R keeps sending
    pings. Then R reads again: it gets events with contiguous seqs from 1 and then the end of
    the connection, a close with 4503 [LIMIT-4] or an abrupt end [LIMIT-15], never every
    event; no event was skipped to keep R alive [DELIVERY-8]. An abrupt end the server made
    before R read again, less than 2 s into the stall, did not wait for R to take the close
    frame [LIMIT-15, SHOULD]."""
    channel = ctx.channel("slow")
    proxy = await ctx.proxy()
    reader = await ctx.client("R", via=proxy)
    await reader.subscribe(channel)
    limits = dict(reader.limits)
    frame_limit, rate = limits.get("max_frame_bytes"), limits.get("max_rate")
    heartbeat = reader.welcome.get("heartbeat_ms") if reader.welcome else None
    if not isinstance(frame_limit, int) or not isinstance(rate, int):
        raise CaseSkipped("welcome.limits lacks max_frame_bytes or max_rate", applicable=False)
    size = min(EVENT_BYTES, frame_limit - FRAME_OVERHEAD)
    bound = _bound(limits, size)
    if bound is None:
        raise CaseSkipped(
            "welcome.limits announces neither outbound_queue nor outbound_queue_bytes: the "
            "bound to pass is unknown",
            applicable=False,
        )
    count = math.ceil((bound + OS_BUFFERS) / size) + EXTRA_EVENTS
    # What one connection may publish in PUBLISH_SECONDS: the suite's pacer bursts half the
    # bucket, then goes at 80 % of max_rate (pacing.Pacer).
    per_publisher = max(1, rate // 2) + int(0.8 * rate * PUBLISH_SECONDS)
    needed = math.ceil(count / per_publisher)
    if needed > MOST_PUBLISHERS:
        raise CaseSkipped(
            f"{count} events of {size} bytes (outbound bound {bound} bytes + {OS_BUFFERS} of "
            f"buffers) would need {needed} publishing connections at max_rate {rate} to pass "
            f"the bound within {PUBLISH_SECONDS:g} s (at most {MOST_PUBLISHERS})",
            applicable=False,
        )
    publishers = [await ctx.client(f"P{n + 1}") for n in range(needed)]
    body = "x" * (size - FRAME_OVERHEAD // 2)
    proxy.stall_toward_client()
    ctx.note(
        f"R stops reading; {needed} publishers publish {count} events of ~{size} bytes "
        f"(outbound bound {bound} bytes + {OS_BUFFERS} bytes of buffers)"
    )
    stop = asyncio.Event()
    # Slow, not silent: a frame well within 2 × heartbeat_ms [HEARTBEAT-3], no more than one
    # ping a second [HEARTBEAT-6].
    interval = max(1.0, (heartbeat if isinstance(heartbeat, int) else 1000) / 2000)

    async def keep_talking() -> None:
        n = 0
        while not stop.is_set() and not reader.closed:
            n += 1
            try:
                await reader.send({"type": "ping", "nonce": f"alive-{n}"})
            except ConnectionClosed:
                return  # the server ended R's connection: judged once R reads again
            try:
                async with asyncio.timeout(interval):
                    await stop.wait()
            except TimeoutError:
                continue

    loop = asyncio.get_running_loop()
    stalled_at = loop.time()
    talker = asyncio.create_task(keep_talking())
    try:
        await _publish_all(publishers, channel, count, body)
    finally:
        stop.set()
        await talker
        stalled_for = loop.time() - stalled_at
        # Seen while R was not reading: when the server ended its connection, if it did.
        ended_at = proxy.server_end_seen
        proxy.resume()
    await _expect_the_end(ctx, reader, channel, count, size, bound)
    if reader.close_code != 1006:
        return
    if ended_at is None:
        ctx.note(f"R's connection ended abruptly once R read again ({stalled_for:.1f} s stall)")
        return
    # The server cannot have decided on 4503 before R stopped reading: it waited at most this.
    waited = ended_at - stalled_at
    ctx.note(f"the server ended R's connection {waited:.2f} s after R stopped reading")
    if waited < CLOSE_WAIT:
        raise CaseFailed(
            f"the server ended R's connection without a close frame {waited:.2f} s after R "
            f"stopped reading: it did not wait {CLOSE_WAIT:g} s for R to take the 4503 close "
            "frame",
            requirement="LIMIT-15",
        )


def _events(reader: RawClient, channel: str) -> list[int]:
    return [
        f["seq"]
        for f in reader.received
        if f.get("type") == "event" and f.get("channel") == channel
    ]


async def _expect_the_end(
    ctx: CaseContext, reader: RawClient, channel: str, count: int, size: int, bound: int
) -> None:
    """R reads again: a gapless run of events, then the end of the connection, before it got
    every event (a server that held them all never bounded its queue)."""
    await reader.wait_until(
        lambda: len(_events(reader, channel)) >= count, timeout=max(ctx.timeout, 30.0)
    )
    reader.check()
    seqs = _events(reader, channel)
    if seqs != list(range(1, len(seqs) + 1)):
        gaps = [b for a, b in itertools.pairwise(seqs) if b != a + 1]
        raise CaseFailed(
            f"R received {len(seqs)} events with a gap (seq {gaps[0] if gaps else seqs[0]} "
            "not after the one before)",
            requirement="DELIVERY-8",
        )
    said = (
        f"R stopped reading while {count} events of ~{size} bytes were published (outbound "
        f"bound {bound} bytes + {OS_BUFFERS} bytes of buffers) and read again"
    )
    if not reader.closed:
        raise CaseFailed(
            f"{said}: it got {len(seqs)} events and the connection is still open",
            requirement="LIMIT-4",
        )
    code = reader.close_code
    if code == 4503:
        ctx.note(f"R: {len(seqs)} events, then closed with 4503")
        return
    if code == 1006:
        # [LIMIT-15] the server's wait for R to take the close frame ran out: an abrupt end.
        ctx.note(f"R: {len(seqs)} events, then an abrupt end (no close frame)")
        return
    raise CaseFailed(
        f"{said}: it got {len(seqs)} events, then a close with {code} "
        f"({reader.close_reason!r}), not 4503",
        requirement="LIMIT-4",
    )
