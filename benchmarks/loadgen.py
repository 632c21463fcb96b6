"""Load generator worker: many WebSocket clients in one process, driven by the harness.

One worker process holds ``--clients`` connections to one server, speaking one of three
dialects (bare broadcast, Socket.IO v4, Canaux v1). Clients are picows connections, whose
Cython frame parser costs far less per message than the servers' own Python per-message work,
so several worker processes together can outrun a server on the other core.

Protocol with the harness (one line each way):
  worker → ``ready``            every client connected and subscribed
  harness → ``go START END [CUT]`` monotonic-clock nanoseconds: the measured window (and the cut)
  worker → one JSON line        the results, then it exits
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

__all__ = ["Dialect", "main"]

CHANNEL = "conformance.bench"


class Dialect:
    """How one server kind says connect, subscribe, publish and deliver (sans-I/O)."""

    name = "base"
    subprotocol: str | None = None

    def opening(self) -> list[str]:
        """Frames to send once the socket is open."""
        return []

    def handle(self, text: str) -> tuple[list[str], Any, bool]:
        """One received text frame → (frames to send back, delivered payload or None, now ready)."""
        raise NotImplementedError

    def publish(self, payload: dict[str, Any], n: int) -> str:
        raise NotImplementedError


class BareDialect(Dialect):
    name = "bare"

    def opening(self) -> list[str]:
        return []

    def handle(self, text: str) -> tuple[list[str], Any, bool]:
        return [], orjson.loads(text), True

    def publish(self, payload: dict[str, Any], n: int) -> str:
        return orjson.dumps(payload).decode()


class SocketIODialect(Dialect):
    """Engine.IO 4 over a WebSocket: ``0`` open, ``40`` namespace connect, ``2``/``3`` ping/pong,
    ``42[...]`` an event."""

    name = "socketio"

    def handle(self, text: str) -> tuple[list[str], Any, bool]:
        if text.startswith("42"):
            event = orjson.loads(text[2:])
            return [], event[1] if event[0] == "event" else None, False
        if text == "2":
            return ["3"], None, False
        if text.startswith("0"):
            return ["40"], None, False
        if text.startswith("40"):
            return [], None, True
        return [], None, False

    def publish(self, payload: dict[str, Any], n: int) -> str:
        return "42" + orjson.dumps(["publish", payload]).decode()


@dataclass
class CanauxDialect(Dialect):
    """Canaux v1: hello → welcome, subscribe → ack, events carry seq; resumes after a cut."""

    name = "canaux"
    subprotocol: str | None = "canaux.v1"
    channel: str = CHANNEL
    session: str | None = None
    seq: int = 0
    resumed: bool | None = None
    gaps: int = 0
    duplicates: int = 0
    subscribed: bool = False

    def opening(self) -> list[str]:
        hello: dict[str, Any] = {"type": "hello", "version": 1}
        if self.session is not None:
            hello["resume"] = {"session": self.session, "seq": self.seq}
        return [orjson.dumps(hello).decode()]

    def handle(self, text: str) -> tuple[list[str], Any, bool]:
        frame = orjson.loads(text)
        kind = frame["type"]
        if kind == "event":
            seq = frame["seq"]
            if seq <= self.seq:
                self.duplicates += 1
                return [], None, False
            if seq != self.seq + 1:
                self.gaps += 1
            self.seq = seq
            return [], frame["data"], False
        if kind == "ping":
            pong = {"type": "pong"}
            if "nonce" in frame:
                pong["nonce"] = frame["nonce"]
            return [orjson.dumps(pong).decode()], None, False
        if kind == "welcome":
            self.resumed = frame["resumed"]
            if frame["resumed"]:
                return [], None, True
            self.session, self.seq, self.subscribed = frame["session"], 0, False
            sub = {"type": "subscribe", "id": "sub", "channel": self.channel}
            return [orjson.dumps(sub).decode()], None, False
        if kind == "ack" and frame.get("id") == "sub":
            self.subscribed = True
            return [], None, True
        return [], None, False

    def publish(self, payload: dict[str, Any], n: int) -> str:
        frame = {"type": "publish", "id": f"p{n}", "channel": CHANNEL, "data": payload}
        return orjson.dumps(frame).decode()


DIALECTS: dict[str, type[Dialect]] = {
    "bare": BareDialect,
    "socketio": SocketIODialect,
    "canaux": CanauxDialect,
}


@dataclass
class Window:
    start: int = 0
    end: int = 1 << 62
    cut: int | None = None


@dataclass
class Stats:
    received: int = 0
    latencies_us: list[int] = field(default_factory=list)
    marks_seen: int = 0
    mark_gaps: int = 0
    by_publish_time: bool = False


class Client(WSListener):
    """One connection; counts deliveries that land inside the measured window."""

    def __init__(self, dialect: Dialect, window: Window, stats: Stats, record_latency: bool):
        self.dialect = dialect
        self.window = window
        self.stats = stats
        self.record_latency = record_latency
        self.transport: WSTransport | None = None
        self.ready = asyncio.Event()
        self.echo = asyncio.Event()
        self.last_mark = -1
        self.caught_up_at: int | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        for text in self.dialect.opening():
            transport.send(WSMsgType.TEXT, text.encode())
        if isinstance(self.dialect, BareDialect):
            self.ready.set()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is not WSMsgType.TEXT:
            return
        replies, payload, ready = self.dialect.handle(frame.get_payload_as_utf8_text())
        for text in replies:
            transport.send(WSMsgType.TEXT, text.encode())
        if ready:
            self.ready.set()
        if payload is None:
            return
        now = time.monotonic_ns()
        body = payload["body"]
        mark = body["n"]
        if self.last_mark >= 0 and mark != self.last_mark + 1:
            self.stats.mark_gaps += 1
        self.last_mark = mark
        self.echo.set()
        window = self.window
        if window.cut is not None and self.caught_up_at is None and body["t"] >= window.cut:
            self.caught_up_at = now
        # The watcher counts what was PUBLISHED in the window, however late it arrives.
        instant = body["t"] if self.stats.by_publish_time else now
        if window.start <= instant < window.end:
            self.stats.received += 1
            if self.record_latency:
                self.stats.latencies_us.append((now - body["t"]) // 1000)


HANDSHAKE_S = 30.0
"""How long a handshake may take (picows's default, 5 s, fails a 1,000-client storm on a
shared machine: the storm measures the time all take, it does not give up on the slow)."""


async def _open(url: str, dialect: Dialect, window: Window, stats: Stats, latency: bool) -> Client:
    headers = {"Sec-WebSocket-Protocol": dialect.subprotocol} if dialect.subprotocol else {}
    _, client = await ws_connect(
        lambda: Client(dialect, window, stats, latency),
        url,
        extra_headers=headers,
        websocket_handshake_timeout=HANDSHAKE_S,
    )
    assert isinstance(client, Client)
    await asyncio.wait_for(client.ready.wait(), 30)
    return client


async def _reconnect(url: str, client: Client) -> None:
    """Reconnect one cut client, resuming its Canaux session."""
    client.ready.clear()
    headers = {"Sec-WebSocket-Protocol": client.dialect.subprotocol or ""}
    await ws_connect(
        lambda: client, url, extra_headers=headers, websocket_handshake_timeout=HANDSHAKE_S
    )
    await asyncio.wait_for(client.ready.wait(), 30)


def _read_go() -> Window:
    line = sys.stdin.readline().split()
    if not line or line[0] != "go":
        raise SystemExit("expected 'go START END [CUT]' on stdin")
    cut = int(line[3]) if len(line) > 3 else None
    return Window(start=int(line[1]), end=int(line[2]), cut=cut)


async def _until(deadline_ns: int) -> None:
    remaining = (deadline_ns - time.monotonic_ns()) / 1e9
    if remaining > 0:
        await asyncio.sleep(remaining)  # waits for a clock instant, not for another task


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.role in ("flood", "slowloris"):
        return await _attack(args)
    dialect_type = DIALECTS[args.dialect]
    window = Window()
    stats = Stats()
    latency = args.role in ("latency-sub", "watch")
    stats.by_publish_time = args.role == "watch"
    clients: list[Client] = []
    for start in range(0, args.clients, 200):
        batch = [
            _open(args.url, dialect_type(), window, stats, latency)
            for _ in range(start, min(args.clients, start + 200))
        ]
        clients.extend(await asyncio.gather(*batch))
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    go = await loop.run_in_executor(None, _read_go)
    window.start, window.end, window.cut = go.start, go.end, go.cut
    result: dict[str, Any] = {"role": args.role, "clients": len(clients)}
    cpu = asyncio.create_task(_cpu_in_window(window))

    if args.role in ("fanout-pub", "latency-pub", "storm-pub"):
        result["published"] = await _publish(clients[0], args, window)
    elif args.role == "storm-sub":
        result.update(await _storm(clients, args, window))
    elif args.role == "watch":
        # Late deliveries of the window's publishes still count: wait for them (bounded).
        await _until(window.end + int(WATCH_GRACE_S * 1e9))
    else:
        await _until(window.end)
    for client in clients:
        if client.transport is not None and not client.transport.is_disconnected:
            client.transport.disconnect()
    result["cpu_s"] = await cpu
    result["received"] = stats.received
    result["mark_gaps"] = stats.mark_gaps
    if latency:
        result["latencies_us"] = stats.latencies_us
    return result


async def _cpu_in_window(window: Window) -> float:
    """CPU seconds this worker spent in the measured window (is the load generator the limit?)."""
    await _until(window.start)
    before = time.process_time()
    await _until(window.end)
    return time.process_time() - before


async def _publish(client: Client, args: argparse.Namespace, window: Window) -> int:
    """Publish until the window ends: at full speed with a bounded window of unechoed frames,
    or at a fixed rate (``--rate``) for the latency and storm scenarios."""
    assert client.transport is not None
    # Start half a second early, so the measured window sees a steady state.
    await _until(window.start - 500_000_000)
    n = 0
    if args.rate:
        interval = 1_000_000_000 // args.rate
        next_at = time.monotonic_ns()
        while time.monotonic_ns() < window.end:
            payload = {"mark": f"m{n}", "body": {"n": n, "t": time.monotonic_ns()}}
            client.transport.send(WSMsgType.TEXT, client.dialect.publish(payload, n).encode())
            n += 1
            next_at += interval
            await _until(next_at)
        return n
    while time.monotonic_ns() < window.end:
        while n - (client.last_mark + 1) < args.inflight:
            payload = {"mark": f"m{n}", "body": {"n": n, "t": time.monotonic_ns()}}
            client.transport.send(WSMsgType.TEXT, client.dialect.publish(payload, n).encode())
            n += 1
        client.echo.clear()
        try:
            await asyncio.wait_for(client.echo.wait(), 5)
        except TimeoutError:
            break
    return n


async def _storm(clients: list[Client], args: argparse.Namespace, window: Window) -> dict[str, Any]:
    """Cut every connection at once (no close frame), reconnect with resume, time the catch-up."""
    assert window.cut is not None
    await _until(window.cut)
    for client in clients:
        assert client.transport is not None
        client.transport.underlying_transport.abort()
    order = list(clients)
    random.shuffle(order)
    # --reconnect-url: another node of the same deployment (benchmarks.cluster).
    url = args.reconnect_url or args.url
    # A client that could not reconnect (or was not welcomed within 30 s) is counted, not
    # fatal: it never catches up, and the row says how many did.
    outcomes = await asyncio.gather(
        *(_reconnect(url, client) for client in order), return_exceptions=True
    )
    failed = sum(1 for outcome in outcomes if isinstance(outcome, BaseException))
    deadline = time.monotonic() + args.storm_timeout
    while time.monotonic() < deadline and any(c.caught_up_at is None for c in clients):
        pending = [c for c in clients if c.caught_up_at is None]
        pending[0].echo.clear()
        try:
            await asyncio.wait_for(pending[0].echo.wait(), max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            break
    done = [c.caught_up_at - window.cut for c in clients if c.caught_up_at is not None]
    dialects = [c.dialect for c in clients if isinstance(c.dialect, CanauxDialect)]
    return {
        "caught_up": len(done),
        "catch_up_ms_max": max(done) / 1e6 if done else None,
        "reconnect_failed": failed,
        "resumed": sum(1 for d in dialects if d.resumed),
        "refused": sum(1 for d in dialects if d.resumed is False),
        "seq_gaps": sum(d.gaps for d in dialects),
        "seq_duplicates": sum(d.duplicates for d in dialects),
    }


WATCH_GRACE_S = 5.0
"""How long the watcher keeps reading after the window, for the late deliveries of its publishes."""

FLOOD_CHANNEL = "conformance.flood"
"""What flood clients subscribe to: not the watcher's channel, so the flood adds handshakes,
not fan-out."""


async def _attack(args: argparse.Namespace) -> dict[str, Any]:
    """The flood roles: nothing is opened before ``go``; at the window's start, ``--clients``
    connections at once (``flood``: Canaux clients doing hello and subscribe; ``slowloris``: raw
    sockets sending an endless request head), held until the window ends."""
    # The attackers share the machine with the server and the watcher; at the lowest CPU
    # priority they take what the others leave, as if they ran on another machine.
    os.nice(19)
    print("ready", flush=True)
    go = await asyncio.get_running_loop().run_in_executor(None, _read_go)
    await _until(go.start)
    if args.role == "flood":
        result = await _flood(args, go)
    else:
        result = await _slowloris(args, go)
    return {"role": args.role, "clients": args.clients, **result}


async def _flood(args: argparse.Namespace, window: Window) -> dict[str, Any]:
    started = time.monotonic_ns()
    stats = Stats()
    outcomes: dict[str, int] = {}
    clients: list[Client] = []
    finished: list[int] = []

    async def one() -> None:
        dialect = CanauxDialect(channel=FLOOD_CHANNEL)
        try:
            client = await _open(args.url, dialect, window, stats, False)
        except Exception as exc:  # the server refused or dropped it: count why
            status = getattr(getattr(exc, "response", None), "status", None)
            key = f"http_{int(status)}" if status is not None else type(exc).__name__
            outcomes[key] = outcomes.get(key, 0) + 1
            return
        clients.append(client)
        finished.append(time.monotonic_ns())

    await asyncio.gather(*(one() for _ in range(args.clients)))
    await _until(window.end)
    still_open = sum(
        1 for c in clients if c.transport is not None and not c.transport.is_disconnected
    )
    for client in clients:
        if client.transport is not None and not client.transport.is_disconnected:
            client.transport.disconnect()
    return {
        "welcomed": len(clients),
        "still_open": still_open,
        "failed": outcomes,
        "all_welcomed_ms": (max(finished) - started) / 1e6 if finished else None,
    }


class _Slow(asyncio.Protocol):
    """One slowloris socket: it only ever sends more request-head lines."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed_at: int | None = None
        self.answered = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.answered = (self.answered + data)[:64]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed_at = time.monotonic_ns()


async def _slowloris(args: argparse.Namespace, window: Window) -> dict[str, Any]:
    host, port = _host_port(args.url)
    loop = asyncio.get_running_loop()
    started = time.monotonic_ns()
    sockets: list[_Slow] = []
    refused = 0
    for start in range(0, args.clients, 100):
        results = await asyncio.gather(
            *(
                loop.create_connection(_Slow, host, port)
                for _ in range(start, min(args.clients, start + 100))
            ),
            return_exceptions=True,
        )
        for item in results:
            if isinstance(item, BaseException):
                refused += 1
            else:
                sockets.append(item[1])
    head = f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\n".encode()
    for sock in sockets:
        if sock.transport is not None and sock.closed_at is None:
            sock.transport.write(head)
    n = 0
    while time.monotonic_ns() < window.end:
        # One more header line per socket per second, the classic slowloris pace.
        await asyncio.sleep(1)  # paces the attack; nothing waits on it
        n += 1
        for sock in sockets:
            if sock.transport is not None and sock.closed_at is None:
                sock.transport.write(f"X-Slow-{n}: a\r\n".encode())
    closed = [s.closed_at - started for s in sockets if s.closed_at is not None]
    for sock in sockets:
        if sock.transport is not None and sock.closed_at is None:
            sock.transport.abort()
    return {
        "opened": len(sockets),
        "connect_refused": refused,
        "still_open": len(sockets) - len(closed),
        "closed_by_server": len(closed),
        "answered_408": sum(1 for s in sockets if s.answered.startswith(b"HTTP/1.1 408")),
        "last_closed_ms": max(closed) / 1e6 if closed else None,
    }


def _host_port(url: str) -> tuple[str, int]:
    rest = url.split("://", 1)[1].split("/", 1)[0]
    host, _, port = rest.rpartition(":")
    return host.strip("[]"), int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--dialect", choices=sorted(DIALECTS), required=True)
    parser.add_argument(
        "--role",
        choices=[
            "fanout-pub",
            "fanout-sub",
            "latency-pub",
            "latency-sub",
            "watch",
            "idle",
            "storm-pub",
            "storm-sub",
            "flood",
            "slowloris",
        ],
        required=True,
    )
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--inflight", type=int, default=512)
    parser.add_argument("--rate", type=int, default=0, help="publishes per second (0: full speed)")
    parser.add_argument("--storm-timeout", type=float, default=30.0)
    parser.add_argument(
        "--reconnect-url", default=None, help="storm-sub: reconnect here (default: --url)"
    )
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
