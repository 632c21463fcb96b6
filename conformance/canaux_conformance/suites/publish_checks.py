"""How a refused frame is answered, and that no one else notices (channels.md, operations.md).

The checks of a publish run in a fixed order and the first failing one names the error
[CHANNEL-14]; a bad channel name is a bad_frame pointing at /channel [CHANNEL-8]; a
well-formed unsubscribe is never unknown_channel [OPS-14]; and a session's errors never
close, hold up or change another session [SECURITY-7].
"""

from __future__ import annotations

from typing import Any

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.suites._delivery import barrier, new_mark, wait_marks
from canaux_conformance.wire import encode

__all__: list[str] = []


def _expect_error(reply: dict[str, Any], code: str, what: str, requirement: str) -> None:
    if reply.get("type") != "error" or reply.get("code") != code:
        raise CaseFailed(
            f"{what} answered {encode(reply)}; expected {code}", requirement=requirement
        )


@case(
    id="PUB-01",
    requirements=("CHANNEL-14",),
    title="a publish failing several checks gets the error of the first one that fails",
)
async def pub_01(ctx: CaseContext) -> None:
    """Invalid data on a malformed channel name is bad_frame; on an unknown channel,
    unknown_channel; on a server-published channel, forbidden; on a conformance channel,
    invalid_payload [CHANNEL-14]."""
    a = await ctx.client("A")
    bad_data = {"mark": ""}  # fails every standard schema and conformance.json (mark ≥ 1 char)
    steps: list[tuple[str, str]] = [
        ("Not.A.Name", "bad_frame"),
        (f"nowhere-{ctx.run_id}", "unknown_channel"),
    ]
    for name in ("system", "progress"):
        if ctx.server is not None and ctx.server.offers(name):
            steps.append((name, "forbidden"))
    steps.append((ctx.channel("schema"), "invalid_payload"))
    for channel, code in steps:
        reply = await a.publish(channel, bad_data, ok=False)
        _expect_error(reply, code, f"invalid data published on {channel!r}", "CHANNEL-14")


@case(
    id="PUB-02",
    requirements=("OPS-14", "CHANNEL-8"),
    title="unsubscribe from an unknown name is not_subscribed; a bad name is bad_frame /channel",
)
async def pub_02(ctx: CaseContext) -> None:
    """An unsubscribe naming a valid channel outside the catalogue gets not_subscribed, never
    unknown_channel [OPS-14]; subscribe, unsubscribe and publish naming something that is not
    a channel name get bad_frame with pointer /channel [CHANNEL-8]."""
    a = await ctx.client("A")
    reply = await a.unsubscribe(f"nowhere-{ctx.run_id}", ok=False)
    _expect_error(
        reply, "not_subscribed", "unsubscribe from a name outside the catalogue", "OPS-14"
    )
    for kind in ("subscribe", "unsubscribe", "publish"):
        for bad in ("Not a name", "chat.", 7):
            frame: dict[str, Any] = {"type": kind, "id": a.next_id(), "channel": bad}
            if kind == "publish":
                frame["data"] = {"mark": new_mark(ctx)}
            reply = await a.request(frame)
            _expect_error(reply, "bad_frame", f"{kind} of channel {bad!r}", "CHANNEL-8")
            if reply.get("pointer") != "/channel":
                raise CaseFailed(
                    f"{kind} of channel {bad!r} answered {encode(reply)}: the pointer must be "
                    "/channel",
                    requirement="CHANNEL-8",
                )


@case(
    id="PUB-03",
    requirements=("SECURITY-7", "CHANNEL-7"),
    title="one session's refused and invalid frames leave every other session untouched",
)
async def pub_03(ctx: CaseContext) -> None:
    """While P publishes on C to subscriber B, A sends an invalid frame, a forbidden publish,
    an unknown channel and invalid data: B stays open, receives every event of C, and its
    subscription still delivers afterwards [SECURITY-7]."""
    channel = ctx.channel("bystander")
    a, b, p = await ctx.client("A"), await ctx.client("B"), await ctx.client("P")
    await b.subscribe(channel)
    marks = []
    troubles: list[dict[str, Any]] = [
        {"type": "subscribe", "id": a.next_id()},
        {"type": "publish", "id": a.next_id(), "channel": "system", "data": {"level": "x"}},
        {"type": "publish", "id": a.next_id(), "channel": f"nowhere-{ctx.run_id}", "data": {}},
        {"type": "publish", "id": a.next_id(), "channel": channel, "data": {"mark": ""}},
    ]
    for trouble in troubles:
        mark = new_mark(ctx)
        marks.append(mark)
        try:
            await p.publish(channel, {"mark": mark})
        except CaseFailed as failure:
            if not p.closed:
                raise
            raise CaseFailed(
                f"bystander P was closed ({p.close_code}) after another session's error",
                requirement="SECURITY-7",
            ) from failure
        reply = await a.request(trouble)
        if reply.get("type") != "error":
            raise CaseFailed(
                f"{encode(trouble)} was accepted: {encode(reply)}", requirement="CHANNEL-7"
            )
    try:
        await wait_marks(b, channel, marks, timeout=ctx.timeout, requirement="SECURITY-7")
    except CaseFailed as failure:
        raise CaseFailed(
            "another session's errors cost B events: " + failure.message, requirement="SECURITY-7"
        ) from failure
    if b.closed:
        raise CaseFailed(
            f"B was closed ({b.close_code}) by another session's errors", requirement="SECURITY-7"
        )
    await barrier(ctx, b, channel, publisher=p)
