"""The servers the harness compares, each started alone, pinned to its own core.

Every peer does the same work: a text frame a client publishes is delivered to every
connected subscriber (the publisher included). ``bare`` and ``node-ws`` broadcast the frame as
is, the two socket.io peers emit it to one room, ``canaux`` is ``canaux serve`` with the
``conformance.*`` family (plain pub/sub), whose limits are raised so that none of its
protections (rate limit, outbound queue) cuts a benchmark client.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "PEERS",
    "Peer",
    "Pinning",
    "RunningPeer",
    "by_name",
    "pinning",
    "running",
]

BENCHMARKS = Path(__file__).resolve().parent.parent
NODE = BENCHMARKS / "node"
LISTEN_RE = re.compile(r"listening on ws://([0-9.]+):(\d+)(/\S*)")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Peer:
    name: str
    dialect: str  # what the load generator speaks: bare, socketio, canaux
    label: str  # what a table calls it
    argv: tuple[str, ...] = ()  # another server's command (it prints "listening on ws://…")

    def command(self) -> list[str]:
        if self.argv:
            return list(self.argv)
        py = sys.executable
        if self.name == "bare":
            return [py, "-m", "benchmarks.servers.bare_ws", "--port", "0"]
        if self.name == "python-socketio":
            return [py, "-m", "benchmarks.servers.socketio_server", "--port", "0"]
        if self.name == "node-ws":
            return ["node", str(NODE / "ws_server.mjs"), "127.0.0.1", "0"]
        if self.name == "node-socketio":
            return ["node", str(NODE / "socketio_server.mjs"), "127.0.0.1", "0"]
        return [
            py, "-m", "canaux", "serve", "--host", "127.0.0.1", "--port", "0", "--conformance",
            "--core-only", "--log-level", "warning", "--max-rate", "10000000",
            "--max-frame-bytes", "1048576", "--outbound-queue", "1000000",
            "--outbound-queue-bytes", "1073741824", "--max-connections", "100000",
            "--max-handshakes", "100000",
        ]  # fmt: skip


PEERS: tuple[Peer, ...] = (
    Peer("canaux", "canaux", "canaux"),
    Peer("node-ws", "bare", "Node ws"),
    Peer("bare", "bare", "bare websockets"),
    Peer("node-socketio", "socketio", "Node socket.io"),
    Peer("python-socketio", "socketio", "python-socketio"),
)


@dataclass(frozen=True)
class Pinning:
    """Where the server and the load generator run, and at what priority."""

    server_core: int | None
    loadgen_core: int | None
    nice: int | None  # -10 when allowed (root): the measured processes go before others' work

    def prefix(self, core: int | None) -> list[str]:
        out: list[str] = []
        if self.nice is not None:
            out += ["nice", "-n", str(self.nice)]
        if core is not None:
            out += ["taskset", "-c", str(core)]
        return out


def pinning(priority: bool = True) -> Pinning:
    """The server on the first core the harness may use, the load generator on the last."""
    cores = sorted(os.sched_getaffinity(0))
    nice = -10 if priority and os.geteuid() == 0 else None
    if len(cores) < 2:
        return Pinning(None, None, nice)
    return Pinning(cores[0], cores[-1], nice)


@dataclass
class RunningPeer:
    peer: Peer
    process: subprocess.Popen[str]
    port: int
    path: str

    def _status(self, key: str) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise RuntimeError(f"no {key} line")

    def rss_kib(self) -> int:
        return self._status("VmRSS")

    def cpu_seconds(self) -> float:
        """User and system CPU of the whole process (every thread: Node's too)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def client_path(self) -> str:
        if self.peer.dialect == "socketio":
            return self.path.rstrip("/") + "/?EIO=4&transport=websocket"
        return self.path


def _accepting(port: int, deadline: float) -> None:
    """Some servers print their port before they listen (python-socketio binds, prints, then
    uvicorn listens): poll until a connection is accepted (bounded)."""
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)  # polls a port that is about to listen


@contextmanager
def running(peer: Peer, pin: Pinning, timeout: float = 60) -> Iterator[RunningPeer]:
    """Start ``peer`` on the server core; yield once it prints where it listens."""
    process = subprocess.Popen(
        [*pin.prefix(pin.server_core), *peer.command()],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=BENCHMARKS.parent,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + timeout
        match = None
        while match is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"{peer.name} exited before listening")
            match = LISTEN_RE.search(line)
        if match is None:
            raise TimeoutError(f"{peer.name} did not listen in {timeout} s")
        port = int(match.group(2))
        _accepting(port, deadline)
        yield RunningPeer(peer, process, port, match.group(3))
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def by_name(names: Sequence[str]) -> list[Peer]:
    known = {p.name: p for p in PEERS}
    return [known[n] for n in names]
