"""One measurement each: a fresh server, one load generator, one window, one row.

Every row carries what a reader needs to trust it: the load generator's CPU (a row where it
passes :data:`LOADGEN_LIMIT` of its core is flagged: the generator may have been the limit),
the server's CPU, and whether every publish reached every subscriber.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from benchmarks.harness import loadgen
from benchmarks.harness.peers import Peer, Pinning, running

__all__ = ["IDLE_FLOOR_PER_S", "LOADGEN_LIMIT", "Fanout", "fanout", "idle", "latency"]

LOADGEN_LIMIT = 0.80
"""Above this share of its core the load generator may be what limits a row."""


@dataclass(frozen=True)
class Fanout:
    """One fan-out configuration: subscribers, publishes kept in flight, payload bytes."""

    subscribers: int = 100
    inflight: int = 100
    payload: int = 100

    @property
    def key(self) -> str:
        return f"{self.subscribers} subs, {self.inflight} in flight, {self.payload} B"


def _until(instant_ns: int) -> None:
    delay = (instant_ns - time.monotonic_ns()) / 1e9
    if delay > 0:
        time.sleep(delay)  # the harness measures between two clock instants it chose


def _window(server: Any, load: loadgen.Load, seconds: float) -> tuple[float, dict[str, Any]]:
    """Run one window; the server's CPU seconds inside it and the generator's result."""
    start = time.monotonic_ns() + 700_000_000  # the publisher starts 0.5 s before the window
    end = start + int(seconds * 1e9)
    load.go(start, end)
    _until(start)
    cpu0 = server.cpu_seconds()
    _until(end)
    cpu1 = server.cpu_seconds()
    return cpu1 - cpu0, load.result(timeout=seconds + 180)


def _common(peer: Peer, got: dict[str, Any], server_cpu_s: float, seconds: float) -> dict[str, Any]:
    deliveries = got["deliveries_in_window"]
    loadgen_cpu = got["cpu_s"] / seconds
    return {
        "peer": peer.name,
        "load_average_1min": os.getloadavg()[0],
        "published": got["published"],
        "deliveries": deliveries,
        "deliveries_per_s": deliveries / seconds,
        "server_cpu": server_cpu_s / seconds,
        "server_us_per_delivery": server_cpu_s * 1e6 / deliveries if deliveries else None,
        "loadgen_cpu": loadgen_cpu,
        "loadgen_saturated": loadgen_cpu > LOADGEN_LIMIT,
        # Every publish checked delivered to every subscriber, in order, once.
        "missing": got["missing"],
        "pending": got["pending"],
        "duplicates": got["duplicates"],
        "seq_gaps": got["seq_gaps"],
        "closed": got["closed"],
        "errors": got["errors"],
        "first_error": got["first_error"],
        "delivered_all": got["missing"] == 0
        and got["pending"] == 0
        and got["duplicates"] == 0
        and got["seq_gaps"] == 0
        and got["closed"] == 0,
        "drain_s": got["drain_s"],
    }


def fanout(peer: Peer, pin: Pinning, config: Fanout, seconds: float) -> dict[str, Any]:
    """Saturation: the publisher keeps ``config.inflight`` publishes unechoed."""
    with running(peer, pin) as server:
        load = loadgen.start(
            server,
            pin,
            role="fanout",
            subscribers=config.subscribers,
            payload=config.payload,
            inflight=config.inflight,
        )
        server_cpu, got = _window(server, load, seconds)
    row = _common(peer, got, server_cpu, seconds)
    row.update(
        config=config.key,
        subscribers=config.subscribers,
        inflight=config.inflight,
        payload=config.payload,
        megabytes_per_s=row["deliveries_per_s"] * config.payload / 1e6,
    )
    return row


def latency(
    peer: Peer, pin: Pinning, rate: int, seconds: float, subscribers: int = 100
) -> dict[str, Any]:
    """A fixed publish rate: publish-to-deliver p50/p99/p99.9 and CPU per delivery."""
    with running(peer, pin) as server:
        load = loadgen.start(server, pin, role="latency", subscribers=subscribers, rate=rate)
        server_cpu, got = _window(server, load, seconds)
    row = _common(peer, got, server_cpu, seconds)
    expected = rate * seconds * subscribers
    row.update(
        rate_per_s=rate,
        subscribers=subscribers,
        samples=got["samples"],
        # Fewer deliveries than the rate asks: the server could not keep up with it.
        kept_up=got["deliveries_in_window"] >= 0.95 * expected,
        p50_ms=got["p50_ms"],
        p99_ms=got["p99_ms"],
        p999_ms=got["p999_ms"],
        max_ms=got["max_ms"],
    )
    return row


IDLE_FLOOR_PER_S = 20
"""The slowest handshake rate the idle scenario waits for: 10,000 connections get 500 s (a
server still making progress is given the time; one that stops for 30 s fails sooner)."""


def idle(
    peer: Peer, pin: Pinning, connections: int, warm: int = 100, stall_s: float = 30
) -> dict[str, Any]:
    """Resident memory per idle connection: ``warm`` first (the base), then the rest.

    A server that cannot hold ``connections`` (no new one ready for ``stall_s``, or slower
    than :data:`IDLE_FLOOR_PER_S`) raises a RuntimeError saying how far it got; the harness records
    it as that row's failure.
    """
    with running(peer, pin) as server:
        first = loadgen.start(server, pin, role="idle", subscribers=warm)
        loads = [first]
        try:
            time.sleep(0.5)  # let the server settle before reading its memory
            base = server.rss_kib()
            began = time.monotonic()
            rest = loadgen.start(
                server,
                pin,
                role="idle",
                subscribers=connections - warm,
                ready_s=max(120.0, connections / IDLE_FLOOR_PER_S),
                stall_s=stall_s,
            )
            loads.append(rest)
            connect_s = time.monotonic() - began
            time.sleep(1.0)
            loaded = server.rss_kib()
            now = time.monotonic_ns()
            for load in loads:
                load.go(now, now)
            results = [load.result(timeout=60) for load in loads]
        finally:
            for load in loads:
                load.stop()
    return {
        "peer": peer.name,
        "load_average_1min": os.getloadavg()[0],
        "connections": connections,
        "connect_s": connect_s,
        "rss_base_kib": base,
        "rss_loaded_kib": loaded,
        "kib_per_connection": (loaded - base) / (connections - warm),
        "open_at_end": sum(r["open_at_end"] for r in results),
    }
