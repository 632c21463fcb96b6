"""A progress update that would take its task backwards is refused at the HTTP door
(http-publish.md HTTP-6, standard-channels.md PROGRESS-1)."""

from __future__ import annotations

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.suites._delivery import new_mark

__all__: list[str] = []


@case(
    id="PROG-HTTP-01",
    requirements=("HTTP-6", "PROGRESS-1", "HTTP-9"),
    profile="progress",
    title="an HTTP publish that makes a task go backwards: 422 invalid_payload, nothing sent",
)
async def prog_http_01(ctx: CaseContext) -> None:
    """The publish endpoint posts a running task at 5 of 10, then the same task at 3: the
    second is answered 422 invalid_payload and subscriber A never receives current 3; a
    later update at 7 still goes through [HTTP-6, PROGRESS-1]."""
    ctx.require_channel("progress")
    a = await ctx.client("A")
    await a.subscribe("progress")
    task = new_mark(ctx, "task")[:60]

    def update(current: int) -> dict[str, object]:
        return {"task": task, "kind": "scan", "status": "running", "current": current, "total": 10}

    first = await ctx.http_publish("progress", update(5))
    if first.status_code != 202:
        raise CaseFailed(
            f"a valid progress update answered {first.status_code}", requirement="HTTP-4"
        )
    back = await ctx.http_publish("progress", update(3))
    code = (
        back.json().get("code")
        if back.headers.get("content-type", "").startswith("application/json")
        else None
    )
    if back.status_code != 422 or code != "invalid_payload":
        raise CaseFailed(
            f"an update taking task {task} from 5 back to 3 answered {back.status_code} "
            f"{back.text!r}",
            requirement="HTTP-6",
        )
    last = await ctx.http_publish("progress", update(7))
    if last.status_code != 202:
        raise CaseFailed(
            f"a valid progress update answered {last.status_code}", requirement="HTTP-4"
        )
    await a.expect(
        "event",
        channel="progress",
        where=lambda f: (
            isinstance(f.get("data"), dict)
            and f["data"].get("task") == task
            and f["data"].get("current") == 7
        ),
        what=f"task {task} at 7",
        requirement="HTTP-4",
    )
    seen = [
        f["data"].get("current")
        for f in a.received
        if f.get("type") == "event"
        and isinstance(f.get("data"), dict)
        and f["data"].get("task") == task
    ]
    if 3 in seen:
        raise CaseFailed(
            f"the refused update reached a subscriber: currents {seen}", requirement="HTTP-6"
        )
