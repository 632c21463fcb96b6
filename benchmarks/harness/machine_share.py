"""How much of the machine other work used while the harness ran.

The load average cannot say it: while a row runs, the harness's own server and load generator
keep about two processes runnable, which on a 2-core machine is "load 2" however quiet the rest
is. What does say it is CPU time: the machine's busy time (``/proc/stat``) minus the CPU time of
the harness and every process it started and waited for (``os.times()`` counts waited-for
children, and their own children in turn). What is left was spent by other processes.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["QUIET_CORES", "CpuSnapshot", "foreign_cores", "share_note"]

QUIET_CORES = 0.2
"""Other processes using at most this many cores on average leave the machine "quiet"."""

_BUSY_FIELDS = 8
"""user nice system idle iowait irq softirq steal: the first eight columns of ``cpu``."""


def _machine_busy_s(stat: Path = Path("/proc/stat")) -> float:
    """CPU seconds every core together has spent busy since boot (idle and iowait left out)."""
    columns = [int(v) for v in stat.read_text().split("\n", 1)[0].split()[1 : 1 + _BUSY_FIELDS]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = columns
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_s() -> float:
    """CPU seconds of this process and of the children it has waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass(frozen=True)
class CpuSnapshot:
    """The machine's busy time, the harness's own CPU time and the wall clock, at one instant."""

    busy_s: float
    own_s: float
    wall_s: float

    @classmethod
    def take(cls) -> CpuSnapshot:
        return cls(_machine_busy_s(), _own_s(), time.monotonic())


def foreign_cores(start: CpuSnapshot, end: CpuSnapshot) -> float:
    """Cores other processes kept busy on average between two snapshots (never below 0).

    Call ``end`` once every process the harness started has been waited for: a child still
    running (or never reaped) would count as foreign work.
    """
    wall = end.wall_s - start.wall_s
    if wall <= 0:
        return 0.0
    foreign = (end.busy_s - start.busy_s) - (end.own_s - start.own_s)
    return max(0.0, foreign / wall)


def share_note(foreign: float | None, cores: int) -> str:
    """The sentence the report prints about the machine, from :func:`foreign_cores`."""
    if foreign is None:
        return (
            "Other processes' CPU was not recorded for this run (its load average counts the "
            "harness's own server and load generator, about 2 while a row runs, so it cannot "
            "say whether other work shared the machine)."
        )
    if foreign <= QUIET_CORES:
        return (
            f"The machine was quiet: other processes used {foreign:.2f} of its {cores} cores "
            "on average (the machine's CPU time minus the harness's own and its servers')."
        )
    return (
        f"The machine was shared: other processes used {foreign:.2f} of its {cores} cores on "
        "average (the machine's CPU time minus the harness's own and its servers'), so the "
        "figures are noisier than on a quiet machine."
    )
