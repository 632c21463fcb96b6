"""Worst-case memory per identity: what one token can make ``canaux serve`` hold (issue 10).

Each scenario starts its own ``canaux serve --conformance`` (127.0.0.1, port 0, the default
limits unless ``--server-flag`` says otherwise), reads the limits its ``welcome`` announces,
plays one attacker, and reports the server's resident memory before and after beside the bound
spec/limits.md "Worst case" computes from those limits:

- **detached-8**: the attack of finding 2 — one token, 8 sessions left detached, 1,100 publishes
  of 60 KB (before the byte bounds: 50 MB -> 536 MB);
- **detached-40**: one token, 40 sessions left detached (more than ``max_detached_sessions``),
  300 publishes of 60 KB;
- **slow-reader**: a reader that stops reading while 12 MB are published to its channel (before:
  +63 MB held until its 4503).

A watcher session of its own identity reads every event; the report says whether it saw them
all, in order, and whether the slow reader was cut with 4503.

    python -m benchmarks.memory          # ``make bench-memory``: results/memory.{json,md}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import socket
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

__all__ = ["main", "worst_case"]

RESULTS = Path(__file__).resolve().parent / "results"
LISTEN_RE = re.compile(r"listening on (ws://\S+)")
MiB = 1024 * 1024
BODY = "x" * 60_000
CHANNEL = "conformance.flood"
TIMEOUT = 60.0
DEFAULTS = {"resume_buffer_bytes": MiB, "outbound_queue_bytes": MiB, "max_detached_sessions": 32}


def worst_case(limits: dict[str, Any], *, detached: int, connections: int, event: int) -> int:
    """spec/limits.md "Worst case" for ``detached`` detached sessions and ``connections`` open
    ones, events of at most ``event`` bytes (replies are not counted: these attackers send few)."""
    buffer = int(limits.get("resume_buffer_bytes", DEFAULTS["resume_buffer_bytes"]))
    queue = int(limits.get("outbound_queue_bytes", DEFAULTS["outbound_queue_bytes"]))
    return detached * (buffer + event) + connections * (buffer + 2 * queue + 3 * event)


class Served:
    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process = process
        self.url = url

    def rss(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS line")


@asynccontextmanager
async def _serve(flags: Sequence[str]) -> AsyncIterator[Served]:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "canaux", "serve", "--host", "127.0.0.1", "--port", "0"),
        *("--conformance", "--log-level", "warning", *flags),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(TIMEOUT):
            while not (found := LISTEN_RE.search((await process.stdout.readline()).decode())):
                if process.returncode is not None:
                    raise RuntimeError("canaux serve exited before listening")
        drain = asyncio.create_task(process.stdout.read())
        yield Served(process, found.group(1))
        drain.cancel()
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def _open(url: str, *, stalled: bool = False) -> ClientConnection:
    options: dict[str, Any] = {"subprotocols": ["canaux.v1"], "open_timeout": TIMEOUT}
    if stalled:  # a small kernel buffer, one frame read ahead: a reader that stops reading
        host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        options.update(sock=sock, max_queue=1, compression=None)
    return await connect(url, **options)


async def _frame(ws: ClientConnection) -> tuple[dict[str, Any], int]:
    while True:
        async with asyncio.timeout(TIMEOUT):
            text = await ws.recv()
        assert isinstance(text, str)
        frame = json.loads(text)
        if frame.get("type") != "ping":
            return frame, len(text.encode())
        await ws.send(json.dumps({"type": "pong", "nonce": frame.get("nonce")}))


async def _hello(ws: ClientConnection, token: str, **more: Any) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "hello", "version": 1, "token": token, **more}))
    welcome, _ = await _frame(ws)
    return welcome


async def _request(ws: ClientConnection, frame: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps(frame))
    while True:
        reply, _ = await _frame(ws)
        if reply.get("id") == frame["id"]:
            return reply


async def _watch(ws: ClientConnection, count: int, out: dict[str, Any]) -> None:
    seqs: list[int] = []
    longest = 0
    while len(seqs) < count:
        frame, size = await _frame(ws)
        if frame.get("type") == "event":
            seqs.append(frame["seq"])
            longest = max(longest, size)
    out["watcher_complete"] = seqs == list(range(seqs[0], seqs[0] + count))
    out["longest_event"] = longest


async def _publish(ws: ClientConnection, count: int) -> None:
    for n in range(count):
        frame = {"type": "publish", "id": f"p{n}", "channel": CHANNEL, "data": {"n": n, "b": BODY}}
        assert (await _request(ws, frame))["type"] == "ack"


async def scenario(name: str, flags: Sequence[str]) -> dict[str, Any]:
    detached, publishes = {"detached-8": (8, 1100), "detached-40": (40, 300)}.get(name, (0, 200))
    row: dict[str, Any] = {"scenario": name, "detached": detached, "publishes": publishes}
    async with _serve(flags) as server:
        watcher = await _open(server.url)
        limits = (await _hello(watcher, "watcher"))["limits"]
        await _request(watcher, {"type": "subscribe", "id": "w", "channel": CHANNEL})
        attacker = "attacker-" + secrets.token_hex(4)
        publisher = await _open(server.url)
        await _hello(publisher, attacker)
        slow = None
        if name == "slow-reader":
            slow = await _open(server.url, stalled=True)
            await _hello(slow, "slow")
            await _request(slow, {"type": "subscribe", "id": "s", "channel": CHANNEL})
        for n in range(detached):
            ws = await _open(server.url)
            await _hello(ws, attacker)
            await _request(ws, {"type": "subscribe", "id": f"s{n}", "channel": CHANNEL})
            await ws.close()
        row["rss_before"] = server.rss()
        started = time.monotonic()
        watching = asyncio.create_task(_watch(watcher, publishes, row))
        await _publish(publisher, publishes)
        await watching
        row["seconds"] = time.monotonic() - started
        row["rss_after"] = server.rss()
        if slow is not None:
            with suppress(ConnectionClosed, TimeoutError):
                while True:
                    await _frame(slow)
            row["slow_reader_close"] = slow.close_code
        kept = min(detached, int(limits.get("max_detached_sessions", detached)))
        connections = 3 if slow is not None else 2
        row["worst_case"] = worst_case(
            limits, detached=kept, connections=connections, event=row["longest_event"]
        )
        row["limits"] = limits
        for ws in (watcher, publisher):
            await ws.close()
    return row


def to_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Worst-case memory per identity",
        "",
        f"{report['date']} · {report['machine']} · `{report['command']}`",
        "",
        "| scenario | detached sessions | publishes of 60 KB | RSS before | grew by | worst case"
        " (spec/limits.md) | watcher saw every event | slow reader closed with |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report["results"]:
        grown = (row["rss_after"] - row["rss_before"]) / MiB
        lines.append(
            f"| {row['scenario']} | {row['detached']} | {row['publishes']} "
            f"| {row['rss_before'] / MiB:.1f} MiB | {grown:.1f} MiB "
            f"| {row['worst_case'] / MiB:.1f} MiB | {'yes' if row['watcher_complete'] else 'NO'} "
            f"| {row.get('slow_reader_close', '—')} |"
        )
    lines += [
        "",
        "Worst case: `max_detached_sessions` x (`resume_buffer_bytes` + E) for the detached",
        "sessions kept, plus (`resume_buffer_bytes` + 2 x `outbound_queue_bytes` + 3E) per open",
        "connection, E the longest event; Python's own overhead comes on top (spec/limits.md).",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__)
    parser.add_argument("--server-flag", action="append", default=[], metavar="FLAG")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--name", default="memory", help="results/NAME.{json,md}")
    args = parser.parse_args(argv)
    rows = []
    for name in ("detached-8", "detached-40", "slow-reader"):
        print(f"memory scenario: {name} …", flush=True)
        rows.append(asyncio.run(scenario(name, args.server_flag)))
    report = {
        "mode": "memory",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "command": "python -m benchmarks.memory"
        + "".join(f" --server-flag={flag}" for flag in args.server_flag),
        "results": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = to_markdown(report)
    (args.out / f"{args.name}.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
