"""Progress tasks (standard-channels.md, progress, PROGRESS-1) without sockets."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest

from canaux.server.broker import BrokerMessage, MemoryBroker
from canaux.server.channels.progress import (
    ProgressRefused,
    ProgressReporter,
    ScanTask,
    TaskRunner,
    check_update,
    resolve_scan_path,
)
from canaux.server.channels.system import SystemNotices

pytestmark = pytest.mark.anyio


def update(status: str, current: int, total: int | None, kind: str = "scan") -> dict[str, Any]:
    return {"task": "t", "kind": kind, "status": status, "current": current, "total": total}


@pytest.mark.parametrize(
    ("previous", "new", "pointer"),
    [
        (update("running", 5, 10), update("running", 4, 10), "/data/current"),
        (update("running", 5, 10), update("running", 5, 11), "/data/total"),
        (update("running", 5, 10), update("pending", 5, 10), "/data/status"),
        (update("done", 10, 10), update("done", 10, 10), "/data/status"),
        (update("failed", 1, None), update("running", 2, None), "/data/status"),
        (update("running", 1, None), update("running", 1, None, kind="import"), "/data/kind"),
        (None, update("done", 3, 10), "/data/current"),
        (None, update("running", 11, 10), "/data/current"),
    ],
)
def test_regressions_are_refused(
    previous: dict[str, Any] | None, new: dict[str, Any], pointer: str
) -> None:
    """PROGRESS-1."""
    with pytest.raises(ProgressRefused) as refused:
        check_update(previous, new)
    assert refused.value.pointer == pointer


@pytest.mark.parametrize(
    ("previous", "new"),
    [
        (None, update("pending", 0, None)),
        (update("pending", 0, None), update("running", 0, None)),
        (update("running", 3, None), update("running", 3, 9)),
        (update("running", 3, 9), update("done", 9, 9)),
        (update("running", 3, None), update("done", 7, None)),
        (update("running", 3, 9), update("cancelled", 3, 9)),
    ],
)
def test_forward_updates_are_accepted(previous: dict[str, Any] | None, new: dict[str, Any]) -> None:
    check_update(previous, new)


class SteppingClock:
    """A clock that moves by ``step`` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


async def _runner(step: float = 1.0) -> tuple[TaskRunner, list[BrokerMessage]]:
    broker = MemoryBroker()
    seen: list[BrokerMessage] = []
    broker.attach(seen.append)
    await broker.subscribe("progress")
    await broker.subscribe("system")
    runner = TaskRunner(broker, SystemNotices(broker), clock=SteppingClock(step))
    return runner, seen


async def test_scan_walks_the_tree_monotonically(tmp_path: Path) -> None:
    for n in range(250):
        folder = tmp_path / f"d{n % 4}"
        folder.mkdir(exist_ok=True)
        (folder / f"f{n}").write_bytes(b"ab")
    runner, seen = await _runner()
    task_id = runner.start(ScanTask(tmp_path, updates=10))
    async with asyncio.timeout(30):
        await runner.wait(task_id)
    updates = [m.data for m in seen if m.channel == "progress"]
    statuses = [u["status"] for u in updates]
    assert statuses[0] == "pending"
    assert statuses[-1] == "done"
    assert set(statuses) == {"pending", "running", "done"}
    assert (updates[-1]["current"], updates[-1]["total"]) == (250, 250)
    assert updates[-1]["message"] == "250 files, 500 bytes"
    for before, after in itertools.pairwise(updates):
        check_update(before, after)
    assert len(updates) <= 10 + 4  # bounded by `updates`, plus pending/listing/total/done
    notices = [m.data for m in seen if m.channel == "system"]
    assert notices[-1]["code"] == "scan.done"


async def test_closing_the_runner_cancels_tasks_with_a_final_update() -> None:
    never = asyncio.Event()
    started = asyncio.Event()

    class Forever:
        kind = "analysis"

        async def run(self, report: ProgressReporter) -> str:
            await report.update("running", 0, None)
            started.set()
            await never.wait()
            return "unreachable"

    runner, seen = await _runner()
    runner.start(Forever())
    async with asyncio.timeout(10):
        await started.wait()
        await runner.aclose()
    assert [m.data["status"] for m in seen if m.channel == "progress"] == [
        "pending",
        "running",
        "cancelled",
    ]


async def test_a_failing_task_reports_failed() -> None:
    class Broken:
        kind = "import"

        async def run(self, report: ProgressReporter) -> str:
            await report.update("running", 1, 3)
            raise OSError("disk gone")

    runner, seen = await _runner()
    task_id = runner.start(Broken())
    async with asyncio.timeout(10):
        await runner.wait(task_id)
    last = [m.data for m in seen if m.channel == "progress"][-1]
    assert (last["status"], last["current"], last["message"]) == ("failed", 1, "disk gone")
    assert [m.data["code"] for m in seen if m.channel == "system"] == ["import.failed"]


def test_scan_paths_stay_below_the_root(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert resolve_scan_path(tmp_path, "a") == (tmp_path / "a").resolve()
    assert resolve_scan_path(tmp_path, "") == tmp_path.resolve()
    for bad in ("..", "a/../..", "/etc", "missing"):
        with pytest.raises(ValueError, match=r"scan root|not a directory"):
            resolve_scan_path(tmp_path, bad)


@pytest.mark.parametrize(("step", "published"), [(0.0, 2), (0.0625, 51), (1.0, 101)])
async def test_updates_are_throttled_to_ten_a_second(step: float, published: int) -> None:
    """PROGRESS-4: intermediate updates may be skipped, the terminal one never is."""

    class Counting:
        kind = "analysis"

        async def run(self, report: ProgressReporter) -> str:
            for n in range(1, 100):
                await report.update("running", n, 100)
            return "counted"

    runner, seen = await _runner(step)
    task_id = runner.start(Counting())
    async with asyncio.timeout(10):
        await runner.wait(task_id)
    updates = [m.data for m in seen if m.channel == "progress"]
    assert len(updates) == published
    assert updates[-1]["status"] == "done"
    assert (updates[-1]["current"], updates[-1]["total"]) == (100, 100)
    for before, after in itertools.pairwise(updates):
        check_update(before, after)
