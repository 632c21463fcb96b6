"""Routing: a publish reaches every subscriber of its exact channel, unchanged
(operations.md, delivery.md, CONF-1).

Also home of STATE-01, the stateful machine (:mod:`canaux_conformance.machine`), which mixes
routing with isolation, order and resume under schedules Hypothesis chooses.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.json_values import json_equal
from canaux_conformance.machine import run_machine
from canaux_conformance.machine_run import MachineBudget
from canaux_conformance.outcomes import CaseFailed, CaseSkipped
from canaux_conformance.suites._delivery import barrier, check_contiguous, new_mark, wait_marks
from canaux_conformance.wire import encode

__all__ = ["route_01", "route_02", "route_03", "state_01"]

# JSON that implementations commonly mangle: escapes, astral characters, number forms,
# deep nesting, empty containers, null members. Delivered JSON-equal [DELIVERY-5].
_TRICKY_BODIES: list[Any] = [
    None,
    "",
    'quote " backslash \\ slash / controls \b\f\n\r\t \u0001',
    "accents é à ü, CJK 漢字, emoji 🎵, RTL שלום",
    "\u2028\u2029 line separators",
    0,
    -1,
    2**53 - 1,
    -(2**53) + 1,
    1.5,
    -0.25,
    1e-7,
    6.02e23,
    True,
    False,
    [],
    {},
    {"": "", "null": None, "nested": [[[[{"deep": [1, [2, [3]]]}]]]]},
    [1, "two", 3.0, None, True, {"k": []}],
    {"k" * 200: "v" * 2000},
]


@case(
    id="ROUTE-01",
    requirements=("CONF-1", "OPS-7", "OPS-6"),
    title="a publish reaches every subscriber on every connection, publisher included",
)
async def route_01(ctx: CaseContext) -> None:
    """Three clients subscribe to one channel; each publishes once; all three receive all three
    events, with the published data, the publisher its own too [CONF-1, OPS-7]."""
    channel = ctx.channel("all")
    clients = [await ctx.client(name) for name in "ABC"]
    own = {client.name: ctx.channel(f"own-{client.name.lower()}") for client in clients}
    for client in clients:
        await client.subscribe(channel)
        await client.subscribe(own[client.name])
    published: dict[str, dict[str, Any]] = {}
    for client in clients:
        data: dict[str, Any] = {"mark": new_mark(ctx), "body": {"from": client.name}}
        await client.publish(channel, data)
        published[data["mark"]] = data
    for client in clients:
        got = await wait_marks(
            client, channel, list(published), timeout=ctx.timeout, requirement="CONF-1"
        )
        for frame in got:
            if not json_equal(frame["data"], published[frame["data"]["mark"]]):
                raise CaseFailed(
                    f"client {client.name} received {encode(frame['data'])}, "
                    f"published {encode(published[frame['data']['mark']])}",
                    requirement="DELIVERY-5",
                )
        before = await barrier(ctx, client, own[client.name])
        if len(before) != len(published):
            raise CaseFailed(
                f"client {client.name} received {len(before)} events "
                f"for {len(published)} publishes",
                requirement="DELIVERY-6",
            )
        check_contiguous(client)


@case(
    id="ROUTE-02",
    requirements=("CONF-1", "DELIVERY-2"),
    title="a publisher that is not subscribed does not receive its own event",
)
async def route_02(ctx: CaseContext) -> None:
    """A (not subscribed) publishes; B (subscribed) receives it; A receives nothing of the
    channel: its next event is a marker on a channel it did subscribe to [DELIVERY-2]."""
    channel, own = ctx.channel("shared"), ctx.channel("own")
    a, b = await ctx.client("A"), await ctx.client("B")
    await b.subscribe(channel)
    await a.subscribe(own)
    mark = new_mark(ctx)
    await a.publish(channel, {"mark": mark})
    await wait_marks(b, channel, [mark], timeout=ctx.timeout, requirement="CONF-1")
    before = await barrier(ctx, a, own)
    if before:
        raise CaseFailed(
            f"client A, not subscribed to {channel}, received {encode(before[0])}",
            requirement="DELIVERY-2",
        )


@case(
    id="ROUTE-03",
    requirements=("DELIVERY-5",),
    title="data is delivered as published, for JSON that is easy to mangle",
)
async def route_03(ctx: CaseContext) -> None:
    """Escapes, astral characters, line separators, integers up to 2^53, floats, deep nesting
    and empty containers come back JSON-equal [DELIVERY-5]."""
    channel = ctx.channel("json")
    a, b = await ctx.client("A"), await ctx.client("B")
    await b.subscribe(channel)
    sent = []
    for body in _TRICKY_BODIES:
        data = {"mark": new_mark(ctx), "body": body}
        await a.publish(channel, data)
        sent.append(data)
    got = await wait_marks(
        b, channel, [d["mark"] for d in sent], timeout=ctx.timeout, requirement="CONF-1"
    )
    for want, frame in zip(sent, got, strict=True):
        if not json_equal(frame["data"], want):
            raise CaseFailed(
                f"published {encode(want)[:300]}, received {encode(frame['data'])[:300]}",
                requirement="DELIVERY-5",
            )


_SHRINK_SECONDS = {"quick": 10.0, "default": 60.0, "thorough": 300.0}


@case(
    id="STATE-01",
    requirements=(
        "CONF-1",
        "DELIVERY-1",
        "DELIVERY-2",
        "DELIVERY-3",
        "DELIVERY-5",
        "DELIVERY-6",
        "OPS-1",
        "OPS-3",
        "OPS-4",
        "OPS-6",
        "OPS-9",
        "RESUME-2",
        "RESUME-3",
        "RESUME-6",
        "SECURITY-2",
    ),
    title="stateful machine: 2-4 clients subscribe, publish, drop, resume; checked every step",
    timeout=900.0,
)
async def state_01(ctx: CaseContext) -> None:
    """Hypothesis drives 2-4 clients through subscribe, unsubscribe, publish (payloads from
    the conformance schema), re-sends, network cuts, resumes and fresh sessions, and compares
    every delivery with its model after each step. With --peer the clients spread over the
    nodes of the deployment (a resume or a fresh session often on another node than the
    session's), checked against the same model. A failure shows the shrunk steps and the
    transcript of the minimal example."""
    if ctx.server is not None and not ctx.server.offers("conformance.*"):
        raise CaseSkipped("the server's catalogue has no 'conformance.*' family (CONF-2)")
    budget = MachineBudget(
        max_examples=ctx.budget.max_examples,
        step_count=ctx.budget.step_count,
        shrink_seconds=_SHRINK_SECONDS.get(ctx.budget.name, 60.0),
    )
    stop = threading.Event()
    try:
        result = await asyncio.to_thread(
            run_machine,
            ctx.target,
            budget,
            seed=ctx.seed,
            timeout=ctx.timeout,
            run_id=ctx.run_id,
            stop=stop,
        )
    finally:
        # A cancelled case must not leave the machine running in its thread.
        stop.set()
    ctx.note(
        f"machine: seed {result.seed}, {result.examples} examples, {result.steps} steps, "
        f"{result.publishes} publishes checked"
        + (
            f"; connections per node {list(result.connections)}"
            if len(result.connections) > 1
            else ""
        )
    )
