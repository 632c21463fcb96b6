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

A second reader never reads again: the server, which decided to close it, must end its
connection within 15 seconds all the same (transport.md TRANSPORT-23), or a client that never
reads would hold its socket, and the server's memory, for ever.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped
from canaux_conformance.wire import Frame, RawClient

__all__ = ["slow_01_reader_that_stops_reading", "slow_02_legacy_reader_that_stops_reading"]

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

END_BOUND = 15.0
"""Seconds within which a server that decided to close a connection must end it (TCP), whether
or not the client reads [TRANSPORT-23]."""

END_ALLOWANCE = 3.0
"""Seconds the suite allows beyond :data:`END_BOUND`: its look at the server's end (a ping a
second, whose write the server's kernel answers with a reset once the socket is closed, and a
poll every 0.05 s) and a loaded machine."""

END_PING_INTERVAL = 1.0
"""Seconds between two pings of the reader that never reads again (HEARTBEAT-6: at most one a
second)."""

EXTRA_EVENTS = 4
"""Events beyond the computed bound, for rounding and the frames that are not events."""


def _bound(limits: dict[str, Any], size: int) -> int:
    """Bytes past which the announced outbound queue has surely overflowed (events of
    ``size``); the case does not apply when neither of its bounds is announced."""
    frames, volume = limits.get("outbound_queue"), limits.get("outbound_queue_bytes")
    bounds = []
    if isinstance(frames, int) and not isinstance(frames, bool) and frames >= 1:
        bounds.append(frames * size)
    if isinstance(volume, int) and not isinstance(volume, bool) and volume >= 1:
        bounds.append(volume)
    # [LIMIT-4] overflow once EITHER bound is passed; one more event beyond the smaller one.
    if not bounds:
        raise CaseSkipped(
            "welcome.limits announces neither outbound_queue nor outbound_queue_bytes: the "
            "bound to pass is unknown",
            applicable=False,
        )
    return min(bounds) + size


async def _publish_all(publishers: list[RawClient], channel: str, count: int, body: str) -> None:
    """Publish ``count`` events on ``channel``, shared out among ``publishers`` (each paced
    within its own token bucket by the suite's client), in seq order per publisher."""
    marks = iter(range(count))

    async def one(publisher: RawClient) -> None:
        for n in marks:
            await publisher.publish(channel, {"mark": f"s{n}", "body": body}, ok=True)

    await asyncio.gather(*(one(p) for p in publishers))


async def _keep_talking(
    client: RawClient, stop: asyncio.Event, interval: float, ping: Frame | None = None
) -> None:
    """Send a ping every ``interval`` seconds until ``stop`` or the end of the connection:
    slow, not silent [HEARTBEAT-3]. A write is also how a client learns that the server
    closed its socket while the client read nothing (its kernel answers with a reset)."""
    n = 0
    while not stop.is_set() and not client.closed:
        n += 1
        try:
            await client.send(ping or {"type": "ping", "nonce": f"alive-{n}"})
        except ConnectionClosed:
            return  # the server ended the connection: judged once the client reads again
        try:
            async with asyncio.timeout(interval):
                await stop.wait()
        except TimeoutError:
            continue


@case(
    id="SLOW-01",
    requirements=("LIMIT-4", "DELIVERY-8", "LIMIT-15", "TRANSPORT-23"),
    title="a reader that stops reading is cut past the announced outbound bound (4503, or an "
    "abrupt end once the close waited); the events it got have no gap; one that never reads "
    "again has its connection ended within 15 s",
    timeout=120.0,
)
async def slow_01_reader_that_stops_reading(ctx: CaseContext) -> None:
    """R and Q subscribe, each through its own proxy of the suite's, which then holds back
    every byte from the server; publishers P1…Pk publish past the announced outbound bound
    plus 16 MiB of operating-system buffers on their channel within about a second, while R
    and Q keep sending pings. Then R reads again: it gets events with contiguous seqs from 1
    and then the end of the connection, a close with 4503 [LIMIT-4] or an abrupt end
    [LIMIT-15], never every event; no event was skipped to keep R alive [DELIVERY-8]. An
    abrupt end the server made before R read again, less than 2 s into the stall, did not
    wait for R to take the close frame [LIMIT-15, SHOULD]. Q never reads again and pings
    once a second: the server, which decided to close Q's connection by the time the last
    publish was acked, must have ended it (closed its socket) within 15 s of that, plus 3 s
    for the suite's look [TRANSPORT-23]."""
    channel = ctx.channel("slow")
    proxy = await ctx.proxy()
    quiet_proxy = await ctx.proxy()
    reader = await ctx.client("R", via=proxy)
    await reader.subscribe(channel)
    quiet = await ctx.client("Q", via=quiet_proxy)
    await quiet.subscribe(channel)
    limits = dict(reader.limits)
    frame_limit, rate = limits.get("max_frame_bytes"), limits.get("max_rate")
    heartbeat = reader.welcome.get("heartbeat_ms") if reader.welcome else None
    if not isinstance(frame_limit, int) or not isinstance(rate, int):
        raise CaseSkipped("welcome.limits lacks max_frame_bytes or max_rate", applicable=False)
    size = min(EVENT_BYTES, frame_limit - FRAME_OVERHEAD)
    bound = _bound(limits, size)
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
    quiet_proxy.stall_toward_client()
    ctx.note(
        f"R and Q stop reading; {needed} publishers publish {count} events of ~{size} bytes "
        f"(outbound bound {bound} bytes + {OS_BUFFERS} bytes of buffers)"
    )
    stop, stop_quiet = asyncio.Event(), asyncio.Event()
    # Slow, not silent: a frame well within 2 × heartbeat_ms [HEARTBEAT-3], no more than one
    # ping a second [HEARTBEAT-6].
    interval = max(1.0, (heartbeat if isinstance(heartbeat, int) else 1000) / 2000)

    loop = asyncio.get_running_loop()
    stalled_at = loop.time()
    talker = asyncio.create_task(_keep_talking(reader, stop, interval))
    quiet_talker = asyncio.create_task(_keep_talking(quiet, stop_quiet, END_PING_INTERVAL))
    try:
        try:
            await _publish_all(publishers, channel, count, body)
        finally:
            stop.set()
            await talker
            stalled_for = loop.time() - stalled_at
            # Seen while R was not reading: when the server ended its connection, if it did.
            ended_at = proxy.server_end_seen
            proxy.resume()
        # Every publish is acked: every event was assigned, so both queues had overflowed.
        decided_by = loop.time()
        await _expect_the_end(ctx, reader, channel, count, size, bound)
        _judge_the_wait(ctx, reader, ended_at, stalled_at, stalled_for)
        quiet_end = await quiet_proxy.wait_server_end(
            decided_by + END_BOUND + END_ALLOWANCE - loop.time()
        )
    finally:
        stop_quiet.set()
        await quiet_talker
        quiet_proxy.resume()
    await _expect_ended(ctx, quiet, channel, quiet_end, decided_by, "Q", "TRANSPORT-23")


def _judge_the_wait(
    ctx: CaseContext,
    reader: RawClient,
    ended_at: float | None,
    stalled_at: float,
    stalled_for: float,
    who: str = "R",
) -> None:
    """[LIMIT-15] an abrupt end must come after the server waited for the reader to take the
    close frame."""
    if reader.close_code != 1006:
        return
    if ended_at is None:
        ctx.note(
            f"{who}'s connection ended abruptly once {who} read again ({stalled_for:.1f} s stall)"
        )
        return
    # The server cannot have decided on 4503 before the reader stopped: it waited at most this.
    waited = ended_at - stalled_at
    ctx.note(f"the server ended {who}'s connection {waited:.2f} s after {who} stopped reading")
    if waited < CLOSE_WAIT:
        raise CaseFailed(
            f"the server ended {who}'s connection without a close frame {waited:.2f} s after "
            f"{who} stopped reading: it did not wait {CLOSE_WAIT:g} s for {who} to take the "
            "4503 close frame",
            requirement="LIMIT-15",
        )


async def _expect_ended(
    ctx: CaseContext,
    client: RawClient,
    channel: str | None,
    ended_at: float | None,
    decided_by: float,
    who: str,
    requirement: str,
) -> None:
    """``client`` never read again: the server must have ended its connection within
    :data:`END_BOUND` (+ :data:`END_ALLOWANCE`) of ``decided_by`` [TRANSPORT-23]; what it
    then reads is a gapless run of events (``channel``: a Canaux connection) and the end."""
    if ended_at is None:
        raise CaseFailed(
            f"{who} stopped reading and the server's outbound bound was passed (every publish "
            f"acked); {END_BOUND + END_ALLOWANCE:g} s later the server still had not ended "
            f"{who}'s connection (TCP), {who} still pinging once a second: a server that decided "
            f"to close must end the connection within {END_BOUND:g} s, read or not",
            requirement=requirement,
        )
    ctx.note(
        f"the server ended {who}'s connection {ended_at - decided_by:.2f} s after the last ack"
    )
    await client.wait_until(lambda: client.closed, timeout=max(ctx.timeout, 10.0))
    client.check()
    if not client.closed:
        raise CaseFailed(
            f"the server ended {who}'s connection, but {who} still sees it open once it reads",
            requirement=requirement,
        )
    if channel is None:
        return
    seqs = _events(client, channel)
    if seqs != list(range(1, len(seqs) + 1)):
        raise CaseFailed(
            f"{who} received {len(seqs)} events with a gap before its connection ended",
            requirement="DELIVERY-8",
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


HTTP_PUBLISHERS = 4
"""HTTP publishes in flight at once while the legacy readers do not read."""


@case(
    id="SLOW-02",
    requirements=("LEGACY-8", "TRANSPORT-23", "LIMIT-4", "LIMIT-15"),
    profile="legacy",
    title="/api/ws: a legacy reader that stops reading is cut past the announced outbound "
    "bound (4503, or an abrupt end); one that never reads again has its connection ended "
    "within 15 s",
    timeout=120.0,
)
async def slow_02_legacy_reader_that_stops_reading(ctx: CaseContext) -> None:
    """W opens a ``/ws`` session only to read the announced bounds (a legacy socket has no
    ``welcome``). A and B connect to ``/api/ws``, each through its own proxy of the suite's;
    once both got a first ``system`` notice, the proxies hold back every byte from the server,
    and HTTP publishes put ``system`` notices past the announced outbound bound plus 16 MiB of
    operating-system buffers, while A and B keep sending ``{"type": "ping"}``. Then A reads
    again: it gets notices and then the end of the connection, a close with 4503 or an abrupt
    end, never every notice [LEGACY-8, LIMIT-4]; an abrupt end made less than 2 s into the
    stall did not wait for A to take the close frame [LIMIT-15, SHOULD]. B never reads again:
    the server must have ended its connection within 15 s of the last publish's answer, plus
    3 s for the suite's look [TRANSPORT-23, LEGACY-8]."""
    url = ctx.target.legacy_system_url
    if not url:
        raise CaseSkipped("no legacy /api/ws endpoint on this server")
    ctx.require_channel("system")
    if not ctx.target.publish_url:
        raise CaseSkipped("no --publish-url: system notices cannot be driven")
    probe = await ctx.client("W")
    limits = dict(probe.limits)
    frame_limit = limits.get("max_frame_bytes")
    if not isinstance(frame_limit, int):
        raise CaseSkipped("welcome.limits lacks max_frame_bytes", applicable=False)
    size = min(EVENT_BYTES, frame_limit - FRAME_OVERHEAD)
    bound = _bound(limits, size)
    count = math.ceil((bound + OS_BUFFERS) / size) + EXTRA_EVENTS
    proxy, quiet_proxy = await ctx.proxy(), await ctx.proxy()
    reader = await ctx.connect("A", url=url, subprotocols=None, legacy=True, via=proxy)
    quiet = await ctx.connect("B", url=url, subprotocols=None, legacy=True, via=quiet_proxy)
    first = f"conformance slow legacy {ctx.run_id}"
    await _until_both_get(ctx, (reader, quiet), first)
    proxy.stall_toward_client()
    quiet_proxy.stall_toward_client()
    ctx.note(
        f"A and B stop reading; {count} system notices of ~{size} bytes are published over "
        f"HTTP (outbound bound {bound} bytes + {OS_BUFFERS} bytes of buffers)"
    )
    stop, stop_quiet = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    stalled_at = loop.time()
    ping = {"type": "ping"}  # [LEGACY-7] a legacy client keeps its connection alive that way
    talker = asyncio.create_task(_keep_talking(reader, stop, END_PING_INTERVAL, ping))
    quiet_talker = asyncio.create_task(_keep_talking(quiet, stop_quiet, END_PING_INTERVAL, ping))
    try:
        try:
            await _http_publish_all(ctx, count, "x" * (size - FRAME_OVERHEAD))
        finally:
            stop.set()
            await talker
            stalled_for = loop.time() - stalled_at
            ended_at = proxy.server_end_seen
            proxy.resume()
        # Every publish answered 202 (delivered): both queues had overflowed.
        decided_by = loop.time()
        await reader.wait_until(
            lambda: len(_notices(reader)) >= count, timeout=max(ctx.timeout, 30.0)
        )
        reader.check()
        got = len(_notices(reader))
        said = (
            f"A stopped reading /api/ws while {count} system notices of ~{size} bytes were "
            f"published (outbound bound {bound} bytes + {OS_BUFFERS} bytes of buffers) and "
            "read again"
        )
        if not reader.closed:
            raise CaseFailed(
                f"{said}: it got {got} notices and the connection is still open",
                requirement="LEGACY-8",
            )
        if reader.close_code not in (4503, 1006):
            raise CaseFailed(
                f"{said}: it got {got} notices, then a close with {reader.close_code} "
                f"({reader.close_reason!r}), not 4503",
                requirement="LEGACY-8",
            )
        ctx.note(f"A: {got} notices, then {reader.close_code}")
        _judge_the_wait(ctx, reader, ended_at, stalled_at, stalled_for, who="A")
        quiet_end = await quiet_proxy.wait_server_end(
            decided_by + END_BOUND + END_ALLOWANCE - loop.time()
        )
    finally:
        stop_quiet.set()
        await quiet_talker
        quiet_proxy.resume()
    await _expect_ended(ctx, quiet, None, quiet_end, decided_by, "B", "TRANSPORT-23")


def _notices(client: RawClient) -> list[Frame]:
    return [f for f in client.received if f.get("channel") == "system"]


async def _until_both_get(ctx: CaseContext, clients: tuple[RawClient, ...], text: str) -> None:
    """A WebSocket opening is no subscription ack: publish a first notice until every legacy
    client got one (LEG-02 does the same)."""
    for attempt in range(3):
        response = await ctx.http_publish("system", {"level": "info", "text": text})
        if response.status_code != 202:
            raise CaseSkipped(f"HTTP publish answered {response.status_code}: cannot drive system")

        def arrived() -> bool:
            return all(
                any(f.get("data", {}).get("text") == text for f in _notices(c)) for c in clients
            )

        waited = ctx.timeout if attempt == 2 else 1.0
        if all([await c.wait_until(arrived, timeout=waited) for c in clients]):
            return
    raise CaseFailed(
        "a legacy /api/ws connection did not receive a system notice published over HTTP",
        requirement="LEGACY-1",
    )


async def _http_publish_all(ctx: CaseContext, count: int, body: str) -> None:
    """``count`` system notices over HTTP publish, :data:`HTTP_PUBLISHERS` in flight at once;
    each must be answered 202 (delivered)."""
    url, token = ctx.target.publish_url, ctx.target.publish_token
    assert url is not None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    marks = iter(range(count))
    limits = httpx.Limits(max_connections=HTTP_PUBLISHERS)
    async with httpx.AsyncClient(timeout=ctx.timeout * 4, trust_env=False, limits=limits) as http:

        async def one() -> None:
            for n in marks:
                data = {"level": "info", "text": f"s{n} {body}"}
                response = await http.post(
                    url, json={"channel": "system", "data": data}, headers=headers
                )
                if response.status_code != 202:
                    raise CaseFailed(
                        f"HTTP publish of system notice {n} of {count} answered "
                        f"{response.status_code}: {response.text[:200]}",
                        requirement="HTTP-1",
                    )

        await asyncio.gather(*(one() for _ in range(HTTP_PUBLISHERS)))
    ctx.note(f"{count} system notices published over HTTP, each answered 202")
