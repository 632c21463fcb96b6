"""benchmarks/memory.py: the worst case it prints is spec/limits.md's, and its table renders."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import memory

MiB = 1024 * 1024
RESULTS = Path(memory.__file__).resolve().parent / "results" / "memory.json"


def test_the_worst_case_is_the_spec_s_arithmetic() -> None:
    """spec/limits.md "Worst case": kept detached buffers plus open connections."""
    limits = {"resume_buffer_bytes": MiB, "outbound_queue_bytes": MiB}
    event = 60_000
    assert memory.worst_case(limits, detached=32, connections=0, event=event) == 32 * (MiB + event)
    assert memory.worst_case(limits, detached=0, connections=1, event=event) == 3 * MiB + 3 * event


def test_a_server_that_announces_nothing_is_judged_by_the_reference_defaults() -> None:
    assert memory.worst_case({}, detached=1, connections=1, event=0) == 4 * MiB


def test_the_committed_results_stay_within_the_worst_case_and_render() -> None:
    report = json.loads(RESULTS.read_text())
    for row in report["results"]:
        assert row["watcher_complete"], row["scenario"]
        assert row["rss_after"] - row["rss_before"] <= row["worst_case"], row["scenario"]
    assert "| detached-40 |" in memory.to_markdown(report)
