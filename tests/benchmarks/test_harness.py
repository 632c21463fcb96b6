"""The benchmark harness works end to end on a tiny load (it asserts no timing)."""

from __future__ import annotations

import dataclasses

import pytest

from benchmarks import run

TINY = dataclasses.replace(
    run.QUICK,
    fanout_seconds=1,
    latency_seconds=1,
    idle_connections=120,
    storm_clients=20,
    subscribers=4,
)


@pytest.mark.parametrize("kind", run.KINDS)
def test_fanout_delivers_every_publish_to_every_subscriber_without_gaps(kind: str) -> None:
    result = run.fanout(kind, TINY)
    assert result["published"] > 0
    assert result["deliveries_per_s"] > 0
    assert result["mark_gaps"] == 0


@pytest.mark.parametrize("kind", run.KINDS)
def test_latency_collects_one_sample_per_delivery(kind: str) -> None:
    result = run.latency(kind, TINY, rate=50)
    assert result["samples"] > 0
    assert result["p50_ms"] <= result["p99_ms"] <= result["p999_ms"]


def test_idle_measures_the_server_resident_memory() -> None:
    result = run.idle("bare", TINY)
    assert result["connections"] == TINY.idle_connections
    assert result["rss_loaded_kib"] > 0


def test_storm_resumes_every_client_with_nothing_missing() -> None:
    result = run.storm(TINY)
    assert result["resumed"] == TINY.storm_clients
    assert result["refused"] == 0
    assert result["missing_or_duplicated"] == 0
    assert result["caught_up"] == TINY.storm_clients


def test_percentile_picks_the_nearest_rank() -> None:
    values = list(range(1000, 101_000, 1000))  # microseconds
    assert run._percentile(values, 0.5) == pytest.approx(50.0, abs=1.0)
    assert run._percentile(values, 0.99) == pytest.approx(99.0, abs=1.0)


def test_split_spreads_clients_evenly() -> None:
    assert run._split(101, 2) == [51, 50]
    assert sum(run._split(10_000, 3)) == 10_000


def test_targets_report_a_miss_with_its_measured_ratio() -> None:
    fan = {
        "bare": {"deliveries_per_s": 100.0},
        "socketio": {"deliveries_per_s": 25.0},
        "canaux": {"deliveries_per_s": 50.0},
    }
    results = {
        "fanout": fan,
        "latency": {"canaux": {"p99_ms": 4.0}},
        "idle": {"canaux": {"kib_per_connection": 20.0, "connections": 10_000}},
        "storm": {
            "clients": 10,
            "resumed": 10,
            "missing_or_duplicated": 0,
            "all_caught_up_ms": 900,
        },
    }
    targets = {t["target"]: t for t in run.evaluate(results)}
    bare = targets["fan-out ≥ 0.8× bare websockets"]
    assert bare["met"] is False
    assert bare["measured"] == "0.50×"
    assert targets["fan-out ≥ 3× python-socketio"]["met"] is False
    assert targets["latency p99 < 10 ms"]["met"] is True
    assert targets["storm: all resumed, none missing, ≤ 5 s"]["met"] is True


def test_flood_counts_every_attacker_and_every_watcher_delivery() -> None:
    result = run.flood("flood", scale=0.01)
    assert result["sockets"] == 30
    assert result["welcomed"] + sum(result["failed"].values()) == 30
    assert result["watcher_gaps"] == 0
    assert result["watcher_samples"] > 0
    assert result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]


def test_slowloris_sockets_are_counted_as_the_server_closes_them() -> None:
    result = run.flood("slowloris", scale=0.02, extra_flags=["--handshake-timeout-ms", "1000"])
    assert result["opened"] == 20
    assert result["closed_by_server"] == result["answered_408"] == 20
    assert result["still_open"] == 0
