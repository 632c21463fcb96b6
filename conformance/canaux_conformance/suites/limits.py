"""Limit cases: the limits a welcome advertises are the ones the server enforces (limits.md).

Each case reads the limit from the server's own welcome and probes right at it: a frame one
byte over ``max_frame_bytes`` (and one exactly at it), one subscription over
``max_subscriptions``, a burst well over ``max_rate``. A bystander session checks that one
client hitting a limit costs no one else anything [SECURITY-4].
"""

from __future__ import annotations

import asyncio
import contextlib

from websockets.exceptions import ConnectionClosed

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped
from canaux_conformance.suites.envelope import oversize_text
from canaux_conformance.wire import RawClient, encode

__all__ = [
    "lim_01_frame_over_limit",
    "lim_02_frame_at_limit",
    "lim_03_subscriptions",
    "lim_04_flood",
]

MAX_FLOOD_FRAMES = 50_000
"""Above this many frames the flood case gives up rather than load the machine for minutes."""


def _limit(ctx: CaseContext, client: RawClient, name: str) -> int:
    welcome = client.welcome or {}
    value = welcome.get("limits", {}).get(name)
    if not isinstance(value, int):
        raise CaseFailed(f"welcome.limits.{name} missing", requirement="HANDSHAKE-9")
    return value


async def _bystander(ctx: CaseContext) -> tuple[RawClient, str]:
    channel = ctx.channel("bystander")
    bystander = await ctx.client("bystander")
    await bystander.subscribe(channel)
    return bystander, channel


async def _bystander_unaffected(ctx: CaseContext, bystander: RawClient, channel: str) -> None:
    mark = f"by-{ctx.run_id}"
    try:
        await bystander.publish(channel, {"mark": mark})
        await bystander.expect(
            "event", channel=channel, where=lambda f: f["data"].get("mark") == mark
        )
    except CaseFailed as exc:
        raise CaseFailed(
            f"another session was affected: {exc.message}", requirement="SECURITY-4"
        ) from exc


@case(
    id="LIM-01",
    requirements=("TRANSPORT-6", "LIMIT-2"),
    title="a frame one byte over max_frame_bytes is closed with 1009",
)
async def lim_01_frame_over_limit(ctx: CaseContext) -> None:
    bystander, channel = await _bystander(ctx)
    client = await ctx.client("A")
    size = _limit(ctx, client, "max_frame_bytes") + 1
    ctx.note(f"sending a {size}-byte frame")
    with contextlib.suppress(ConnectionClosed):
        await client.send_text(oversize_text(size), beyond_limits=True)
    code = await client.expect_close(requirement="LIMIT-2")
    if code != 1009:
        raise CaseFailed(f"closed with {code} after a {size}-byte frame, expected 1009")
    await _bystander_unaffected(ctx, bystander, channel)


@case(
    id="LIM-02",
    requirements=("LIMIT-1", "TRANSPORT-7"),
    title="a frame of exactly max_frame_bytes is accepted",
)
async def lim_02_frame_at_limit(ctx: CaseContext) -> None:
    """The padded ping carries an unknown member, which a server ignores [TRANSPORT-7]."""
    client = await ctx.client("A")
    size = _limit(ctx, client, "max_frame_bytes")
    await client.send_text(oversize_text(size))
    reply = await client.expect(where=lambda f: f.get("type") in ("pong", "error"))
    if reply["type"] != "pong":
        raise CaseFailed(f"a {size}-byte ping was answered {encode(reply)}, expected pong")


@case(
    id="LIM-03",
    requirements=("OPS-5", "LIMIT-9", "CHANNEL-7"),
    title="a subscription over max_subscriptions: too_many_subscriptions, the others still work",
)
async def lim_03_subscriptions(ctx: CaseContext) -> None:
    client = await ctx.client("A")
    allowed = _limit(ctx, client, "max_subscriptions")
    if allowed > 2048:
        raise CaseSkipped(f"max_subscriptions is {allowed}: too many to fill in a test")
    channels = [ctx.channel("sub") for _ in range(allowed + 1)]
    for channel in channels[:allowed]:
        await client.subscribe(channel)
    reply = await client.subscribe(channels[-1], ok=False)
    if reply["type"] != "error" or reply.get("code") != "too_many_subscriptions":
        raise CaseFailed(
            f"subscription {allowed + 1} of {allowed} allowed answered {encode(reply)}",
            requirement="OPS-5",
        )
    # The refusal changed nothing: the first subscription still delivers [CHANNEL-7].
    mark = f"still-{ctx.run_id}"
    await client.publish(channels[0], {"mark": mark})
    await client.expect(
        "event",
        channel=channels[0],
        where=lambda f: f["data"].get("mark") == mark,
        requirement="CHANNEL-7",
    )
    # After one unsubscribe there is room again: the limit counts live subscriptions.
    await client.unsubscribe(channels[1])
    reply = await client.subscribe(channels[-1], ok=False)
    if reply["type"] != "ack":
        raise CaseFailed(
            f"after an unsubscribe, subscription {allowed} answered {encode(reply)}",
            requirement="OPS-5",
        )


@case(
    id="LIM-04",
    requirements=("LIMIT-3", "SECURITY-4"),
    title="a burst well over max_rate is closed with 4429; other sessions are unaffected",
)
async def lim_04_flood(ctx: CaseContext) -> None:
    """A token bucket allows a burst of max_rate frames; three times that, sent as fast as the
    socket takes them, must empty it whatever the refill during the send."""
    bystander, channel = await _bystander(ctx)
    client = await ctx.client("A")
    rate = _limit(ctx, client, "max_rate")
    count = 3 * rate + 20
    if count > MAX_FLOOD_FRAMES:
        raise CaseSkipped(f"max_rate is {rate}: a flood of {count} frames is too large")
    loop = asyncio.get_running_loop()
    started = loop.time()
    frame = encode({"type": "ping", "nonce": "flood"})
    # The frames are not written to the transcript one by one (thousands of identical lines).
    ctx.note(f"sending {count} pings back to back (max_rate {rate})")
    client.went_beyond(f"a flood of {count} pings (max_rate {rate})")
    sent = 0
    with contextlib.suppress(ConnectionClosed):
        for _ in range(count):
            await client.send_text(frame, beyond_limits=True, record=False)
            sent += 1
    elapsed = loop.time() - started
    ctx.note(f"sent {sent} frames in {elapsed:.2f}s")
    # Tokens refilled during the send; the bucket can only have kept up with a slow send.
    if sent == count and elapsed > 0 and rate * (elapsed + 1) >= count:
        raise CaseSkipped(f"the flood took {elapsed:.1f}s: too slow to exceed {rate} frames/s")
    code = await client.expect_close(requirement="LIMIT-3")
    if code != 4429:
        raise CaseFailed(f"closed with {code} after {sent} frames in {elapsed:.2f}s, expected 4429")
    await _bystander_unaffected(ctx, bystander, channel)


@case(
    id="LIM-05",
    requirements=("LIMIT-8", "LIMIT-1"),
    title="a burst within max_rate is served in full, without a 4429",
)
async def lim_05_burst_within_rate(ctx: CaseContext) -> None:
    """A token bucket starts full: max_rate frames at once (the hello and a margin of 10
    taken off) must all be answered."""
    client = await ctx.client("A")
    rate = _limit(ctx, client, "max_rate")
    if rate > 5000:
        raise CaseSkipped(f"max_rate is {rate}: a full burst is too large for a test")
    count = max(1, rate - 11)
    ctx.note(f"sending {count} pings back to back (max_rate {rate})")
    for index in range(count):
        # Within the spec's bucket, beyond the suite's own margin: not paced.
        await client.send_text(
            encode({"type": "ping", "nonce": f"b{index}"}), paced=False, record=False
        )
    for index in range(count):
        try:
            await client.expect("pong", nonce=f"b{index}", requirement="LIMIT-8")
        except CaseFailed as exc:
            if client.closed:
                raise CaseFailed(
                    f"closed with {client.close_code} after a burst of {count} frames, within "
                    f"max_rate {rate}",
                    requirement="LIMIT-8",
                ) from exc
            raise
