"""Where ``canaux serve`` spends its time at saturation: py-spy on the server during one fan-out
window of the harness (100 subscribers, 100 publishes in flight, 100 B).

    python -m benchmarks.harness.profile --py-spy PATH [--seconds 8] [--rate 500] [--out DIR]

py-spy is not a project dependency (``pip install py-spy`` anywhere, pass its path). Writes
``harness-profile.svg`` (a flame graph) and ``harness-profile.txt`` (the functions with the
largest share of samples, own and total) into ``--out``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from benchmarks.harness import loadgen
from benchmarks.harness.peers import PEERS, pinning, running
from benchmarks.harness.scenarios import Fanout

__all__ = ["main", "summarize"]


def summarize(collapsed: str, top: int = 25) -> str:
    """The functions with the most samples from py-spy's collapsed stacks: own and total."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0] + ")" if " (" in f else f
                  for f in stack.split(";")]  # fmt: skip
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    lines = [f"{samples} samples", "", "own %  total %  function (file)"]
    for frame, n in own.most_common(top):
        lines.append(f"{100 * n / samples:5.1f}  {100 * total[frame] / samples:7.1f}  {frame}")
    lines += ["", "total %  function (file), by inclusive share"]
    for frame, n in total.most_common(top):
        lines.append(f"{100 * n / samples:7.1f}  {frame}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--py-spy", required=True, type=Path)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=int, default=500, help="py-spy samples per second")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "results")
    args = parser.parse_args(argv)
    pin = pinning()
    canaux = next(p for p in PEERS if p.name == "canaux")
    config = Fanout(100, 100, 100)
    args.out.mkdir(parents=True, exist_ok=True)
    with running(canaux, pin) as server:
        load = loadgen.start(server, pin, role="fanout", subscribers=config.subscribers,
                             payload=config.payload, inflight=config.inflight)  # fmt: skip
        start = time.monotonic_ns() + 700_000_000
        load.go(start, start + int((args.seconds + 1) * 1e9))
        time.sleep(1.0)  # into the window
        pid = str(server.process.pid)
        duration = str(max(1, int(args.seconds // 2)))  # py-spy takes whole seconds
        for fmt, name in (("raw", "harness-profile.raw"), ("flamegraph", "harness-profile.svg")):
            subprocess.run(
                [str(args.py_spy), "record", "--pid", pid, "--duration", duration,
                 "--rate", str(args.rate), "--format", fmt, "--output", str(args.out / name),
                 "--nonblocking"],
                check=True, capture_output=True,
            )  # fmt: skip
        got = load.result(timeout=120)
    raw = args.out / "harness-profile.raw"
    summary = summarize(raw.read_text())
    raw.unlink()
    header = (
        f"py-spy on canaux serve, fan-out {config.key}, {got['deliveries_in_window']:,} "
        f"deliveries in the window, every one delivered: {got['missing'] == 0}\n\n"
    )
    (args.out / "harness-profile.txt").write_text(header + summary)
    print(header + summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
