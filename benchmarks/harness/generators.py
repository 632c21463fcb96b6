"""Which load generator: the Python picows workers (``benchmarks/loadgen.py``) against the
compiled one (``loadgen.c``), on the same server, the same core and the same workload.

    python -m benchmarks.harness.generators [--peer node-ws] [--seconds 3]

For each it prints deliveries per second, its CPU (share of its one core) and its CPU per
delivery: a generator whose CPU per delivery is a large share of a server's is measuring
itself. The results's notes quote a run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.harness import scenarios
from benchmarks.harness.peers import PEERS, Pinning, pinning, running
from benchmarks.harness.scenarios import Fanout

__all__ = ["compiled", "main", "picows"]


def picows(peer_name: str, pin: Pinning, config: Fanout, seconds: float) -> dict[str, Any]:
    """The Python workers, all on the load generator's core: one subscriber process holding
    every subscriber, one publisher process (its own subscription is its echo)."""
    peer = next(p for p in PEERS if p.name == peer_name)
    with running(peer, pin) as server:
        url = f"ws://127.0.0.1:{server.port}{server.client_path()}"
        roles = [
            ("fanout-sub", config.subscribers, []),
            ("fanout-pub", 1, ["--inflight", str(config.inflight)]),
        ]
        processes = []
        for role, clients, extra in roles:
            command = [
                *pin.prefix(pin.loadgen_core), sys.executable, "-m", "benchmarks.loadgen",
                "--url", url, "--dialect", peer.dialect, "--role", role,
                "--clients", str(clients), *extra,
            ]  # fmt: skip
            process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError(f"picows worker {role} not ready")
            processes.append(process)
        start = time.monotonic_ns() + 1_000_000_000
        end = start + int(seconds * 1e9)
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(f"go {start} {end}\n")
            process.stdin.flush()
        results = [
            json.loads(p.communicate(timeout=seconds + 60)[0].splitlines()[-1]) for p in processes
        ]
    received = sum(r["received"] for r in results if r["role"] == "fanout-sub")
    cpu = sum(r["cpu_s"] for r in results)
    return {
        "generator": "picows (Python)",
        "deliveries_per_s": received / seconds,
        "loadgen_cpu": cpu / seconds,
        "loadgen_us_per_delivery": cpu * 1e6 / received if received else None,
        "mark_gaps": sum(r["mark_gaps"] for r in results),
    }


def compiled(peer_name: str, pin: Pinning, config: Fanout, seconds: float) -> dict[str, Any]:
    peer = next(p for p in PEERS if p.name == peer_name)
    row = scenarios.fanout(peer, pin, config, seconds)
    return {
        "generator": "compiled (C, epoll)",
        "deliveries_per_s": row["deliveries_per_s"],
        "loadgen_cpu": row["loadgen_cpu"],
        "loadgen_us_per_delivery": row["loadgen_cpu"] * 1e6 / row["deliveries_per_s"],
        "delivered_all": row["delivered_all"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--peer", default="node-ws", choices=[p.name for p in PEERS])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    pin = pinning()
    config = Fanout(100, 100, 100)
    print(f"{args.peer}, {config.key}, load generator on core {pin.loadgen_core}")
    print("| generator | deliveries/s | its CPU | its CPU µs per delivery |")
    print("|---|---:|---:|---:|")
    for _ in range(args.rounds):
        for measure in (picows, compiled):
            row = measure(args.peer, pin, config, args.seconds)
            print(
                f"| {row['generator']} | {row['deliveries_per_s']:,.0f} | {row['loadgen_cpu']:.0%} "
                f"| {row['loadgen_us_per_delivery']:.2f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
