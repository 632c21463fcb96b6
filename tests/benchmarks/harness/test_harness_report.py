"""Rows become tables and targets: repeats as min/median/max, ratios round by round, a
saturated load generator flagged, every target met or missed with its margin."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from benchmarks.harness import cli, profile, report, scenarios, validation
from benchmarks.harness.peers import Pinning
from benchmarks.harness.scenarios import Fanout


def _fan(
    peer: str, config: Fanout, round_: int, rate: float, loadgen: float = 0.1
) -> dict[str, Any]:
    return {
        "peer": peer, "config": config.key, "round": round_, "subscribers": config.subscribers,
        "inflight": config.inflight, "payload": config.payload, "deliveries_per_s": rate,
        "megabytes_per_s": rate * config.payload / 1e6, "server_cpu": 1.0,
        "server_us_per_delivery": 1e6 / rate, "loadgen_cpu": loadgen,
        "loadgen_saturated": loadgen > 0.8, "delivered_all": True, "missing": 0,
        "duplicates": 0, "closed": 0, "load_average_1min": 1.0,
    }  # fmt: skip


def _lat(peer: str, rate: int, p99: float, us: float) -> dict[str, Any]:
    return {
        "peer": peer, "rate_per_s": rate, "round": 0, "p50_ms": p99 / 2, "p99_ms": p99,
        "p999_ms": p99, "server_cpu": 0.2, "server_us_per_delivery": us, "loadgen_cpu": 0.05,
        "kept_up": True, "delivered_all": True, "missing": 0, "duplicates": 0, "closed": 0,
        "load_average_1min": 1.0,
    }  # fmt: skip


def _results() -> dict[str, Any]:
    base, deep, big = Fanout(100, 100, 100), Fanout(100, 500, 100), Fanout(100, 100, 16384)
    fan = [
        _fan("canaux", base, 0, 80_000), _fan("node-ws", base, 0, 100_000),
        _fan("canaux", base, 1, 90_000), _fan("node-ws", base, 1, 100_000, loadgen=0.9),
        _fan("canaux", deep, 0, 120_000), _fan("node-ws", deep, 0, 100_000),
        _fan("canaux", big, 0, 20_000), _fan("bare", big, 0, 40_000),
        _fan("bare", base, 0, 70_000), _fan("python-socketio", base, 0, 20_000),
    ]  # fmt: skip
    idle = {"peer": "canaux", "connections": 10_000, "kib_per_connection": 25.0}
    idle["load_average_1min"] = 1.0
    check = {"channel": "conformance.bench", "valid_us": 80.0, "valid_us_max": 90.0}
    check["invalid_us"] = 60.0
    return {
        "fanout": fan,
        "rates": {"shared": 100, "high": 400, "slowest": "python-socketio, 200 publishes/s"},
        "latency": [_lat("canaux", 100, 30.0, 40.0), _lat("node-ws", 100, 10.0, 10.0)],
        "idle": [
            {
                "peer": "canaux",
                "connections": 10_000,
                "kib_per_connection": 25.0,
                "load_average_1min": 1.0,
            }
        ],
        "validation": [
            {
                "channel": "conformance.bench",
                "valid_us": 80.0,
                "valid_us_max": 90.0,
                "invalid_us": 60.0,
            }
        ],
    }


def test_ratios_are_taken_round_by_round() -> None:
    base = Fanout(100, 100, 100).key
    fan = _results()["fanout"]
    r = report.ratio(
        fan, "canaux", "node-ws", "deliveries_per_s", lambda row: row["config"] == base
    )
    assert r == pytest.approx({"min": 0.8, "median": 0.85, "max": 0.9})


def test_every_target_says_met_or_missed_and_by_how_much() -> None:
    targets = {t["target"]: t for t in report.evaluate(_results())}
    shallow = targets["fan-out ≥ 1.0× Node ws, 100 in flight, 100 subscribers"]
    assert shallow["met"] is False
    assert shallow["margin"] == "-15 %"
    assert targets["fan-out ≥ 1.0× Node ws, 500 in flight, 100 subscribers"]["met"] is True
    assert targets["p99 at the shared rate (100/s) ≤ 1.2× Node ws's"]["met"] is False
    cpu = targets["CPU per delivery at the shared rate ≤ 1.5× at saturation"]
    assert cpu["met"] is False
    assert targets["16 KB payloads ≥ 1.0× bare websockets (MB/s)"]["measured"].startswith("0.50×")
    assert targets["≤ 15 KiB per idle connection at 10,000"]["met"] is False
    assert targets["a valid publish's validation ≤ 2 µs (standard channels)"]["met"] is False


def test_rates_are_half_the_slowest_and_half_canaux_saturation() -> None:
    rates = cli.rates_from(_results()["fanout"], subscribers=100)
    assert rates["shared"] == 100  # python-socketio: 20,000 deliveries/s to 100 = 200/s
    assert rates["high"] == round(0.5 * 850)


def test_a_row_whose_load_generator_passed_80_percent_is_flagged() -> None:
    results = _results()
    out = {
        "mode": "test", "date": "now", "seconds": 60, "command": "x",
        "machine": {"cpu": "c", "cores": 2, "python": "3", "node": "v", "kernel": "k"},
        "peers": ["canaux", "node-ws", "bare", "python-socketio"],
        "pinning": {"server_core": 0, "loadgen_core": 1, "nice": -10}, "repeats": 2,
        "window_s": 1, "latency_window_s": 1, "load_start": (1.0, 1.0, 1.0),
        "load_end": (1.0, 1.0, 1.0), "load_note": "", "results": results,
        "targets": report.evaluate(results),
    }  # fmt: skip
    markdown = report.to_markdown(out)
    node_base = [
        line
        for line in markdown.splitlines()
        if line.startswith("| 100 subs, 100 in flight, 100 B | node-ws |")
    ]
    assert len(node_base) == 1
    assert "90% ⚠ over 80 %" in node_base[0]
    fanout_rows = [line for line in markdown.splitlines() if line.startswith("| 100 subs")]
    assert all("%" in line.split("|")[10] for line in fanout_rows)  # loadgen CPU on every row


def test_the_validation_micro_benchmark_times_every_client_channel() -> None:
    rows = validation.measure(seconds=0.01)
    assert {row["channel"] for row in rows} == {"chat", "playqueue", "conformance.bench"}
    assert all(row["valid_us"] > 0 and row["invalid_us"] > 0 for row in rows)


def test_the_harness_measures_and_reports_end_to_end(tmp_path: Any) -> None:
    mode = dataclasses.replace(
        cli.QUICK, window_s=0.3, latency_window_s=0.3, repeats=1, idle_connections=120,
        idle_repeats=1, sweep=(Fanout(3, 5, 100),), peers=("canaux", "bare"),
        validation_s=0.01, latency_subscribers=3,
    )  # fmt: skip
    results = cli.measure(mode, Pinning(None, None, None), cli.Progress(quiet=True))
    assert all(row["delivered_all"] for row in results["fanout"] + results["latency"])
    assert {row["peer"] for row in results["idle"]} == {"canaux", "bare"}
    assert results["rates"]["shared"] >= 1
    assert all("load_average_1min" in row for row in results["fanout"] + results["idle"])


def test_the_profile_summary_gives_own_and_total_shares() -> None:
    collapsed = (
        "canaux;run (loop.py:1);send (ws.py:10) 3\n"
        "canaux;run (loop.py:1);validate (channels.py:5) 1\n"
    )
    summary = profile.summarize(collapsed)
    assert summary.startswith("4 samples")
    assert " 75.0     75.0  send (ws.py)" in summary
    assert "  100.0  run (loop.py)" in summary


def test_a_peer_that_cannot_hold_the_idle_connections_gets_a_row_saying_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def idle(peer: Any, pin: Any, connections: int) -> dict[str, Any]:
        if peer.name == "python-socketio":
            raise RuntimeError("load generator not ready against python-socketio: 6 of 9 …")
        return {"peer": peer.name, "connections": connections, "kib_per_connection": 9.0,
                "connect_s": 2.0, "load_average_1min": 1.0}  # fmt: skip

    monkeypatch.setattr(scenarios, "idle", idle)
    mode = dataclasses.replace(
        cli.QUICK, scenarios=("idle",), idle_repeats=1, peers=("python-socketio", "bare")
    )
    results = cli.measure(mode, Pinning(None, None, None), cli.Progress(quiet=True))
    assert [row["peer"] for row in results["idle"]] == ["bare"]  # the run went on
    (failure,) = results["failures"]
    assert failure["peer"] == "python-socketio"
    assert failure["connections"] == 2000
    recorded = {
        "mode": "quick", "date": "today", "machine": {"cpu": "x", "cores": 2, "python": "3",
        "node": "v", "kernel": "k"}, "command": "c", "seconds": 60.0, "peers": list(mode.peers),
        "pinning": {"server_core": 0, "loadgen_core": 1, "nice": None}, "repeats": 1,
        "window_s": 1.0, "latency_window_s": 1.0, "load_start": [1.0], "load_end": [1.0],
        "load_note": "", "results": results, "targets": report.evaluate(results),
    }  # fmt: skip
    markdown = report.to_markdown(recorded)
    assert "| python-socketio | 2,000 | **not reached** (round 1): load generator not ready" in (
        markdown
    )
    assert "| bare | 2,000 | 9.0 | 2 | 1.0 |" in markdown
