"""Where a bad_frame points, and the order of the checks of subscribe and unsubscribe
(operations.md).

A missing member is located where it would be [OPS-20]; the frame check comes before the
repeated-id check and a bad_frame is never remembered, while for a valid frame the repeated-id
check comes first [OPS-21]; subscribe and unsubscribe are checked in a fixed order [OPS-22],
and so is an HTTP publish (http-publish.md) [HTTP-8].
"""

from __future__ import annotations

import json
from typing import Any

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped
from canaux_conformance.suites.http_publish import (
    _bearer,
    _body,
    _expect_error,
    _post,
    _publish_url,
    _skip_if_token_rejected,
)
from canaux_conformance.wire import encode

__all__: list[str] = []

Reply = dict[str, Any]


def _expect(reply: Reply, kind: str, code: str | None, what: str, requirement: str) -> None:
    if reply.get("type") != kind or (code is not None and reply.get("code") != code):
        wanted = kind if code is None else f"{kind} {code}"
        raise CaseFailed(
            f"{what} answered {encode(reply)}; expected {wanted}", requirement=requirement
        )


@case(
    id="ORDER-CHK-01",
    requirements=("OPS-20", "OPS-8"),
    title="a bad_frame for a missing member points where the member would be; type comes first",
)
async def order_chk_01(ctx: CaseContext) -> None:
    """A subscribe without id is bad_frame /id; an object without type is bad_frame /type; a
    subscribe without channel is bad_frame /channel; an object missing both type and channel
    is bad_frame /type [OPS-20]."""
    channel = ctx.channel("pointer")
    a = await ctx.client("A")
    await a.send({"type": "subscribe", "channel": channel})
    reply = await a.expect(
        "error",
        where=lambda f: "id" not in f,
        what="the error for a frame without id",
        requirement="OPS-8",
    )
    _expect(reply, "error", "bad_frame", "a subscribe without id", "OPS-8")
    if reply.get("pointer") != "/id":
        raise CaseFailed(
            f"a subscribe without id answered {encode(reply)}: the pointer must be /id",
            requirement="OPS-20",
        )
    frames: list[tuple[dict[str, Any], str, str]] = [
        ({"id": a.next_id(), "channel": channel}, "/type", "an object without type"),
        ({"type": "subscribe", "id": a.next_id()}, "/channel", "a subscribe without channel"),
        ({"id": a.next_id()}, "/type", "an object without type nor channel"),
    ]
    for frame, pointer, what in frames:
        reply = await a.request(frame)
        _expect(reply, "error", "bad_frame", what, "OPS-8")
        if reply.get("pointer") != pointer:
            raise CaseFailed(
                f"{what} answered {encode(reply)}: the pointer must be {pointer}",
                requirement="OPS-20",
            )


@case(
    id="ORDER-CHK-02",
    requirements=("OPS-21", "OPS-9"),
    title="bad_frame comes before the repeated-id check and is not remembered; then ids first",
)
async def order_chk_02(ctx: CaseContext) -> None:
    """s1 subscribes to C (acked); s1 again with a bad channel is bad_frame; s1 again as first
    sent is acked (the bad_frame was not remembered), not already_subscribed; p1 publishes on C
    (acked); p1 again on an unknown channel with invalid data is acked, not unknown_channel;
    u1 unsubscribes from C (acked); u1 again is acked, not not_subscribed [OPS-21]."""
    channel = ctx.channel("order")
    a = await ctx.client("A")
    first = {"type": "subscribe", "id": "s1", "channel": channel}
    _expect(await a.request(dict(first)), "ack", None, "the first subscribe s1", "OPS-5")
    bad = await a.request({"type": "subscribe", "id": "s1", "channel": 7})
    _expect(bad, "error", "bad_frame", "s1 sent again with channel 7", "OPS-21")
    again = await a.request(dict(first))
    _expect(again, "ack", None, "s1 sent again as first sent, after its bad_frame", "OPS-21")
    publish = {"type": "publish", "id": "p1", "channel": channel, "data": {"mark": ctx.run_id}}
    _expect(await a.request(publish), "ack", None, "the first publish p1", "OPS-7")
    moved = {**publish, "channel": f"nowhere-{ctx.run_id}", "data": {"mark": ""}}
    _expect(
        await a.request(moved),
        "ack",
        None,
        "p1 sent again on an unknown channel with invalid data",
        "OPS-21",
    )
    leave = {"type": "unsubscribe", "id": "u1", "channel": channel}
    _expect(await a.request(dict(leave)), "ack", None, "the first unsubscribe u1", "OPS-6")
    _expect(await a.request(dict(leave)), "ack", None, "u1 sent again", "OPS-21")


@case(
    id="ORDER-CHK-03",
    requirements=("OPS-22",),
    title="subscribe and unsubscribe failing several checks get the error of the first one",
)
async def order_chk_03(ctx: CaseContext) -> None:
    """With max_subscriptions filled: a bad channel name is bad_frame, an unknown channel
    unknown_channel, an already subscribed channel already_subscribed, a new one
    too_many_subscriptions; an unsubscribe with a bad name is bad_frame [OPS-22]."""
    a = await ctx.client("A")
    allowed = (a.welcome or {}).get("limits", {}).get("max_subscriptions")
    if not isinstance(allowed, int):
        raise CaseFailed("welcome.limits.max_subscriptions missing", requirement="HANDSHAKE-9")
    if allowed > 2048:
        raise CaseSkipped(f"max_subscriptions is {allowed}: too many to fill in a test")
    channels = [ctx.channel("full") for _ in range(allowed)]
    for channel in channels:
        await a.subscribe(channel)
    steps: list[tuple[Any, str, str]] = [
        ("Not a name", "bad_frame", "a subscribe of a bad name at the limit"),
        (
            f"nowhere-{ctx.run_id}",
            "unknown_channel",
            "a subscribe outside the catalogue at the limit",
        ),
        (channels[0], "already_subscribed", "a subscribe of a subscribed channel at the limit"),
        (ctx.channel("over"), "too_many_subscriptions", "a new subscribe at the limit"),
    ]
    for name, code, what in steps:
        reply = await a.request({"type": "subscribe", "id": a.next_id(), "channel": name})
        _expect(reply, "error", code, what, "OPS-22")
    reply = await a.request({"type": "unsubscribe", "id": a.next_id(), "channel": "Not a name"})
    _expect(reply, "error", "bad_frame", "an unsubscribe of a bad name", "OPS-22")


@case(
    id="ORDER-CHK-04",
    requirements=("HTTP-8",),
    title="an HTTP publish failing several checks gets the status of the first one that fails",
)
async def order_chk_04(ctx: CaseContext) -> None:
    """Needs --publish-url. An oversize body on an unknown channel without credentials is 401;
    with them, 413; a body without data on an unknown channel is 400 bad_frame; invalid data
    on an unknown channel is 400 unknown_channel; invalid data on chat or playqueue (when
    offered) is 403 forbidden [HTTP-8]."""
    _publish_url(ctx)
    nowhere = f"nosuch-{ctx.run_id}.order"
    invalid = {"mark": 42}
    steps: list[tuple[bytes, str | None, int, str, str]] = []
    limit = ctx.server.limits.get("max_frame_bytes") if ctx.server is not None else None
    if isinstance(limit, int):
        oversize = _body(nowhere, {"mark": "x" * (limit + 1)})
        steps.append((oversize, None, 401, "unauthorized", "an oversize body, no credentials"))
        steps.append((oversize, _bearer(ctx), 413, "bad_frame", "an oversize unknown channel"))
    else:
        ctx.note("no welcome with limits.max_frame_bytes: the 413 step is not run")
        steps.append((_body(nowhere, invalid), None, 401, "unauthorized", "no credentials"))
    no_data = json.dumps({"channel": nowhere}).encode()
    steps.append((no_data, _bearer(ctx), 400, "bad_frame", "no data on an unknown channel"))
    steps.append(
        (_body(nowhere, invalid), _bearer(ctx), 400, "unknown_channel", "invalid data, unknown")
    )
    for name in ("chat", "playqueue"):
        if ctx.server is not None and ctx.server.offers(name):
            steps.append((_body(name, invalid), _bearer(ctx), 403, "forbidden", f"bad {name}"))
    for content, authorization, status, code, what in steps:
        response = await _post(ctx, content, authorization=authorization, what=what)
        if authorization is not None:
            _skip_if_token_rejected(ctx, response)
        _expect_error(response, status, code, requirement="HTTP-8", what=what)
