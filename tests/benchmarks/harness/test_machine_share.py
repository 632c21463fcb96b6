"""What other processes used of the machine while the harness ran (harness.machine_share)."""

from __future__ import annotations

import subprocess
import sys

from benchmarks.harness.machine_share import (
    QUIET_CORES,
    CpuSnapshot,
    foreign_cores,
    share_note,
)

_SPIN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"


def test_a_waited_for_child_is_the_harness_own_work_not_foreign() -> None:
    start = CpuSnapshot.take()
    subprocess.run([sys.executable, "-c", _SPIN], check=True)
    end = CpuSnapshot.take()
    assert end.own_s - start.own_s >= 0.3
    # The child's 0.3 s of CPU is counted as ours: what is left is other work on the machine,
    # which cannot exceed what the machine did in all.
    assert foreign_cores(start, end) <= (end.busy_s - start.busy_s) / (end.wall_s - start.wall_s)


def test_cpu_spent_beyond_the_harness_is_foreign() -> None:
    start = CpuSnapshot(busy_s=100.0, own_s=10.0, wall_s=0.0)
    end = CpuSnapshot(busy_s=130.0, own_s=30.0, wall_s=20.0)
    assert foreign_cores(start, end) == 0.5
    assert foreign_cores(end, end) == 0.0
    # Clock granularity can make the difference slightly negative: never below 0.
    assert foreign_cores(start, CpuSnapshot(busy_s=119.0, own_s=30.0, wall_s=20.0)) == 0.0


def test_the_note_says_quiet_shared_or_not_recorded() -> None:
    assert share_note(QUIET_CORES, 2).startswith("The machine was quiet")
    assert share_note(QUIET_CORES + 0.01, 2).startswith("The machine was shared")
    assert "not recorded" in share_note(None, 2)
