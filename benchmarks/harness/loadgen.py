"""The compiled load generator (``loadgen.c``): built on first use, driven over stdin/stdout.

One process holds every client of a scenario (subscribers and the publisher) in one epoll
loop on the load generator's core; see ``loadgen.c`` for what it checks and reports.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness.peers import Pinning, RunningPeer

__all__ = ["BINARY", "SOURCE", "Load", "build", "start"]

SOURCE = Path(__file__).resolve().parent / "loadgen.c"
BINARY = Path(__file__).resolve().parents[2] / "build" / "bench" / "loadgen"


def build(binary: Path = BINARY) -> Path:
    """Compile ``loadgen.c`` when the binary is missing or older (the Makefile does the same)."""
    if binary.is_file() and binary.stat().st_mtime >= SOURCE.stat().st_mtime:
        return binary
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise RuntimeError("the load generator needs a C compiler (gcc)")
    binary.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([gcc, "-O2", "-Wall", "-o", str(binary), str(SOURCE)], check=True)
    return binary


@dataclass
class Load:
    """A load generator process that has printed ``ready``."""

    process: subprocess.Popen[str]

    def stop(self) -> None:
        """End a generator whose result is not wanted (a scenario that failed half-way)."""
        if self.process.returncode is not None:
            return  # its result was read
        self.process.kill()
        self.process.communicate()

    def go(self, start_ns: int, end_ns: int) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"go {start_ns} {end_ns}\n")
        self.process.stdin.flush()

    def result(self, timeout: float) -> dict[str, Any]:
        stdout, stderr = self.process.communicate(timeout=timeout)
        lines = stdout.strip().splitlines()
        if self.process.returncode != 0 or not lines:
            raise RuntimeError(
                f"load generator failed (exit {self.process.returncode}): {stderr.strip()}"
            )
        out: dict[str, Any] = json.loads(lines[-1])
        return out


def start(
    server: RunningPeer,
    pin: Pinning,
    *,
    role: str,
    subscribers: int,
    payload: int = 100,
    inflight: int = 100,
    rate: int = 0,
    ready_s: float = 120,
    stall_s: float = 30,
) -> Load:
    """Start the generator on its core and wait (bounded) until every client is subscribed.

    The generator gives up after ``ready_s``, or sooner when no client has become ready for
    ``stall_s``; the error then says how many were ready and at what handshake rate.
    """
    command = [
        *pin.prefix(pin.loadgen_core), str(build()),
        "--port", str(server.port), "--path", server.client_path(),
        "--dialect", server.peer.dialect, "--role", role, "--subs", str(subscribers),
        "--payload", str(payload), "--inflight", str(inflight), "--rate", str(rate),
        "--ready-s", str(ready_s), "--stall-s", str(stall_s),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    deadline = time.monotonic() + ready_s + 30
    line = process.stdout.readline()  # the generator bounds its own wait (ready_s) and exits
    if line.strip() != "ready" or time.monotonic() > deadline:
        process.kill()
        _, why = process.communicate()
        why = why.strip().removeprefix("loadgen: ") or f"it printed {line!r}"
        raise RuntimeError(f"load generator not ready against {server.peer.name}: {why}")
    return Load(process)
