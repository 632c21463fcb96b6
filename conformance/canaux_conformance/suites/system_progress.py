"""Server-published channels: system and progress
(standard-channels.md, CHANNEL-4, http-publish.md).

Clients may not publish on them [CHANNEL-4]. To see their events the suite needs the server
to emit some: with ``--publish-url`` (and ``--publish-token``) it posts them through
``POST /publish`` (http-publish.md); without, those cases are skipped with the reason.
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.json_values import json_equal
from canaux_conformance.outcomes import CaseFailed, CaseSkipped
from canaux_conformance.suites._delivery import barrier, events, new_mark
from canaux_conformance.wire import RawClient, encode

__all__ = ["prog_01", "progress_problem", "sys_01", "sys_02", "sys_03"]

_STATUS_RANK = {"pending": 0, "running": 1, "done": 2, "failed": 2, "cancelled": 2}


def progress_problem(updates: Sequence[Mapping[str, Any]]) -> str | None:
    """What in a sequence of progress ``data`` breaks PROGRESS-1, or None.

    Per task: ``current`` never decreases; ``total`` once known never changes; status never
    goes back (pending → running → done/failed/cancelled); nothing after a terminal status;
    at ``done`` with a known total, current = total.
    """
    seen: dict[str, Mapping[str, Any]] = {}
    for update in updates:
        task = str(update.get("task"))
        problem = _step_problem(task, seen.get(task), update)
        if problem is not None:
            return problem
        seen[task] = update
    return None


def _step_problem(
    task: str, before: Mapping[str, Any] | None, update: Mapping[str, Any]
) -> str | None:
    status = str(update.get("status"))
    current, total = update.get("current"), update.get("total")
    if before is not None:
        was = str(before.get("status"))
        if _STATUS_RANK.get(was, 0) == 2:
            return f"task {task}: {_show(update)} after the terminal status {was!r}"
        if _STATUS_RANK.get(status, 0) < _STATUS_RANK.get(was, 0):
            return f"task {task}: status went back from {was!r} to {status!r}"
        earlier = before.get("current")
        if isinstance(current, int) and isinstance(earlier, int) and current < earlier:
            return f"task {task}: current went down from {earlier} to {current}"
        if before.get("total") is not None and total != before.get("total"):
            return f"task {task}: total changed from {before.get('total')} to {total}"
    if status == "done" and total is not None and current != total:
        return f"task {task}: done with current {current} != total {total}"
    return None


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


async def _forbidden(ctx: CaseContext, channel: str, data: Any) -> None:
    """A client publish on a server-only channel: error forbidden, nothing delivered [CHANNEL-4]."""
    ctx.require_channel(channel)
    a, b = await ctx.client("A"), await ctx.client("B")
    own = ctx.channel("own")
    await b.subscribe(channel)
    await b.subscribe(own)
    reply = await a.publish(channel, data, ok=False)
    if reply.get("type") != "error" or reply.get("code") != "forbidden":
        raise CaseFailed(
            f"a client publish on the server-only channel {channel!r} answered {encode(reply)}",
            requirement="CHANNEL-4",
        )
    before = await barrier(ctx, b, own)
    delivered = [
        f for f in before if f.get("channel") == channel and json_equal(f.get("data"), data)
    ]
    if delivered:
        raise CaseFailed(
            f"the refused publish was delivered anyway: {encode(delivered[0])}",
            requirement="CHANNEL-4",
        )


@case(
    id="SYS-01",
    requirements=("CHANNEL-4", "SYSTEM-1", "OPS-15"),
    profile="system",
    title="clients cannot publish on system: forbidden, nothing delivered",
)
async def sys_01(ctx: CaseContext) -> None:
    """A publishes a well-formed system notice: error ``forbidden``; B, subscribed to system,
    does not receive it [CHANNEL-4, SYSTEM-1]."""
    await _forbidden(ctx, "system", {"level": "info", "text": f"forged by {new_mark(ctx)}"})


@case(
    id="SYS-02",
    requirements=("CHANNEL-4", "OPS-15", "PROGRESS-3"),
    profile="progress",
    title="clients cannot publish on progress: forbidden, nothing delivered",
)
async def sys_02(ctx: CaseContext) -> None:
    """A publishes a well-formed progress update: error ``forbidden``; B, subscribed to
    progress, does not receive it [CHANNEL-4]."""
    task = new_mark(ctx, "task")[:60]
    await _forbidden(
        ctx,
        "progress",
        {"task": task, "kind": "scan", "status": "running", "current": 1, "total": 2},
    )


async def _posted(ctx: CaseContext, channel: str, data: Any) -> None:
    response = await ctx.http_publish(channel, data)
    if response.status_code in (401, 403):
        raise CaseSkipped(
            f"POST {ctx.target.publish_url} answered {response.status_code}: give --publish-token"
        )
    if response.status_code == 404:
        raise CaseSkipped(f"POST {ctx.target.publish_url} answered 404: no publish endpoint there")
    if response.status_code != 202:
        # The suite only posts valid events (their schema, monotonic progress): refusing one
        # breaks HTTP-4 ("a valid publish MUST be answered with status 202").
        raise CaseFailed(
            f"POST {ctx.target.publish_url} {channel} {data!r} answered {response.status_code} "
            f"{response.text[:200]!r}; a valid publish is answered 202",
            requirement="HTTP-4",
        )


@case(
    id="SYS-03",
    requirements=("SYSTEM-2", "HTTP-4", "DELIVERY-5", "DELIVERY-6", "CHANNEL-12"),
    profile="system",
    title="system notices reach every subscriber schema-valid and unchanged",
)
async def sys_03(ctx: CaseContext) -> None:
    """Notices posted one after the other through --publish-url reach each of two subscribers
    of system [SYSTEM-2] exactly once [DELIVERY-6], in the order of the 202 answers [HTTP-4],
    valid against channels/system.json and JSON-equal to what was posted [DELIVERY-5]."""
    ctx.require_channel("system")
    clients = [await ctx.client("A"), await ctx.client("B")]
    after = ctx.channel("after")
    for client in clients:
        await client.subscribe("system")
        await client.subscribe(after)
    notices = [
        {"level": level, "text": f"{new_mark(ctx)} {level} notice", "code": "conformance.check"}
        for level in ("debug", "info", "warning", "error")
    ]
    for notice in notices:
        await _posted(ctx, "system", notice)
    texts = [n["text"] for n in notices]

    def mine(client: RawClient) -> list[Any]:
        return [
            f["data"]
            for f in events(client, "system")
            if isinstance(f.get("data"), dict) and f["data"].get("text") in texts
        ]

    for client in clients:
        while len(mine(client)) < len(notices):
            # A notice that never arrives is a notice not delivered to a subscriber.
            await client.expect(
                "event",
                channel="system",
                timeout=ctx.timeout,
                requirement="SYSTEM-2",
                where=lambda f: isinstance(f.get("data"), dict) and f["data"].get("text") in texts,
            )
    # A late copy of a notice would only show after the last one: wait behind a barrier.
    for client in clients:
        await barrier(ctx, client, after)
        got = mine(client)
        if len(got) != len(notices):
            raise CaseFailed(
                f"client {client.name} received {len(got)} notice events for the "
                f"{len(notices)} notices posted, each to be delivered once: {_show(got)[:400]}",
                requirement="DELIVERY-6",
            )
        order = [g.get("text") for g in got]
        if order != texts and sorted(order) == sorted(texts):
            raise CaseFailed(
                f"client {client.name} received the notices in the order {order}, "
                f"posted one after the other (each answered 202 first) as {texts}",
                requirement="HTTP-4",
            )
        if not all(json_equal(g, n) for g, n in zip(got, notices, strict=True)):
            raise CaseFailed(
                f"client {client.name} received {_show(got)[:400]}, posted {_show(notices)[:400]}",
                requirement="DELIVERY-5",
            )
    ctx.check()  # every event was validated against the system schema on arrival


@case(
    id="PROG-01",
    requirements=("PROGRESS-1", "DELIVERY-4", "PROGRESS-2", "HTTP-4"),
    profile="progress",
    title="progress updates arrive in order and stay monotonic per task",
)
async def prog_01(ctx: CaseContext) -> None:
    """A task's updates posted through --publish-url (pending, running 0..3 of 3, done) reach
    a subscriber in order, schema-valid; every progress event seen meanwhile, of any task,
    keeps PROGRESS-1 (current never decreases, status never goes back, nothing after the end)."""
    ctx.require_channel("progress")
    a = await ctx.client("A")
    await a.subscribe("progress")
    task = new_mark(ctx, "task")[:60]
    updates: list[dict[str, Any]] = [
        {"task": task, "kind": "scan", "status": "pending", "current": 0, "total": None},
        *(
            {"task": task, "kind": "scan", "status": "running", "current": i, "total": 3}
            for i in range(4)
        ),
        {"task": task, "kind": "scan", "status": "done", "current": 3, "total": 3, "message": "ok"},
    ]
    # total may become known once: pending has no total yet, the rest agree on 3.
    for update in updates:
        await _posted(ctx, "progress", update)
    await a.expect(
        "event",
        channel="progress",
        timeout=ctx.timeout,
        requirement="PROGRESS-1",
        where=lambda f: (
            isinstance(f.get("data"), dict)
            and f["data"].get("task") == task
            and f["data"].get("status") == "done"
        ),
    )
    problem = progress_problem([f["data"] for f in events(a, "progress")])
    if problem is not None:
        raise CaseFailed(problem, requirement="PROGRESS-1")
    mine = [f["data"] for f in events(a, "progress") if f["data"].get("task") == task]
    same = len(mine) == len(updates) and all(
        json_equal(g, u) for g, u in zip(mine, updates, strict=True)
    )
    if not same:
        raise CaseFailed(
            f"task {task}: received {_show(mine)[:500]}, posted in order {_show(updates)[:500]}",
            requirement="DELIVERY-4",
        )
