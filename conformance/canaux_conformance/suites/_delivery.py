"""Shared checks of the delivery suites: marks, seq barriers, event histories (spec delivery.md).

The key tool is :func:`barrier`. "Nothing arrived" cannot be awaited; but every event sent
to a session carries the next seq [DELIVERY-1], so when a marker published on a channel the
client is subscribed to arrives with seq ``n``, the server had assigned exactly ``n - 1``
events to that session before it, and the client has read all of them (no gaps). A case
publishes the thing that must not be delivered, waits for its ack, publishes the marker,
and inspects what came before the marker.
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.
# ruff: noqa: ASYNC109

from __future__ import annotations

import itertools
from typing import Any

from canaux_conformance.cases import CaseContext
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.wire import Frame, RawClient, encode

__all__ = ["barrier", "check_contiguous", "events", "marks", "new_mark", "wait_marks"]

_marks = itertools.count(1)


def new_mark(ctx: CaseContext, hint: str = "m") -> str:
    """A mark no other publish of this run uses."""
    return f"{ctx.run_id}-{ctx.case_id.lower()}-{hint}{next(_marks)}"[:64]


def events(client: RawClient, channel: str | None = None) -> list[Frame]:
    """Every event the client received, in arrival order (claimed or not)."""
    return [
        f
        for f in client.received
        if f.get("type") == "event" and (channel is None or f.get("channel") == channel)
    ]


def marks(frames: list[Frame]) -> list[Any]:
    return [f["data"].get("mark") if isinstance(f.get("data"), dict) else None for f in frames]


def check_contiguous(client: RawClient, *, start: int = 1, requirement: str = "DELIVERY-1") -> None:
    """The seqs the client received are ``start, start + 1, …`` in arrival order."""
    for expected, frame in enumerate(events(client), start=start):
        if frame.get("seq") != expected:
            raise CaseFailed(
                f"client {client.name}: event {encode(frame)[:200]} has seq {frame.get('seq')!r}, "
                f"expected {expected}",
                requirement=requirement,
            )


async def wait_marks(
    client: RawClient,
    channel: str,
    wanted: list[str],
    *,
    timeout: float,
    requirement: str,
) -> list[Frame]:
    """Wait until every mark of ``wanted`` arrived on ``channel``; return those events."""
    found: dict[str, Frame] = {}
    for frame in events(client, channel):
        mark = frame["data"].get("mark") if isinstance(frame.get("data"), dict) else None
        if mark in wanted:
            found.setdefault(mark, frame)
    while len(found) < len(set(wanted)):
        frame = await client.expect(
            "event",
            channel=channel,
            timeout=timeout,
            requirement=requirement,
            where=lambda f: isinstance(f.get("data"), dict) and f["data"].get("mark") in wanted,
        )
        found.setdefault(frame["data"]["mark"], frame)
    return [found[m] for m in wanted if m in found]


async def barrier(
    ctx: CaseContext,
    client: RawClient,
    channel: str,
    *,
    publisher: RawClient | None = None,
    requirement: str = "CONF-1",
) -> list[Frame]:
    """Publish a marker on ``channel`` (the client is subscribed) and wait for it.

    Returns every event the client received before the marker, in arrival order. The
    marker's seq must be one more than the number of those events [DELIVERY-1]: the server
    assigned nothing else to the session before it.
    """
    mark = new_mark(ctx, "barrier")
    await (publisher or client).publish(channel, {"mark": mark}, timeout=ctx.timeout)
    marker = (
        await wait_marks(client, channel, [mark], timeout=ctx.timeout, requirement=requirement)
    )[0]
    history = events(client)
    before = history[: next(i for i, f in enumerate(history) if f is marker)]
    if before and marker.get("seq") != before[0].get("seq", 0) + len(before):
        raise CaseFailed(
            f"client {client.name}: marker {mark} has seq {marker.get('seq')} after "
            f"{len(before)} event(s) starting at seq {before[0].get('seq')}",
            requirement="DELIVERY-1",
        )
    return before
