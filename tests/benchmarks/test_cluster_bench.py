"""benchmarks/cluster.py works end to end on a tiny load (it asserts no timing), and its
committed results render as committed."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from benchmarks import cluster, run

TINY = dataclasses.replace(
    run.QUICK, fanout_seconds=1, latency_seconds=1, storm_clients=20, subscribers=4
)
RESULTS = Path(cluster.__file__).resolve().parent / "results"


def test_two_nodes_deliver_every_publish_to_subscribers_on_both() -> None:
    """Subscribers on both nodes, the publisher on the first: nothing skipped anywhere."""
    result = cluster.fanout("redis-2", TINY, prefix=())
    assert result["published"] > 0
    assert result["deliveries_per_s"] > 0
    assert result["mark_gaps"] == 0
    assert set(result["cpu"]) == {"node1", "node2", "redis"}


def test_the_storm_resumes_every_client_on_the_other_node() -> None:
    """Cut from the first node, every client resumes on the second, nothing missing."""
    result = cluster.storm("redis-2", TINY, prefix=())
    assert result["resumed"] == TINY.storm_clients
    assert result["refused"] == 0
    assert result["missing_or_duplicated"] == 0
    assert result["caught_up"] == TINY.storm_clients


def test_the_cost_per_delivery_counts_every_measured_process() -> None:
    fan = {"deliveries_per_s": 10_000.0, "cpu": {"node1": 0.5, "node2": 0.3, "redis": 0.2}}
    assert cluster.cost_per_delivery_us(fan) == pytest.approx(100.0)


def test_the_latency_rate_is_half_the_slowest_rows_saturation() -> None:
    # 100 subscribers: 3,000, 245 and 319 publishes per second at saturation.
    fanouts = {
        "memory": {"deliveries_per_s": 300_000.0},
        "redis-1": {"deliveries_per_s": 24_480.0},
        "redis-2": {"deliveries_per_s": 31_904.0},
    }
    assert cluster.latency_rate(fanouts, 100) == 122


def test_the_committed_results_render_as_committed() -> None:
    report = json.loads((RESULTS / "cluster.json").read_text())
    assert set(report["results"]["fanout"]) == set(cluster.DEPLOYMENTS)
    assert (RESULTS / "cluster.md").read_text() == cluster.to_markdown(report)
    for name in cluster.DEPLOYMENTS:
        assert report["results"]["storm"][name]["missing_or_duplicated"] == 0, name
