"""The benchmark harness: three servers doing the same work in one run, so every figure is a ratio.

Servers: (a) a bare ``websockets`` broadcast server, the floor; (b) python-socketio under
uvicorn with one room; (c) ``canaux serve``. Each runs in its own process; load comes from
``benchmarks.loadgen`` worker processes on loopback.

Scenarios: fan-out (100 subscribers, one publisher at full speed: deliveries per second),
latency (a fixed rate at 20% of Canaux's fan-out saturation: p50/p99/p99.9), idle connections
(resident memory per connection), reconnect storm (Canaux clients cut at once: time until all
have resumed with nothing missing), and the conformance suite's ``--quick`` duration.

    python -m benchmarks.run            # quick mode, under five minutes (``make bench``)
    python -m benchmarks.run --full     # the full set (10,000 idle connections, longer windows)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["main"]

RESULTS = Path(__file__).resolve().parent / "results"
KINDS = ("bare", "socketio", "canaux")
LISTEN_RE = re.compile(r"listening on (ws://\S+)")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Mode:
    name: str
    fanout_seconds: float
    latency_seconds: float
    idle_connections: int
    storm_clients: int
    subscribers: int = 100
    workers: int = 2


QUICK = Mode(
    "quick", fanout_seconds=5, latency_seconds=5, idle_connections=2000, storm_clients=1000
)
FULL = Mode(
    "full", fanout_seconds=20, latency_seconds=20, idle_connections=10000, storm_clients=1000
)


@dataclass
class Server:
    kind: str
    process: subprocess.Popen[str]
    url: str

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS line")

    def preemptions(self) -> int:
        """Times the kernel took the CPU from the server (involuntary context switches)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("nonvoluntary_ctxt_switches:"):
                return int(line.split()[1])
        return 0

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _server_command(kind: str) -> list[str]:
    py = sys.executable
    if kind == "bare":
        return [py, "-m", "benchmarks.servers.bare_ws", "--port", "0"]
    if kind == "socketio":
        return [py, "-m", "benchmarks.servers.socketio_server", "--port", "0"]
    return [
        py, "-m", "canaux", "serve", "--host", "127.0.0.1", "--port", "0", "--conformance",
        "--max-rate", "1000000", "--resume-buffer", "4096", "--max-frame-bytes", "65536",
    ]  # fmt: skip


def _client_url(kind: str, url: str) -> str:
    if kind == "socketio":
        return url.rstrip("/") + "/?EIO=4&transport=websocket"
    return url


def _read_line(process: subprocess.Popen[str], pattern: re.Pattern[str], timeout: float) -> str:
    """Read stdout lines until one matches (bounded by ``timeout``)."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"process exited before printing {pattern.pattern!r}")
        match = pattern.search(line)
        if match:
            return match.group(1) if match.groups() else line
    raise TimeoutError(pattern.pattern)


@contextmanager
def running(kind: str, extra_flags: Sequence[str] = ()) -> Iterator[Server]:
    process = subprocess.Popen(
        [*_server_command(kind), *extra_flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = _read_line(process, LISTEN_RE, 30)
        yield Server(kind, process, _client_url(kind, url))
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Workers:
    """Load generator processes started together, released together, collected together."""

    def __init__(
        self,
        server: Server,
        roles: Sequence[tuple[str, int, list[str]]],
        prefix: Sequence[str] = (),
    ):
        """``prefix``: put before each command (``nice -n -10``, benchmarks.cluster)."""
        self.processes: list[subprocess.Popen[str]] = []
        for role, clients, extra in roles:
            command = [
                *prefix, sys.executable, "-m", "benchmarks.loadgen", "--url", server.url,
                "--dialect", server.kind, "--role", role, "--clients", str(clients), *extra,
            ]  # fmt: skip
            self.processes.append(
                subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            )
        for process in self.processes:
            _read_line(process, re.compile(r"^ready$"), 120)

    def go(self, start: int, end: int, cut: int | None = None) -> None:
        line = f"go {start} {end}" + (f" {cut}" if cut is not None else "") + "\n"
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(line)
            process.stdin.flush()

    def results(self, timeout: float) -> list[dict[str, Any]]:
        out = []
        for process in self.processes:
            stdout, _ = process.communicate(timeout=timeout)
            out.append(json.loads(stdout.strip().splitlines()[-1]))
        return out


def _wait_until(instant_ns: int) -> None:
    delay = (instant_ns - time.monotonic_ns()) / 1e9
    if delay > 0:
        time.sleep(delay)  # the harness paces itself to a clock instant it chose


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def fanout(kind: str, mode: Mode) -> dict[str, Any]:
    with running(kind) as server:
        roles: list[tuple[str, int, list[str]]] = [
            ("fanout-sub", n, []) for n in _split(mode.subscribers, mode.workers)
        ]
        workers = Workers(server, [*roles, ("fanout-pub", 1, [])])
        start = time.monotonic_ns() + 1_000_000_000
        end = start + int(mode.fanout_seconds * 1e9)
        workers.go(start, end)
        _wait_until(start)
        cpu0 = server.cpu_seconds()
        _wait_until(end)
        cpu1 = server.cpu_seconds()
        results = workers.results(timeout=mode.fanout_seconds + 60)
    received = sum(r["received"] for r in results if r["role"] == "fanout-sub")
    return {
        "deliveries_per_s": received / mode.fanout_seconds,
        "published": results[-1]["published"],
        "server_cpu": (cpu1 - cpu0) / mode.fanout_seconds,
        "loadgen_cpu": sum(r["cpu_s"] for r in results) / mode.fanout_seconds,
        "mark_gaps": sum(r["mark_gaps"] for r in results),
    }


def _percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))
    return sorted_values[index] / 1000.0


def latency(kind: str, mode: Mode, rate: int) -> dict[str, Any]:
    with running(kind) as server:
        roles: list[tuple[str, int, list[str]]] = [
            ("latency-sub", n, []) for n in _split(mode.subscribers, mode.workers)
        ]
        workers = Workers(server, [*roles, ("latency-pub", 1, ["--rate", str(rate)])])
        start = time.monotonic_ns() + 1_000_000_000
        end = start + int(mode.latency_seconds * 1e9)
        workers.go(start, end)
        results = workers.results(timeout=mode.latency_seconds + 60)
    samples = sorted(v for r in results if r["role"] == "latency-sub" for v in r["latencies_us"])
    return {
        "rate_per_s": rate,
        "samples": len(samples),
        "p50_ms": _percentile(samples, 0.50),
        "p99_ms": _percentile(samples, 0.99),
        "p999_ms": _percentile(samples, 0.999),
    }


def idle(kind: str, mode: Mode) -> dict[str, Any]:
    warm = 100
    with running(kind) as server:
        first = Workers(server, [("idle", warm, [])])
        base = server.rss_kib()
        rest = Workers(
            server, [("idle", n, []) for n in _split(mode.idle_connections - warm, mode.workers)]
        )
        loaded = server.rss_kib()
        now = time.monotonic_ns()
        for group in (first, rest):
            group.go(now, now)
        for group in (first, rest):
            group.results(timeout=120)
    return {
        "connections": mode.idle_connections,
        "rss_base_kib": base,
        "rss_loaded_kib": loaded,
        "kib_per_connection": (loaded - base) / (mode.idle_connections - warm),
    }


def storm(mode: Mode) -> dict[str, Any]:
    with running("canaux") as server:
        roles: list[tuple[str, int, list[str]]] = [
            ("storm-sub", n, []) for n in _split(mode.storm_clients, mode.workers)
        ]
        workers = Workers(server, [*roles, ("storm-pub", 1, ["--rate", "50"])])
        start = time.monotonic_ns() + 1_000_000_000
        cut = start + 2_000_000_000
        end = cut + 15_000_000_000
        workers.go(start, end, cut)
        results = workers.results(timeout=120)
    subs = [r for r in results if r["role"] == "storm-sub"]
    caught_up = sum(r["caught_up"] for r in subs)
    times = [r["catch_up_ms_max"] for r in subs if r["catch_up_ms_max"] is not None]
    return {
        "clients": mode.storm_clients,
        "resumed": sum(r["resumed"] for r in subs),
        "refused": sum(r["refused"] for r in subs),
        "caught_up": caught_up,
        "missing_or_duplicated": sum(
            r["seq_gaps"] + r["seq_duplicates"] + r["mark_gaps"] for r in subs
        ),
        "all_caught_up_ms": max(times) if times and caught_up == mode.storm_clients else None,
    }


ATTACKS: dict[str, tuple[str, int, float]] = {
    # name: (loadgen role, sockets, seconds watched from the attack's start)
    "quiet": ("", 0, 5.0),
    "flood": ("flood", 3000, 10.0),
    "slowloris": ("slowloris", 1000, 20.0),
}
"""The flood scenarios [SECURITY-4]: an unrelated subscriber's latency while others attack."""


def flood(attack: str, scale: float = 1.0, extra_flags: Sequence[str] = ()) -> dict[str, Any]:
    """An unrelated subscriber (the watcher) gets a publish every 10 ms while ``attack`` runs:
    its publish-to-deliver p50/p99/max over the attack, and what the attackers got."""
    role, sockets, seconds = ATTACKS[attack]
    sockets = max(1, round(sockets * scale)) if sockets else 0
    seconds = max(2.0, seconds * scale)
    with running("canaux", extra_flags) as server:
        roles: list[tuple[str, int, list[str]]] = [
            ("watch", 1, []),
            ("latency-pub", 1, ["--rate", "100"]),
        ]
        if role == "flood":
            roles += [("flood", n, []) for n in _split(sockets, 2)]
        elif role == "slowloris":
            roles.append(("slowloris", sockets, []))
        workers = Workers(server, roles)
        load0 = os.getloadavg()[0]
        start = time.monotonic_ns() + 1_000_000_000
        end = start + int(seconds * 1e9)
        workers.go(start, end)
        _wait_until(start)
        cpu0, preempted0 = server.cpu_seconds(), server.preemptions()
        _wait_until(end)
        cpu1, preempted1 = server.cpu_seconds(), server.preemptions()
        results = workers.results(timeout=seconds + 120)  # the watcher waits 5 s more
        alive = server.process.poll() is None
    samples = sorted(v for r in results if r["role"] == "watch" for v in r["latencies_us"])
    expected = round(seconds * 100)  # publishes in the window (a watcher receiving fewer lost some)
    out: dict[str, Any] = {
        "attack": attack,
        "sockets": sockets,
        "seconds": seconds,
        "watcher_samples": len(samples),
        "watcher_expected": expected,
        "watcher_gaps": sum(r["mark_gaps"] for r in results if r["role"] == "watch"),
        "p50_ms": _percentile(samples, 0.50),
        "p99_ms": _percentile(samples, 0.99),
        "max_ms": samples[-1] / 1000.0 if samples else float("nan"),
        "load_average_1min": load0,
        # Below 100 % with many preemptions: the server was waiting for a CPU, not busy.
        "server_cpu": (cpu1 - cpu0) / seconds,
        "server_preemptions": preempted1 - preempted0,
        "server_alive": alive,
    }
    attackers = [r for r in results if r["role"] == role]
    if role == "flood":
        failed: dict[str, int] = {}
        for r in attackers:
            for key, n in r["failed"].items():
                failed[key] = failed.get(key, 0) + n
        times = [r["all_welcomed_ms"] for r in attackers if r["all_welcomed_ms"] is not None]
        out.update(
            welcomed=sum(r["welcomed"] for r in attackers),
            still_open=sum(r["still_open"] for r in attackers),
            failed=failed,
            all_welcomed_ms=max(times) if times else None,
        )
    elif role == "slowloris":
        (r,) = attackers
        out.update(
            {
                k: r[k]
                for k in (
                    "opened",
                    "connect_refused",
                    "still_open",
                    "closed_by_server",
                    "answered_408",
                    "last_closed_ms",
                )
            }
        )
    return out


def flood_to_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Flood benchmark (canaux serve)",
        "",
        f"- Date: {report['date']}",
        f"- Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
        f"Python {report['machine']['python']}, Linux {report['machine']['kernel']}",
        f"- Command: `{report['command']}`",
        "",
        "An unrelated subscriber (the watcher) receives a publish every 10 ms; its "
        "publish-to-deliver latency is measured over the attack. The load average is the "
        "machine's 1-minute figure when the scenario started (the machine may be shared); "
        "server CPU is the share of one core the server used over the attack, preempted the "
        "times the kernel took the CPU from it.",
        "",
        "| attack | sockets | seconds | watcher p50 ms | p99 ms | max ms | delivered | gaps "
        "| load avg | server CPU | preempted | attackers |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in report["results"]:
        if row["attack"] == "flood":
            who = (
                f"{row['welcomed']} welcomed in {row['all_welcomed_ms']} ms, "
                f"refused/failed {row['failed'] or 0}"
            )
        elif row["attack"] == "slowloris":
            who = (
                f"{row['closed_by_server']} closed by the server (408: "
                f"{row['answered_408']}), {row['still_open']} still open at the end"
            )
        else:
            who = "none"
        lines.append(
            f"| {row['attack']} | {row['sockets']} | {row['seconds']:.0f} | {row['p50_ms']:.2f} "
            f"| {row['p99_ms']:.2f} | {row['max_ms']:.2f} "
            f"| {row['watcher_samples']}/{row['watcher_expected']} | {row['watcher_gaps']} "
            f"| {row['load_average_1min']:.1f} | {row['server_cpu']:.0%} "
            f"| {row['server_preemptions']} | {who} |"
        )
    lines += ["", "Target: watcher p99 < 250 ms during each attack.", ""]
    for row in report["results"]:
        if row["attack"] != "quiet":
            met = "met" if row["p99_ms"] < 250 else "NOT met"
            lines.append(f"- {row['attack']}: p99 {row['p99_ms']:.2f} ms, {met}")
    if report.get("notes"):
        lines += ["", "## Notes", "", report["notes"]]
    return "\n".join(lines) + "\n"


def flood_main(args: argparse.Namespace) -> int:
    started = time.monotonic()
    rows = []
    for attack in args.attack or ATTACKS:
        print(f"flood scenario: {attack} …", flush=True)
        rows.append(flood(attack, extra_flags=args.server_flag))
    report = {
        "mode": "flood",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _machine(),
        "command": "python -m benchmarks.run --flood"
        + "".join(f" --server-flag={flag}" for flag in args.server_flag),
        "seconds": time.monotonic() - started,
        "results": rows,
    }
    notes = Path(__file__).resolve().parent / "FLOOD_NOTES.md"
    if notes.is_file():
        report["notes"] = notes.read_text(encoding="utf-8").strip()
    args.out.mkdir(parents=True, exist_ok=True)
    name = args.flood_name
    (args.out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = flood_to_markdown(report)
    (args.out / f"{name}.md").write_text(markdown)
    print(markdown)
    return 0


def conformance_quick() -> dict[str, Any]:
    exe = shutil.which("canaux-conformance") or str(
        Path(sys.executable).with_name("canaux-conformance")
    )
    with tempfile.TemporaryDirectory() as reports:
        started = time.monotonic()
        done = subprocess.run(
            [exe, "--quick", "--report-dir", reports], capture_output=True, text=True, timeout=600
        )
        return {"seconds": time.monotonic() - started, "exit_code": done.returncode}


def _machine() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets for ``canaux serve`` on this machine, each with its measured figure."""
    fan = results["fanout"]
    canaux, bare, sio = (fan[k]["deliveries_per_s"] for k in ("canaux", "bare", "socketio"))
    lat = results["latency"]["canaux"]
    idle_c = results["idle"]["canaux"]
    st = results["storm"]
    storm_ok = (
        st["resumed"] == st["clients"]
        and st["missing_or_duplicated"] == 0
        and st["all_caught_up_ms"] is not None
        and st["all_caught_up_ms"] <= 5000
    )
    return [
        {"target": "fan-out ≥ 0.8× bare websockets", "measured": f"{canaux / bare:.2f}×",
         "met": canaux >= 0.8 * bare},
        {"target": "fan-out ≥ 3× python-socketio", "measured": f"{canaux / sio:.2f}×",
         "met": canaux >= 3 * sio},
        {"target": "latency p99 < 10 ms", "measured": f"{lat['p99_ms']:.2f} ms",
         "met": lat["p99_ms"] < 10},
        {"target": "≤ 30 KB per idle connection",
         "measured": f"{idle_c['kib_per_connection'] * 1.024:.1f} KB at "
                     f"{idle_c['connections']} connections",
         "met": idle_c["kib_per_connection"] * 1.024 <= 30},
        {"target": "storm: all resumed, none missing, ≤ 5 s",
         "measured": f"{st['resumed']}/{st['clients']} resumed, "
                     f"{st['missing_or_duplicated']} missing/duplicated, "
                     f"{st['all_caught_up_ms']} ms",
         "met": storm_ok},
    ]  # fmt: skip


def to_markdown(report: dict[str, Any]) -> str:
    r = report["results"]
    lines = [
        f"# Benchmark results ({report['mode']} mode)",
        "",
        f"- Date: {report['date']}",
        f"- Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
        f"Python {report['machine']['python']}, Linux {report['machine']['kernel']}",
        f"- Command: `{report['command']}`",
        "",
        "## Fan-out (100 subscribers, one publisher at full speed)",
        "",
        "| server | deliveries/s | ratio to bare | server CPU | load generator CPU |",
        "|---|---:|---:|---:|---:|",
    ]
    bare = r["fanout"]["bare"]["deliveries_per_s"]
    for kind in KINDS:
        f = r["fanout"][kind]
        lines.append(
            f"| {kind} | {f['deliveries_per_s']:,.0f} | {f['deliveries_per_s'] / bare:.2f} "
            f"| {f['server_cpu']:.0%} | {f['loadgen_cpu']:.0%} |"
        )
    lines += [
        "",
        "## Latency (fixed rate, 100 subscribers)",
        "",
        "| server | publishes/s | p50 ms | p99 ms | p99.9 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind in KINDS:
        la = r["latency"][kind]
        lines.append(
            f"| {kind} | {la['rate_per_s']} | {la['p50_ms']:.2f} | {la['p99_ms']:.2f} "
            f"| {la['p999_ms']:.2f} |"
        )
    lines += [
        "",
        "## Idle connections (resident memory per connection)",
        "",
        "| server | connections | KiB per connection |",
        "|---|---:|---:|",
    ]
    for kind in KINDS:
        i = r["idle"][kind]
        lines.append(f"| {kind} | {i['connections']} | {i['kib_per_connection']:.1f} |")
    st = r["storm"]
    lines += [
        "", "## Reconnect storm (canaux)", "",
        f"{st['clients']} clients cut at once: {st['resumed']} resumed, {st['refused']} refused, "
        f"{st['missing_or_duplicated']} events missing or duplicated; all caught up in "
        f"{st['all_caught_up_ms']} ms.",
        "",
        "## Conformance suite",
        "",
        f"`canaux-conformance --quick` took {r['conformance']['seconds']:.1f} s "
        f"(exit code {r['conformance']['exit_code']}).",
        "", "## Targets", "", "| target | measured | met |", "|---|---|---|",
    ]  # fmt: skip
    for t in report["targets"]:
        lines.append(f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else 'no'} |")
    notes = report.get("notes")
    if notes:
        lines += ["", "## Notes", "", notes]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--full", action="store_true", help="the full set (longer, 10,000 idle)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for JSON and Markdown")
    parser.add_argument(
        "--notes",
        type=Path,
        default=Path(__file__).resolve().parent / "NOTES.md",
        help="Markdown appended under 'Notes' (what limits a missed target, with its profile)",
    )
    parser.add_argument(
        "--flood",
        action="store_true",
        help="only the flood scenarios (a 3,000-connection flood, a 1,000-socket slowloris):\n"
        "results/flood.{json,md}",
    )
    parser.add_argument(
        "--server-flag",
        action="append",
        default=[],
        metavar="FLAG",
        help="with --flood: one more `canaux serve` flag (--server-flag=--max-connections=100)",
    )
    parser.add_argument(
        "--attack", action="append", choices=sorted(ATTACKS), help="with --flood: only these"
    )
    parser.add_argument(
        "--flood-name", default="flood", help="with --flood: the results' file name (flood)"
    )
    args = parser.parse_args(argv)
    if args.flood:
        return flood_main(args)
    mode = FULL if args.full else QUICK
    started = time.monotonic()
    results: dict[str, Any] = {"fanout": {}, "latency": {}, "idle": {}}
    for kind in KINDS:
        print(f"fan-out: {kind} …", flush=True)
        results["fanout"][kind] = fanout(kind, mode)
    saturation = results["fanout"]["canaux"]["deliveries_per_s"] / mode.subscribers
    rate = max(1, round(0.2 * saturation))
    for kind in KINDS:
        print(f"latency: {kind} at {rate}/s …", flush=True)
        results["latency"][kind] = latency(kind, mode, rate)
    for kind in KINDS:
        print(f"idle: {kind} …", flush=True)
        results["idle"][kind] = idle(kind, mode)
    print("reconnect storm …", flush=True)
    results["storm"] = storm(mode)
    print("conformance --quick …", flush=True)
    results["conformance"] = conformance_quick()
    report = {
        "mode": mode.name,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _machine(),
        "command": "python -m benchmarks.run" + (" --full" if args.full else ""),
        "seconds": time.monotonic() - started,
        "results": results,
    }
    report["targets"] = evaluate(results)
    if args.notes.is_file():
        report["notes"] = args.notes.read_text(encoding="utf-8").strip()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{mode.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = to_markdown(report)
    (args.out / f"{mode.name}.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
