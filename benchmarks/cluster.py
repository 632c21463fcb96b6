"""Broker rows: one node with the memory broker, one node on Redis, two nodes on one Redis.

The same three scenarios as ``benchmarks.run`` (its load generator, its fan-out, latency and
reconnect-storm roles), each run against three deployments of ``canaux serve``:

- ``memory``: one node, the in-memory broker (the embedded default);
- ``redis-1``: one node, ``--broker redis://…`` (what Redis adds, with nothing to share);
- ``redis-2``: two nodes on the same Redis; the subscribers split between them, the publisher
  on the first; in the storm every client is cut from the first node and resumes on the second.

Redis is Debian's ``redis-server`` on a free loopback port, no persistence. The server
processes and Redis run at ``nice -n -10`` (the machine is shared), and so do the load
generators, so that other tenants' work disturbs the measurement as little as it can; the load
average is recorded beside the figures. The cost per delivery is the CPU time of every measured
process (nodes and Redis) divided by the deliveries: what Redis adds per delivery is the
difference between the rows.

    python -m benchmarks.cluster          # make bench-cluster: results/cluster.{json,md}
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.run import (
    CLOCK_TICKS,
    LISTEN_RE,
    QUICK,
    RESULTS,
    Mode,
    Server,
    Workers,
    _machine,
    _percentile,
    _read_line,
    _server_command,
    _split,
    _wait_until,
)

__all__ = ["DEPLOYMENTS", "cost_per_delivery_us", "latency_rate", "main", "to_markdown"]

DEPLOYMENTS = ("memory", "redis-1", "redis-2")
NICE = ["nice", "-n", "-10"]
"""The measured processes' priority (root may raise it); other tenants run at nice 10."""

DETACHED_FLAGS = ["--max-detached-sessions", "5000", "--max-detached-total", "5000"]
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_READY = re.compile(r"(Ready to accept connections)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Redis:
    process: subprocess.Popen[str]
    url: str

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@contextmanager
def redis_server(prefix: Sequence[str] = NICE) -> Iterator[Redis]:
    """``redis-server`` on a free loopback port (it cannot listen on port 0), no persistence."""
    with tempfile.TemporaryDirectory(prefix="canaux-bench-redis-") as folder:
        port = _free_port()
        process = subprocess.Popen(
            [
                *prefix, REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(port),
                "--dir", folder, "--save", "", "--appendonly", "no", "--logfile", "",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        try:
            _read_line(process, REDIS_READY, 30)
            stdout = process.stdout
            assert stdout is not None
            # Read on, so that Redis never blocks on a full pipe.
            threading.Thread(target=stdout.read, daemon=True).start()
            yield Redis(process, f"redis://127.0.0.1:{port}/0")
        finally:
            process.terminate()
            process.wait(30)


@contextmanager
def node(broker: str | None, prefix: Sequence[str] = NICE) -> Iterator[Server]:
    """``canaux serve`` as ``benchmarks.run`` starts it, at nice -10, on ``broker``."""
    # The storm's clients share one identity (they send no token): keep every one of their
    # sessions (LIMIT-12 keeps 32 per identity by default, and the oldest go first).
    flags = [*DETACHED_FLAGS, *(["--broker", broker] if broker else [])]
    process = subprocess.Popen(
        [*prefix, *_server_command("canaux"), *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = _read_line(process, LISTEN_RE, 60)
        yield Server("canaux", process, url)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def deployment(name: str, prefix: Sequence[str]) -> Iterator[tuple[list[Server], Redis | None]]:
    with ExitStack() as stack:
        if name == "memory":
            yield [stack.enter_context(node(None, prefix))], None
            return
        redis = stack.enter_context(redis_server(prefix))
        count = 1 if name == "redis-1" else 2
        yield [stack.enter_context(node(redis.url, prefix)) for _ in range(count)], redis


def _workers(
    server: Server, roles: Sequence[tuple[str, int, list[str]]], prefix: Sequence[str]
) -> Workers:
    return Workers(server, roles, prefix=prefix)


def _groups(
    nodes: list[Server],
    subscribers: int,
    sub_role: str,
    pub: tuple[str, list[str]],
    workers: int,
    prefix: Sequence[str],
) -> list[Workers]:
    """Subscribers split over the nodes (``workers`` load processes in all), the publisher on
    the first node."""
    groups = []
    per_node = _split(subscribers, len(nodes))
    procs = _split(workers, len(nodes)) if workers >= len(nodes) else [1] * len(nodes)
    for index, server in enumerate(nodes):
        roles: list[tuple[str, int, list[str]]] = [
            (sub_role, n, []) for n in _split(per_node[index], procs[index])
        ]
        if index == 0:
            roles.append((pub[0], 1, pub[1]))
        groups.append(_workers(server, roles, prefix))
    return groups


def _cpu(nodes: list[Server], redis: Redis | None) -> dict[str, float]:
    cpu = {f"node{n + 1}": server.cpu_seconds() for n, server in enumerate(nodes)}
    if redis is not None:
        cpu["redis"] = redis.cpu_seconds()
    return cpu


def _results(groups: list[Workers], timeout: float) -> list[dict[str, Any]]:
    return [result for group in groups for result in group.results(timeout=timeout)]


def fanout(name: str, mode: Mode, prefix: Sequence[str] = NICE) -> dict[str, Any]:
    with deployment(name, prefix) as (nodes, redis):
        groups = _groups(
            nodes, mode.subscribers, "fanout-sub", ("fanout-pub", []), mode.workers, prefix
        )
        start = time.monotonic_ns() + 1_000_000_000
        end = start + int(mode.fanout_seconds * 1e9)
        for group in groups:
            group.go(start, end)
        _wait_until(start)
        cpu0 = _cpu(nodes, redis)
        load = os.getloadavg()[0]
        _wait_until(end)
        cpu1 = _cpu(nodes, redis)
        results = _results(groups, mode.fanout_seconds + 60)
    received = sum(r["received"] for r in results if r["role"] == "fanout-sub")
    cpu = {key: (cpu1[key] - cpu0[key]) / mode.fanout_seconds for key in cpu0}
    return {
        "deliveries_per_s": received / mode.fanout_seconds,
        "published": sum(r.get("published", 0) for r in results),
        "cpu": cpu,
        "loadgen_cpu": sum(r["cpu_s"] for r in results) / mode.fanout_seconds,
        "mark_gaps": sum(r["mark_gaps"] for r in results),
        "load_average": load,
    }


def latency(name: str, mode: Mode, rate: int, prefix: Sequence[str] = NICE) -> dict[str, Any]:
    with deployment(name, prefix) as (nodes, _):
        groups = _groups(
            nodes, mode.subscribers, "latency-sub", ("latency-pub", ["--rate", str(rate)]),
            mode.workers, prefix,
        )  # fmt: skip
        start = time.monotonic_ns() + 1_000_000_000
        end = start + int(mode.latency_seconds * 1e9)
        for group in groups:
            group.go(start, end)
        _wait_until(start)
        load = os.getloadavg()[0]
        results = _results(groups, mode.latency_seconds + 60)
    samples = sorted(v for r in results if r["role"] == "latency-sub" for v in r["latencies_us"])
    return {
        "rate_per_s": rate,
        "samples": len(samples),
        "p50_ms": _percentile(samples, 0.50),
        "p99_ms": _percentile(samples, 0.99),
        "p999_ms": _percentile(samples, 0.999),
        "load_average": load,
    }


def storm(name: str, mode: Mode, prefix: Sequence[str] = NICE) -> dict[str, Any]:
    """Every client cut at once from the first node; it resumes on the last (the same node
    when there is one)."""
    with deployment(name, prefix) as (nodes, _):
        back = ["--reconnect-url", nodes[-1].url]
        roles: list[tuple[str, int, list[str]]] = [
            ("storm-sub", n, back) for n in _split(mode.storm_clients, mode.workers)
        ]
        groups = [_workers(nodes[0], [*roles, ("storm-pub", 1, ["--rate", "50"])], prefix)]
        start = time.monotonic_ns() + 1_000_000_000
        cut = start + 2_000_000_000
        end = cut + 15_000_000_000
        groups[0].go(start, end, cut)
        _wait_until(cut)
        load = os.getloadavg()[0]
        results = _results(groups, 120)
    subs = [r for r in results if r["role"] == "storm-sub"]
    caught_up = sum(r["caught_up"] for r in subs)
    times = [r["catch_up_ms_max"] for r in subs if r["catch_up_ms_max"] is not None]
    return {
        "clients": mode.storm_clients,
        "reconnect_failed": sum(r.get("reconnect_failed", 0) for r in subs),
        "resumed": sum(r["resumed"] for r in subs),
        "refused": sum(r["refused"] for r in subs),
        "caught_up": caught_up,
        "missing_or_duplicated": sum(
            r["seq_gaps"] + r["seq_duplicates"] + r["mark_gaps"] for r in subs
        ),
        "all_caught_up_ms": max(times) if times and caught_up == mode.storm_clients else None,
        "load_average": load,
    }


def latency_rate(fanouts: dict[str, dict[str, Any]], subscribers: int) -> int:
    """The latency rows' one fixed rate: half the slowest row's fan-out saturation (publishes
    per second), so that every row keeps up with it and the percentiles measure delivery, not
    a queue that grows for the whole window (20 % of the memory row's saturation was above a
    Redis node's saturation)."""
    slowest = min(float(f["deliveries_per_s"]) for f in fanouts.values()) / subscribers
    return max(1, round(0.5 * slowest))


def cost_per_delivery_us(fan: dict[str, Any]) -> float:
    """CPU microseconds of every measured process (nodes, Redis) per delivery."""
    deliveries = float(fan["deliveries_per_s"])
    if not deliveries:
        return float("nan")
    return float(sum(fan["cpu"].values())) / deliveries * 1e6


def _cpu_cell(cpu: dict[str, float]) -> str:
    return ", ".join(f"{key} {value:.0%}" for key, value in cpu.items())


def to_markdown(report: dict[str, Any]) -> str:
    r = report["results"]
    machine = report["machine"]
    lines = [
        "# Cluster benchmark: memory broker, Redis, two nodes on Redis",
        "",
        f"- Date: {report['date']}",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}, "
        f"Linux {machine['kernel']}",
        f"- Command: `{report['command']}` ({report['mode']} mode: {report['subscribers']} "
        f"subscribers, {report['storm_clients']} storm clients)",
        f"- Load average (1 min) when the run started: {report['load_before']:.2f}; each row "
        "gives it again as measured during that row. The nodes, Redis and the load generators "
        "ran at `nice -n -10`.",
        "",
        "## Fan-out (one publisher at full speed)",
        "",
        "| deployment | deliveries/s | ratio to memory | CPU µs per delivery | CPU (1 core = 100%) "
        "| load generator CPU | load avg |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    base = r["fanout"]["memory"]["deliveries_per_s"] or float("nan")
    for name in DEPLOYMENTS:
        f = r["fanout"][name]
        lines.append(
            f"| {name} | {f['deliveries_per_s']:,.0f} | {f['deliveries_per_s'] / base:.2f} "
            f"| {cost_per_delivery_us(f):.1f} | {_cpu_cell(f['cpu'])} | {f['loadgen_cpu']:.0%} "
            f"| {f['load_average']:.2f} |"
        )
    memory_cost = cost_per_delivery_us(r["fanout"]["memory"])
    lines += [
        "",
        "Redis's cost per delivery, over the memory broker's "
        f"({memory_cost:.1f} µs): one node "
        f"+{cost_per_delivery_us(r['fanout']['redis-1']) - memory_cost:.1f} µs, two nodes "
        f"+{cost_per_delivery_us(r['fanout']['redis-2']) - memory_cost:.1f} µs.",
        "",
        f"## Latency (fixed rate, {report['subscribers']} subscribers)",
        "",
        "| deployment | publishes/s | p50 ms | p99 ms | p99.9 ms | load avg |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in DEPLOYMENTS:
        la = r["latency"][name]
        lines.append(
            f"| {name} | {la['rate_per_s']} | {la['p50_ms']:.2f} | {la['p99_ms']:.2f} "
            f"| {la['p999_ms']:.2f} | {la['load_average']:.2f} |"
        )
    lines += [
        "",
        "## Reconnect storm (every client cut at once; on two nodes it resumes on the other)",
        "",
        "| deployment | clients | no welcome within 30 s | resumed | refused "
        "| missing or duplicated | all caught up | load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in DEPLOYMENTS:
        st = r["storm"][name]
        caught = st["all_caught_up_ms"]
        shown = f"{caught:,.0f} ms" if caught is not None else f"no ({st['caught_up']} of them)"
        lines.append(
            f"| {name} | {st['clients']} | {st['reconnect_failed']} | {st['resumed']} "
            f"| {st['refused']} "
            f"| {st['missing_or_duplicated']} | {shown} | {st['load_average']:.2f} |"
        )
    if report.get("notes"):
        lines += ["", "## Notes", "", report["notes"]]
    lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for JSON and Markdown")
    parser.add_argument(
        "--notes",
        type=Path,
        default=Path(__file__).resolve().parent / "CLUSTER_NOTES.md",
        help="Markdown put under 'Notes' (what the figures say, what limits them)",
    )
    parser.add_argument(
        "--only", choices=("fanout", "latency", "storm"), action="append", help="these only"
    )
    parser.add_argument(
        "--storm-clients",
        type=int,
        default=QUICK.storm_clients,
        help=f"clients cut at once in the storm (default {QUICK.storm_clients})",
    )
    args = parser.parse_args(argv)
    mode = dataclasses.replace(QUICK, storm_clients=args.storm_clients)
    only = set(args.only or ("fanout", "latency", "storm"))
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    results: dict[str, Any] = {"fanout": {}, "latency": {}, "storm": {}}
    if "fanout" in only or "latency" in only:
        for name in DEPLOYMENTS:
            print(f"fan-out: {name} …", flush=True)
            results["fanout"][name] = fanout(name, mode)
            print(json.dumps(results["fanout"][name]), flush=True)
    if "latency" in only:
        rate = latency_rate(results["fanout"], mode.subscribers)
        for name in DEPLOYMENTS:
            print(f"latency: {name} at {rate}/s …", flush=True)
            results["latency"][name] = latency(name, mode, rate)
            print(json.dumps(results["latency"][name]), flush=True)
    if "storm" in only:
        for name in DEPLOYMENTS:
            print(f"reconnect storm: {name} …", flush=True)
            results["storm"][name] = storm(name, mode)
            print(json.dumps(results["storm"][name]), flush=True)
    report: dict[str, Any] = {
        "mode": mode.name,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _machine(),
        "command": "python -m benchmarks.cluster"
        + (
            f" --storm-clients {args.storm_clients}"
            if args.storm_clients != QUICK.storm_clients
            else ""
        ),
        "subscribers": mode.subscribers,
        "storm_clients": mode.storm_clients,
        "load_before": load_before,
        "seconds": time.monotonic() - started,
        "results": results,
    }
    if only != {"fanout", "latency", "storm"}:
        return 0  # a partial run prints, it records nothing
    if args.notes.is_file():
        report["notes"] = args.notes.read_text(encoding="utf-8").strip()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cluster.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = to_markdown(report)
    (args.out / "cluster.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
