"""The harness of issue #14: five servers, one fan-out workload, a load generator that is never
the bottleneck (it reports its CPU in every row), server and generator on separate cores.

Sweeps (each against canaux, Node ws, bare websockets, Node socket.io, python-socketio):
  fan-out   publishes in flight 10 / 100 / 500, subscribers 10 / 100 / 1,000, payload
            100 B / 1 KB / 16 KB (the others at 100 subscribers, 100 in flight, 100 B)
  latency   one absolute rate for every server (half the slowest server's saturation) and a
            higher one (half of Canaux's): p50/p99/p99.9 and the server's CPU per delivery
  idle      resident memory per idle connection (10,000 in --full)
  validation  the reference's publish validation per valid publish (micro-benchmark)
Every measurement is repeated in interleaved rounds; tables give median (min–max).

    python -m benchmarks.harness           # quick (a few minutes): results/harness-quick.*
    python -m benchmarks.harness --full    # the full set: results/harness-full.*
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.harness import loadgen, machine_share, report, scenarios, validation
from benchmarks.harness.peers import PEERS, Peer, Pinning, by_name, pinning
from benchmarks.harness.scenarios import Fanout

__all__ = ["FULL", "QUICK", "Mode", "main", "measure"]

RESULTS = Path(__file__).resolve().parents[1] / "results"
NOTES = Path(__file__).resolve().parent / "NOTES.md"

SWEEP: tuple[Fanout, ...] = (
    Fanout(100, 100, 100),
    Fanout(100, 10, 100),
    Fanout(100, 500, 100),
    Fanout(10, 100, 100),
    Fanout(1000, 100, 100),
    Fanout(100, 100, 1024),
    Fanout(100, 100, 16384),
)


SCENARIOS = ("fanout", "latency", "idle", "validation")
"""Every scenario, in the order a run measures them (latency's rates come from fan-out's)."""


@dataclass(frozen=True)
class Mode:
    name: str
    window_s: float
    latency_window_s: float
    repeats: int
    idle_connections: int
    idle_repeats: int
    sweep: tuple[Fanout, ...] = SWEEP
    peers: tuple[str, ...] = tuple(p.name for p in PEERS)
    validation_s: float = 0.3
    latency_subscribers: int = 100
    scenarios: tuple[str, ...] = SCENARIOS


QUICK = Mode("quick", window_s=1.5, latency_window_s=2.0, repeats=2, idle_connections=2000,
             idle_repeats=1)  # fmt: skip
FULL = Mode("full", window_s=4.0, latency_window_s=5.0, repeats=3, idle_connections=10_000,
            idle_repeats=2)  # fmt: skip


def _rotated(peers: Sequence[Peer], round_: int) -> list[Peer]:
    k = round_ % len(peers)
    return [*peers[k:], *peers[:k]]


@dataclass
class Progress:
    quiet: bool = False
    rows: int = 0
    started: float = field(default_factory=time.monotonic)

    def say(self, text: str) -> None:
        self.rows += 1
        if not self.quiet:
            took = time.monotonic() - self.started
            print(f"[{took:5.0f} s, load {os.getloadavg()[0]:.1f}] {text}", flush=True)


def rates_from(
    fanout_rows: list[dict[str, Any]], subscribers: int, base: str = report.BASE
) -> dict[str, Any]:
    """The latency rates (publishes/s to ``subscribers``) from the saturations of the ``base``
    configuration: the shared one is half the slowest server's, the higher one half Canaux's."""
    saturation = {
        peer: report.spread(r["deliveries_per_s"] for r in rows)["median"]
        for peer, rows in report.group(
            [r for r in fanout_rows if r["config"] == base], lambda r: r["peer"]
        ).items()
    }
    slowest = min(saturation, key=lambda p: saturation[p])
    shared = max(1, round(0.5 * saturation[slowest] / subscribers))
    high = max(shared + 1, round(0.5 * saturation.get("canaux", 0) / subscribers))
    return {
        "shared": shared,
        "high": high,
        "slowest": f"{slowest}, {saturation[slowest]:,.0f} deliveries/s",
    }


def _attempt(
    failures: list[dict[str, Any]], label: str, run: Any, **about: Any
) -> dict[str, Any] | None:
    """One measurement; a server that cannot take it (say, 10,000 connections) is recorded as
    a failure of that row (with ``about``: its scenario, peer, size), and the run goes on."""
    try:
        row: dict[str, Any] = run()
        return row
    except (RuntimeError, TimeoutError, OSError, subprocess.SubprocessError) as exc:
        failures.append(
            {"row": label, "error": str(exc)[:400], "load_average_1min": os.getloadavg()[0]} | about
        )
        print(f"FAILED {label}: {exc}", flush=True)
        return None


def measure(mode: Mode, pin: Pinning, progress: Progress) -> dict[str, Any]:
    peers = by_name(mode.peers)
    failures: list[dict[str, Any]] = []
    fan: list[dict[str, Any]] = []
    for round_ in range(mode.repeats if "fanout" in mode.scenarios else 0):
        for config in mode.sweep:
            for peer in _rotated(peers, round_):
                row = _attempt(
                    failures,
                    f"fan-out {config.key} {peer.name}",
                    lambda p=peer, c=config: scenarios.fanout(p, pin, c, mode.window_s),
                )
                if row is None:
                    continue
                row["round"] = round_
                fan.append(row)
                progress.say(
                    f"fan-out {config.key} {peer.name}: {row['deliveries_per_s']:,.0f}/s, "
                    f"loadgen {row['loadgen_cpu']:.0%}, delivered {row['delivered_all']}"
                )
    rates = rates_from(fan, mode.latency_subscribers, mode.sweep[0].key) if fan else {}
    lat: list[dict[str, Any]] = []
    for round_ in range(mode.repeats if rates and "latency" in mode.scenarios else 0):
        for rate in (rates["shared"], rates["high"]):
            for peer in _rotated(peers, round_):
                row = _attempt(
                    failures,
                    f"latency {rate}/s {peer.name}",
                    lambda p=peer, r=rate: scenarios.latency(
                        p, pin, r, mode.latency_window_s, mode.latency_subscribers
                    ),
                )
                if row is None:
                    continue
                row["round"] = round_
                lat.append(row)
                progress.say(
                    f"latency {rate}/s {peer.name}: p50 {row['p50_ms']:.2f} p99 "
                    f"{row['p99_ms']:.2f} ms, loadgen {row['loadgen_cpu']:.0%}"
                )
    idle: list[dict[str, Any]] = []
    for round_ in range(mode.idle_repeats if "idle" in mode.scenarios else 0):
        for peer in _rotated(peers, round_):
            row = _attempt(
                failures,
                f"idle {mode.idle_connections} {peer.name}",
                lambda p=peer: scenarios.idle(p, pin, mode.idle_connections),
                scenario="idle",
                peer=peer.name,
                connections=mode.idle_connections,
                round=round_,
            )
            if row is None:
                continue
            row["round"] = round_
            idle.append(row)
            progress.say(
                f"idle {peer.name}: {row['kib_per_connection']:.1f} KiB/connection "
                f"({row['connect_s']:.0f} s to connect {mode.idle_connections:,})"
            )
    return {
        "fanout": fan,
        "rates": rates,
        "latency": lat,
        "idle": idle,
        "validation": (
            validation.measure(mode.validation_s) if "validation" in mode.scenarios else []
        ),
        "failures": failures,
    }


def _machine() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    try:
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        node = "missing"
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "node": node,
        "kernel": platform.release(),
    }


def _render(path: Path) -> int:
    recorded = json.loads(path.read_text())
    recorded["targets"] = report.evaluate(recorded["results"])
    recorded["load_note"] = machine_share.share_note(
        recorded.get("foreign_cores"), recorded["machine"]["cores"]
    )
    recorded.pop("notes", None)
    if NOTES.is_file():
        recorded["notes"] = NOTES.read_text(encoding="utf-8").strip()
    path.write_text(json.dumps(recorded, indent=2) + "\n")
    markdown = report.to_markdown(recorded)
    path.with_suffix(".md").write_text(markdown)
    print(markdown)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.harness",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--full", action="store_true", help="the full set (longer windows, "
                        "3 rounds, 10,000 idle connections)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for JSON and Markdown")
    parser.add_argument("--peer", action="append", choices=[p.name for p in PEERS],
                        help="only these servers (repeatable; default all five)")  # fmt: skip
    parser.add_argument("--repeats", type=int, help="interleaved rounds (quick 2, full 3)")
    parser.add_argument("--only", action="append", choices=SCENARIOS, metavar="SCENARIO",
                        help="only these scenarios (repeatable: " + ", ".join(SCENARIOS)
                        + "; latency needs fanout); the files are then named "
                        "harness-MODE-SCENARIO…")  # fmt: skip
    parser.add_argument("--idle-connections", type=int, metavar="N",
                        help="idle connections (quick 2,000, full 10,000)")  # fmt: skip
    parser.add_argument("--idle-repeats", type=int, metavar="K",
                        help="idle rounds (quick 1, full 2)")  # fmt: skip
    parser.add_argument("--no-priority", action="store_true",
                        help="do not run the measured processes at nice -10")  # fmt: skip
    parser.add_argument("--render", type=Path, metavar="JSON",
                        help="measure nothing: write the Markdown of a recorded result again "
                        "(with the current NOTES.md)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.render:
        return _render(args.render)
    mode = FULL if args.full else QUICK
    if args.peer:
        mode = dataclasses.replace(mode, peers=tuple(args.peer))
    if args.repeats:
        mode = dataclasses.replace(mode, repeats=args.repeats)
    if args.idle_repeats:
        mode = dataclasses.replace(mode, idle_repeats=args.idle_repeats)
    if args.only:
        if "latency" in args.only and "fanout" not in args.only:
            parser.error("latency's rates come from the fan-out rows: add --only fanout")
        mode = dataclasses.replace(mode, scenarios=tuple(s for s in SCENARIOS if s in args.only))
    if args.idle_connections:
        mode = dataclasses.replace(mode, idle_connections=args.idle_connections)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    loadgen.build()
    pin = pinning(priority=not args.no_priority)
    load_start = os.getloadavg()
    cpu_start = machine_share.CpuSnapshot.take()
    started = time.monotonic()
    results = measure(mode, pin, Progress())
    load_end = os.getloadavg()
    foreign = machine_share.foreign_cores(cpu_start, machine_share.CpuSnapshot.take())
    out: dict[str, Any] = {
        "mode": mode.name,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _machine(),
        "command": "python -m benchmarks.harness " + " ".join(argv or sys.argv[1:]),
        "seconds": time.monotonic() - started,
        "peers": list(mode.peers),
        "pinning": dataclasses.asdict(pin),
        "repeats": mode.repeats,
        "window_s": mode.window_s,
        "latency_window_s": mode.latency_window_s,
        "load_start": load_start,
        "load_end": load_end,
        "foreign_cores": foreign,
        "load_note": machine_share.share_note(foreign, os.cpu_count() or 1),
        "results": results,
    }
    out["targets"] = report.evaluate(results)
    if NOTES.is_file():
        out["notes"] = NOTES.read_text(encoding="utf-8").strip()
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"harness-{mode.name}"
    if mode.scenarios != SCENARIOS:
        name += "-" + "-".join(mode.scenarios)
    (args.out / f"{name}.json").write_text(json.dumps(out, indent=2) + "\n")
    markdown = report.to_markdown(out)
    (args.out / f"{name}.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
