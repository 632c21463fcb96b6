"""The form of every server frame of a busy session, judged by the stream audit (audit.py).

The audit checks every frame of every case; this case makes sure each kind of frame is
actually produced under it at least once — a welcome, acks, each common error, events on
several channels, a pong — so the checks of form that no other case names have a case that
exercises them: no duplicate member names [TRANSPORT-9], integers within 2^53−1
[TRANSPORT-10], every frame valid for its type [OPS-12], only registered frame error codes
[OPS-18], seq only on events and assigned in sending order [DELIVERY-7], a heartbeat within
its range [HEARTBEAT-5], and the frames after hello processed in order [HANDSHAKE-16].
"""

from __future__ import annotations

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.suites._delivery import barrier, check_contiguous, new_mark, wait_marks
from canaux_conformance.wire import encode

__all__: list[str] = []


@case(
    id="FORM-01",
    requirements=(
        "TRANSPORT-9",
        "TRANSPORT-10",
        "OPS-12",
        "OPS-18",
        "DELIVERY-7",
        "HEARTBEAT-5",
        "CHANNEL-10",
    ),
    title="every frame of a busy session is well formed: names, integers, codes, seq",
)
async def form_01(ctx: CaseContext) -> None:
    """A and B subscribe, publish, are refused (already_subscribed, not_subscribed,
    unknown_channel, bad_frame) and ping; every frame they receive passes the stream audit,
    and their events are numbered 1, 2, 3 … [DELIVERY-7]."""
    x, y = ctx.channel("x"), ctx.channel("y")
    a, b = await ctx.client("A"), await ctx.client("B")
    await a.subscribe(x)
    await a.subscribe(y)
    await b.subscribe(x)
    expected = {
        "already_subscribed": await a.subscribe(x, ok=False),
        "not_subscribed": await a.unsubscribe(ctx.channel("never"), ok=False),
        "unknown_channel": await b.publish("nowhere-" + ctx.run_id, {"mark": "x"}, ok=False),
        "bad_frame": await b.request({"type": "subscribe", "id": b.next_id()}),
    }
    for code, reply in expected.items():
        if reply.get("type") != "error" or reply.get("code") != code:
            raise CaseFailed(f"expected an error {code}, got {encode(reply)}", requirement="OPS-1")
    on_x = [new_mark(ctx, "x") for _ in range(3)]
    on_y = [new_mark(ctx, "y") for _ in range(2)]
    for mark in on_x:
        await b.publish(x, {"mark": mark, "n": 2**53 - 1})
    for mark in on_y:
        await a.publish(y, {"mark": mark})
    await a.ping("form-01")
    await wait_marks(a, x, on_x, timeout=ctx.timeout, requirement="CONF-1")
    await wait_marks(a, y, on_y, timeout=ctx.timeout, requirement="CONF-1")
    await wait_marks(b, x, on_x, timeout=ctx.timeout, requirement="CONF-1")
    await a.unsubscribe(y)
    await b.publish(y, {"mark": new_mark(ctx, "gone")})  # A left y: the audit watches
    await barrier(ctx, a, x, publisher=b)
    check_contiguous(a, requirement="DELIVERY-7")
    check_contiguous(b, requirement="DELIVERY-7")
    ctx.check()
