"""What the sans-I/O core keeps per idle connection (issue #14: ≤ 15 KiB per idle connection).

A few hundred connections go through hello, welcome and one subscription, in process; the
bytes tracemalloc sees allocated and still held afterwards, divided by the connections, must
stay under a bound. Deterministic: bytes allocated, not time. The bound is what the core held
after the idle-memory cuts of issue #14, with a small margin: a new per-connection container
or a kept frame makes it fail (``python -m benchmarks.harness.idle_memory`` shows the whole
server, object by object).
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from typing import Any

from canaux.protocol.channels import Catalogue
from canaux.protocol.limits import Limits
from canaux.protocol.server import HelloReceived, ServerConnection, SubscribeRequested
from canaux.protocol.sessions import ServerSession, ServerSessions

CATALOGUE = Catalogue.standard(conformance=True)
CONNECTIONS = 300
HELLO = json.dumps({"type": "hello", "version": 1})


class Carrier:
    __slots__ = ()

    def send_event(self, channel: str, seq: int, text: str) -> None:
        pass

    def replace(self) -> None:
        pass


def _idle_connection(
    sessions: ServerSessions[Carrier], limits: Limits, carrier: Carrier, n: int
) -> tuple[ServerConnection, ServerSession]:
    conn = ServerConnection(limits, 0.0)
    conn.receive_text(HELLO, 0.0)
    (hello,) = conn.events_received()
    assert isinstance(hello, HelloReceived)
    opened = sessions.open(None, hello.hello.resume, 0.0)
    sessions.welcome(conn, opened, CATALOGUE, 0.0)
    sessions.attach(opened.session, carrier, 0.0)
    conn.data_to_send()
    subscribe = {"type": "subscribe", "id": f"s{n}", "channel": "conformance.idle"}
    conn.receive_text(json.dumps(subscribe), 0.0)
    (request,) = conn.events_received()
    assert isinstance(request, SubscribeRequested)
    outcome = sessions.decide_subscribe(opened.session, CATALOGUE, request.frame)
    conn.reply(sessions.commit(opened.session, outcome), 0.0)
    assert len(conn.data_to_send()) == 1  # the ack
    return conn, opened.session


def measure(connections: int = CONNECTIONS) -> tuple[float, list[Any]]:
    """Bytes per idle connection the core holds, and tracemalloc's lines (biggest first)."""
    limits = Limits()
    sessions: ServerSessions[Carrier] = ServerSessions(limits)
    carrier = Carrier()
    _idle_connection(sessions, limits, carrier, -1)  # caches and first-use allocations
    kept: list[Any] = []
    gc.collect()
    tracemalloc.start(8)
    try:
        before = tracemalloc.take_snapshot()
        for n in range(connections):
            kept.append(_idle_connection(sessions, limits, carrier, n))
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    only = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__)]
    diff = after.filter_traces(only).compare_to(before.filter_traces(only), "lineno")
    total = sum(d.size_diff for d in diff)
    assert len(kept) == connections
    return total / connections, diff


BOUND = 2_300
"""Bytes: 2,979 before the cuts of issue #14, 1,987 after (Python 3.11, this core)."""


def test_an_idle_connection_keeps_no_more_than_its_bound_in_the_core() -> None:
    per_connection, diff = measure()
    top = "\n".join(f"{d.size_diff / CONNECTIONS:8.0f} B  {d.traceback[0]}" for d in diff[:12])
    assert per_connection <= BOUND, f"{per_connection:.0f} B per idle connection:\n{top}"


if __name__ == "__main__":
    per, lines = measure()
    print(f"{per:.0f} B per idle connection")
    for d in lines[:25]:
        print(f"{d.size_diff / CONNECTIONS:8.0f} B {d.count_diff / CONNECTIONS:4.1f} {d.traceback}")
