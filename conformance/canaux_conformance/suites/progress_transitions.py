"""A task's status only moves forward, and a terminal status is its last (standard-channels.md).

PROGRESS-1: ``pending`` → ``running`` → one of ``done``, ``failed``, ``cancelled`` (any step
may be skipped, a status may repeat until it is terminal), and nothing follows a terminal
status. Driven through the publish endpoint, whose refusal of such an update is ``422
invalid_payload`` [HTTP-6]; every step of the table is tried, forward and back.
"""

from __future__ import annotations

from typing import Any

import httpx

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.suites._delivery import new_mark

__all__: list[str] = []

TERMINAL = ("done", "failed", "cancelled")


def _update(task: str, status: str, current: int) -> dict[str, Any]:
    return {"task": task, "kind": "scan", "status": status, "current": current, "total": 4}


def _code(response: httpx.Response) -> object:
    if not response.headers.get("content-type", "").startswith("application/json"):
        return None
    body = response.json()
    return body.get("code") if isinstance(body, dict) else None


async def _accepted(ctx: CaseContext, update: dict[str, Any], after: str) -> None:
    response = await ctx.http_publish("progress", update)
    if response.status_code != 202:
        raise CaseFailed(
            f"a {update['status']} update at {update['current']} of 4 {after} answered "
            f"{response.status_code} {response.text!r}; it follows PROGRESS-1",
            requirement="HTTP-4",
        )


async def _refused(ctx: CaseContext, update: dict[str, Any], after: str) -> None:
    response = await ctx.http_publish("progress", update)
    if response.status_code != 422 or _code(response) != "invalid_payload":
        raise CaseFailed(
            f"a {update['status']} update at {update['current']} of 4 {after} answered "
            f"{response.status_code} {response.text!r}, not 422 invalid_payload: the status "
            "of a task never goes back and nothing follows a terminal status",
            requirement="PROGRESS-1",
        )


@case(
    id="PROG-HTTP-02",
    requirements=("PROGRESS-1", "HTTP-6"),
    profile="progress",
    title="a task's status moves forward only, and nothing follows a terminal status",
)
async def prog_http_02(ctx: CaseContext) -> None:
    """Over the publish endpoint: pending, running, running, done is accepted step by step;
    running then pending is refused; after each terminal status (done, failed, cancelled),
    both a running update and the same terminal status again are refused with 422
    invalid_payload [PROGRESS-1, HTTP-6]."""
    ctx.require_channel("progress")

    def task(hint: str) -> str:
        return new_mark(ctx, hint)[:60]

    forward = task("forward")
    await _accepted(ctx, _update(forward, "pending", 0), "as a first update")
    await _accepted(ctx, _update(forward, "running", 1), "after pending")
    await _accepted(ctx, _update(forward, "running", 2), "after running")
    await _accepted(ctx, _update(forward, "done", 4), "after running")

    back = task("back")
    await _accepted(ctx, _update(back, "running", 1), "as a first update")
    await _refused(ctx, _update(back, "pending", 1), "after running")

    for status in TERMINAL:
        ended = task(status)
        await _accepted(ctx, _update(ended, "running", 1), "as a first update")
        current = 4 if status == "done" else 1
        await _accepted(ctx, _update(ended, status, current), "after running")
        await _refused(ctx, _update(ended, "running", 2), f"after {status}")
        await _refused(ctx, _update(ended, status, current), f"after {status}")
