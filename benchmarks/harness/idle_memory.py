"""What one idle ``/ws`` connection holds in ``canaux serve``, object by object (issue #14).

Two measurements of the harness's idle scenario (:func:`benchmarks.harness.scenarios.idle`:
the compiled load generator's clients each send hello, get the welcome, subscribe to one
channel, get the ack, and stay quiet):

1. resident memory per connection, ``canaux serve`` as the harness runs it;
2. the same server under ``tracemalloc`` (``benchmarks.harness.traced_serve``): a snapshot
   after ``warm`` connections, another after all ``N``; the difference, divided by the
   connections added, grouped by traceback (top 20) and by line, and the objects the
   collector tracks, counted by type (``gc.get_objects``) per connection.

    python -m benchmarks.harness.idle_memory            # 2,000 connections
    python -m benchmarks.harness.idle_memory -n 10000   # the target's size
    python -m benchmarks.harness.idle_memory --json out.json

Nothing is written under results/: the output is for the engineer trimming the objects.

A line is where a block was allocated, not always what holds it now: CPython keeps freed small
dictionary key tables for reuse without a new trace, so a per-connection dictionary made later
may show under the code that made a short-lived one first (the welcome's pydantic models, at
``pydantic/main.py:280``, hold nothing once it is sent: checked in isolation, issue #14).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import signal
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import loadgen, scenarios
from benchmarks.harness.peers import Peer, Pinning, by_name, pinning, running

__all__ = ["main", "traced_peer"]


def traced_peer(snapdir: Path, frames: int = 12) -> Peer:
    """``canaux serve`` as the harness runs it, under tracemalloc, dumping on SIGUSR1."""
    command = by_name(["canaux"])[0].command()
    assert command[1:3] == ["-m", "canaux"], command
    argv = (
        command[0], "-X", f"tracemalloc={frames}", "-m", "benchmarks.harness.traced_serve",
        str(snapdir), *command[3:],
        # tracemalloc slows everything several times: the longest opening the server allows.
        "--handshake-timeout-ms", "30000", "--hello-timeout-ms", "60000",
        # A snapshot stops the server for seconds: no heartbeat may time out meanwhile.
        "--heartbeat-ms", "300000",
    )  # fmt: skip
    return Peer("canaux-traced", "canaux", "canaux (tracemalloc)", argv=argv)


def _dump(pid: int, snapdir: Path, name: str, timeout: float = 120) -> tuple[Path, Path]:
    """Ask the traced server for a snapshot; wait (bounded) until it is written."""
    done = snapdir / f"{name}.done"
    (snapdir / "next").write_text(name)
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while not done.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no snapshot {name} in {timeout} s")
        time.sleep(0.1)  # polls a file another process writes
    return snapdir / f"{name}.tracemalloc", snapdir / f"{name}.types.json"


def _frames(trace: tracemalloc.StatisticDiff, keep: int) -> list[str]:
    out = []
    for frame in list(trace.traceback)[-keep:][::-1]:  # innermost first
        name = frame.filename
        for marker in ("site-packages/", "/reference/", "/lib/python3"):
            if marker in name:
                name = name.split(marker, 1)[1]
                break
        out.append(f"{name}:{frame.lineno}")
    return out


def traced(connections: int, warm: int, pin: Pinning, top: int = 20) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="canaux-idle-") as tmp:
        snapdir = Path(tmp)
        with running(traced_peer(snapdir), pin) as server:
            first = loadgen.start(server, pin, role="idle", subscribers=warm)
            loads = [first]
            try:
                time.sleep(0.5)
                snap_a, types_a = _dump(server.process.pid, snapdir, "a")
                loads.append(
                    loadgen.start(
                        server, pin, role="idle", subscribers=connections - warm,
                        ready_s=max(120.0, connections / 5),
                    )
                )  # fmt: skip
                time.sleep(1.0)
                snap_b, types_b = _dump(server.process.pid, snapdir, "b")
                now = time.monotonic_ns()
                for load in loads:
                    load.go(now, now)
                open_at_end = sum(load.result(timeout=120)["open_at_end"] for load in loads)
            finally:
                for load in loads:
                    load.stop()
        a = tracemalloc.Snapshot.load(str(snap_a))
        b = tracemalloc.Snapshot.load(str(snap_b))
        ta, tb = json.loads(types_a.read_text()), json.loads(types_b.read_text())
        samples = json.loads(types_b.with_name("b.samples.json").read_text())
    added = connections - warm
    by_trace = b.compare_to(a, "traceback")
    by_line = b.compare_to(a, "lineno")
    total = sum(d.size_diff for d in by_line)
    types = {
        t: {
            "count": (tb[t][0] - ta.get(t, (0, 0))[0]) / added,
            "bytes": (tb[t][1] - ta.get(t, (0, 0))[1]) / added,
        }
        for t in tb
    }
    return {
        "connections": connections,
        "open_at_end": open_at_end,
        "traced_bytes_per_connection": total / added,
        "by_traceback": [
            {
                "bytes": d.size_diff / added,
                "blocks": d.count_diff / added,
                "frames": _frames(d, 8),
            }
            for d in by_trace[:top]
        ],
        "by_line": [
            {"bytes": d.size_diff / added, "blocks": d.count_diff / added, "at": _frames(d, 1)[0]}
            for d in by_line[:top]
        ],
        "samples": samples,
        "gc_types": dict(
            sorted(
                ((t, v) for t, v in types.items() if v["count"] >= 0.5),
                key=lambda item: -item[1]["bytes"],
            )
        ),
    }


def _print(rss: dict[str, Any] | None, out: dict[str, Any], verbose: bool = False) -> None:
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if rss is not None:
        print(
            f"RSS: {rss['kib_per_connection']:.2f} KiB per idle connection at "
            f"{rss['connections']:,} ({rss['connect_s']:.0f} s to connect, "
            f"{rss['open_at_end']:,} open at the end)"
        )
    n = out["connections"]
    print(
        f"tracemalloc: {out['traced_bytes_per_connection']:,.0f} B per idle connection at {n:,} "
        f"({out['open_at_end']:,} open at the end)"
    )
    print("\ntop by traceback (bytes, blocks per connection; innermost frame first):")
    for row in out["by_traceback"]:
        print(f"{row['bytes']:8,.0f} B {row['blocks']:5.1f}  " + "  <- ".join(row["frames"][:5]))
    print("\ntop by line:")
    for row in out["by_line"]:
        print(f"{row['bytes']:8,.0f} B {row['blocks']:5.1f}  {row['at']}")
    print("\nobjects the collector tracks, per connection (count, getsizeof bytes):")
    for name, v in list(out["gc_types"].items())[:30]:
        print(f"{v['count']:6.2f}  {v['bytes']:8,.0f} B  {name}")
    per_connection = {k for k, v in out["gc_types"].items() if v["count"] >= 0.9}
    print("\nper-connection objects of the stack: size, __dict__ size, attributes:")
    for name, sample in out["samples"].items():
        if name in per_connection:
            print(f"{name}: {sample['size']} B, __dict__ {sample['dict']} B, "
                  f"{len(sample['attrs'])} attributes")  # fmt: skip
            if verbose:
                for attr, what in sample["attrs"].items():
                    print(f"    {attr}: {what}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.harness.idle_memory",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-n", "--connections", type=int, default=2000)
    parser.add_argument("--warm", type=int, default=100, help="connections before the base")
    parser.add_argument("--no-rss", action="store_true", help="skip the untraced RSS run")
    parser.add_argument("--frames", type=int, default=12, help="tracemalloc frames kept")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("-v", "--verbose", action="store_true", help="every sampled attribute")
    args = parser.parse_args(argv)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    loadgen.build()
    pin = dataclasses.replace(pinning(priority=False))
    rss = None
    if not args.no_rss:
        rss = scenarios.idle(by_name(["canaux"])[0], pin, args.connections, args.warm)
    out = traced(args.connections, args.warm, pin)
    out["load_average"] = os.getloadavg()
    out["rss"] = rss
    _print(rss, out, args.verbose)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
