"""The harness runs end to end on a tiny load, against every peer: every publish is checked
delivered to every subscriber, and the load generator reports its CPU (no speed is asserted)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from benchmarks.harness import scenarios
from benchmarks.harness.peers import NODE, PEERS, Peer, Pinning
from benchmarks.harness.scenarios import Fanout

PIN = Pinning(None, None, None)  # tests neither pin nor raise priority
TINY = Fanout(subscribers=3, inflight=5, payload=100)
LOSSY = Peer(
    "lossy",
    "bare",
    "lossy",
    argv=(sys.executable, str(Path(__file__).with_name("lossy_server.py"))),
)


def _needs(peer: Peer) -> None:
    if peer.name.startswith("node-") and (
        shutil.which("node") is None or not (NODE / "node_modules").is_dir()
    ):
        pytest.skip("the Node peers are installed by `make pytest` (npm ci in benchmarks/node)")


@pytest.mark.parametrize("peer", PEERS, ids=lambda p: p.name)
def test_fanout_checks_every_delivery_and_reports_the_load_generator_cpu(peer: Peer) -> None:
    _needs(peer)
    row = scenarios.fanout(peer, PIN, TINY, seconds=0.3)
    assert row["published"] > 0
    assert row["deliveries"] > 0
    assert row["delivered_all"], row
    assert row["missing"] == row["duplicates"] == row["seq_gaps"] == 0
    assert row["loadgen_cpu"] >= 0
    assert row["loadgen_saturated"] is (row["loadgen_cpu"] > scenarios.LOADGEN_LIMIT)


def test_a_16_kb_payload_is_delivered_whole() -> None:
    row = scenarios.fanout(PEERS[2], PIN, Fanout(2, 3, 16384), seconds=0.3)
    assert row["delivered_all"], row
    assert row["megabytes_per_s"] == pytest.approx(row["deliveries_per_s"] * 16384 / 1e6)


def test_a_server_that_loses_deliveries_is_reported_as_not_delivered() -> None:
    row = scenarios.fanout(LOSSY, PIN, TINY, seconds=0.3)
    assert row["published"] >= 5
    assert row["missing"] > 0
    assert row["delivered_all"] is False


@pytest.mark.parametrize("name", ["canaux", "node-ws"])
def test_latency_at_a_fixed_rate_gives_one_sample_per_delivery(name: str) -> None:
    peer = next(p for p in PEERS if p.name == name)
    _needs(peer)
    row = scenarios.latency(peer, PIN, rate=50, seconds=0.4, subscribers=3)
    assert row["samples"] == row["deliveries"] > 0
    assert row["p50_ms"] <= row["p99_ms"] <= row["p999_ms"] <= row["max_ms"]
    assert row["delivered_all"], row


def test_idle_holds_every_connection_while_the_server_memory_is_read() -> None:
    row = scenarios.idle(PEERS[0], PIN, connections=130, warm=100)
    assert row["open_at_end"] == 130
    assert row["rss_loaded_kib"] > 0


STUCK = Peer(
    "stuck",
    "bare",
    "stuck",
    argv=(sys.executable, str(Path(__file__).with_name("stuck_server.py")), "8"),
)


def test_idle_against_a_server_that_stops_accepting_says_how_far_it_got() -> None:
    # 5 warm connections, then 7 more of which the server answers 3: the row fails, saying so.
    with pytest.raises(RuntimeError, match=r"not ready against stuck: .*\b3 of 7 after"):
        scenarios.idle(STUCK, PIN, connections=12, warm=5, stall_s=1.0)
