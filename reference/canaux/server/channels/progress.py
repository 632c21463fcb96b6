"""The progress channel (standard-channels.md): long-running tasks and their monotonic updates.

Every update, from a task of this server or from a backend through ``POST /publish``, passes
:func:`check_update` against the task's previous update, held in the broker, so that a
subscriber never sees progress go backwards [PROGRESS-1]: ``current`` never decreases, ``total``
once known never changes, status moves pending → running → done/failed/cancelled and nothing
follows a terminal status.

:class:`TaskRunner` runs tasks in the background; :class:`ScanTask` is the built-in task: it
walks a directory below the configured scan root and counts files and bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import canaux_schemas
from canaux.protocol.codes import ErrorCode
from canaux.protocol.errors import ServerError
from canaux.server.broker import Broker, StateChange
from canaux.server.channels.channel import Channel, Publication, Refused
from canaux.server.channels.system import SystemNotices

__all__ = [
    "CHANNEL",
    "ProgressRefused",
    "ProgressReporter",
    "ScanTask",
    "Status",
    "Task",
    "TaskRunner",
    "check_update",
    "progress_channel",
    "publish_update",
    "resolve_scan_path",
]

CHANNEL = "progress"

logger = logging.getLogger("canaux.server.progress")

Status = Literal["pending", "running", "done", "failed", "cancelled"]
_RANK = {"pending": 0, "running": 1, "done": 2, "failed": 2, "cancelled": 2}


class ProgressRefused(ServerError, ValueError):
    """An update that would make a task's progress go backwards [PROGRESS-1]."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(message)
        self.pointer = pointer
        self.message = message


def check_update(previous: Mapping[str, Any] | None, update: Mapping[str, Any]) -> None:
    """Refuse ``update`` if it does not follow ``previous`` (``None``: first update) [PROGRESS-1].

    Both are schema-valid progress event data; pointers are relative to a publish frame.
    """
    status, current, total = update["status"], update["current"], update["total"]
    if total is not None and current > total:
        raise ProgressRefused("/data/current", f"current {current} exceeds total {total}")
    if status == "done" and total is not None and current != total:
        raise ProgressRefused("/data/current", "a finished task has current = total")
    if previous is None:
        return
    if _RANK[previous["status"]] == 2:
        raise ProgressRefused("/data/status", f"task already {previous['status']}")
    if _RANK[status] < _RANK[previous["status"]]:
        raise ProgressRefused("/data/status", f"status cannot go back to {status}")
    if update["kind"] != previous["kind"]:
        raise ProgressRefused("/data/kind", "the kind of a task does not change")
    if current < previous["current"]:
        raise ProgressRefused(
            "/data/current", f"current cannot decrease below {previous['current']}"
        )
    if previous["total"] is not None and total != previous["total"]:
        raise ProgressRefused("/data/total", f"total is already {previous['total']}")


def _state_key(task: str) -> str:
    return f"progress:{task}"


async def publish_update(broker: Broker, update: Mapping[str, Any]) -> None:
    """Check ``update`` against the task's last update and publish it, atomically."""

    def change(previous: Any) -> StateChange:
        check_update(previous, update)
        return StateChange(state=dict(update), event=dict(update))

    await broker.update_state(_state_key(str(update["task"])), CHANNEL, change)


def progress_channel() -> Channel:
    """The ``progress`` channel: only the server publishes, and every update, from a task of
    this server, ``server.publish`` or ``POST /publish``, must follow the task's previous one
    [PROGRESS-1]; one that does not is refused with ``invalid_payload``."""

    async def on_publish(publication: Publication) -> None:
        try:
            await publish_update(publication.broker, publication.data)
        except ProgressRefused as refused:
            raise Refused(ErrorCode.INVALID_PAYLOAD, refused.message, refused.pointer) from None

    return Channel(
        CHANNEL,
        schema=canaux_schemas.CHANNEL_SCHEMAS[CHANNEL],
        publish="server",
        on_publish=on_publish,
    )


class ProgressReporter:
    """What a running task uses to publish its progress; it keeps the last update."""

    def __init__(
        self,
        broker: Broker,
        task: str,
        kind: str,
        *,
        min_interval_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._broker = broker
        self.task = task
        self.kind = kind
        self.status: Status = "pending"
        self.current = 0
        self.total: int | None = None
        self._min_interval = min_interval_s
        self._clock = clock
        self._published_at: float | None = None

    async def update(
        self,
        status: Status,
        current: int | None = None,
        total: int | None = None,
        message: str | None = None,
    ) -> None:
        """Record an update and publish it; omitted numbers keep their last value.

        [PROGRESS-4] at most one update per ``min_interval_s`` (ten a second by default) is
        published; a skipped one is carried by the next, and terminal updates always go out.
        """
        data: dict[str, Any] = {
            "task": self.task,
            "kind": self.kind,
            "status": status,
            "current": self.current if current is None else current,
            "total": self.total if total is None else total,
        }
        if message is not None:
            data["message"] = message
        now = self._clock()
        due = self._published_at is None or now - self._published_at >= self._min_interval
        if due or _RANK[status] == 2:
            await publish_update(self._broker, data)
            self._published_at = now
        else:
            check_update(self._last(), data)  # a skipped update must still be a valid one
        self.status, self.current, self.total = status, data["current"], data["total"]

    def _last(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "kind": self.kind,
            "status": self.status,
            "current": self.current,
            "total": self.total,
        }

    @property
    def finished(self) -> bool:
        return _RANK[self.status] == 2


class Task(Protocol):
    """A background job whose progress is published on ``progress``."""

    @property
    def kind(self) -> str:
        """The task kind, ``^[a-z][a-z0-9_-]{0,31}$`` (``scan``, ``analysis``…)."""
        ...

    async def run(self, report: ProgressReporter) -> str:
        """Do the work, reporting ``running`` updates; return the message of the ``done`` update."""
        ...


class TaskRunner:
    """Runs tasks in the background: pending → running → done, failed or cancelled."""

    def __init__(
        self,
        broker: Broker,
        notices: SystemNotices,
        *,
        min_interval_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._broker = broker
        self._notices = notices
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._min_interval = min_interval_s
        self._clock = clock

    def start(self, task: Task) -> str:
        """Start ``task`` and return its id (``<kind>-<random hex>``, unique across processes)."""
        task_id = f"{task.kind}-{secrets.token_hex(4)}"
        reporter = ProgressReporter(
            self._broker, task_id, task.kind, min_interval_s=self._min_interval, clock=self._clock
        )
        runner = asyncio.create_task(self._run(task, reporter), name=f"canaux task {task_id}")
        self._tasks[task_id] = runner
        runner.add_done_callback(lambda _: self._tasks.pop(task_id, None))
        return task_id

    async def wait(self, task_id: str) -> None:
        """Wait until the task ``task_id`` has published its terminal status."""
        runner = self._tasks.get(task_id)
        if runner is not None:
            await asyncio.shield(runner)

    async def _run(self, task: Task, report: ProgressReporter) -> None:
        try:
            await report.update("pending", 0, None)
            message = await task.run(report)
            await report.update("done", report.total, message=message)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await report.update("cancelled", message="the server stopped the task")
            raise
        except Exception as exc:
            logger.exception("task %s failed", report.task)
            if not report.finished:
                with contextlib.suppress(Exception):
                    await report.update("failed", message=str(exc)[:200] or type(exc).__name__)
            await self._notices.publish(
                "error", f"Task {report.task} failed", f"{task.kind}.failed"
            )
            return
        await self._notices.publish(
            "info", f"Task {report.task} finished: {message}", f"{task.kind}.done"
        )

    async def aclose(self) -> None:
        """Cancel the running tasks; each publishes ``cancelled`` before it ends."""
        runners = list(self._tasks.values())
        for runner in runners:
            runner.cancel()
        await asyncio.gather(*runners, return_exceptions=True)


def resolve_scan_path(root: Path, relative: str) -> Path:
    """``root / relative``, refused (ValueError) when it leaves ``root`` or is not a directory."""
    base = root.resolve()
    target = (base / relative).resolve()
    if target != base and base not in target.parents:
        raise ValueError("path leaves the scan root")
    if not target.is_dir():
        raise ValueError("path is not a directory")
    return target


@dataclass(frozen=True, slots=True)
class ScanTask:
    """Walk a directory tree: count its files, then read each one's size."""

    directory: Path
    kind: str = "scan"
    updates: int = 100
    """At most this many ``running`` updates while reading sizes (plus the first and last)."""

    async def run(self, report: ProgressReporter) -> str:
        await report.update(
            "running", 0, None, message=f"Listing {self.directory.name or self.directory}"
        )
        files = await asyncio.to_thread(_list_files, self.directory)
        total = len(files)
        await report.update("running", 0, total, message=f"{total} files to read")
        step = max(1, total // self.updates)
        size = 0
        # One worker-thread hop per batch of files, one update per batch.
        for start in range(0, total, step):
            batch = files[start : start + step]
            size += await asyncio.to_thread(_sizes, batch)
            done = start + len(batch)
            if done < total:
                await report.update("running", done)
        return f"{total} files, {size} bytes"


def _list_files(directory: Path) -> list[Path]:
    found: list[Path] = []
    for folder, _dirs, names in os.walk(directory):
        found.extend(Path(folder, name) for name in sorted(names))
    found.sort()
    return found


def _sizes(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        # A file removed while the scan runs counts as empty rather than failing the scan.
        with contextlib.suppress(OSError):
            total += path.stat().st_size
    return total
