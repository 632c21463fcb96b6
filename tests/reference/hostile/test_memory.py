"""Issue 10 finding 2, played as an attacker: memory a client can make the server hold.

Against a ``canaux serve`` process with the default limits (its resident memory read from
/proc), one identity opens many sessions, leaves them detached and publishes large events; and a
reader stops reading while a publisher floods its channel. Before the bounds in bytes and on
detached sessions, the first took the server from 50 MB to 536 MB and the second held +63 MB
before its 4503. Each test checks that a watcher session sees every event once, in order, and is
never closed, and that the server holds no more than spec/limits.md "Worst case" allows
[LIMIT-4, LIMIT-11, LIMIT-12, SECURITY-4].
"""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from .served import TIMEOUT, ServerProcess, connect_raw, hello, recv, request, serve

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CHANNEL = "conformance.flood"
BODY = "x" * 60_000
"""ASCII, so a frame costs its UTF-8 length in memory too (spec/limits.md: up to 4x otherwise)."""

MiB = 1024 * 1024

INTERPRETER_SLACK = 24 * MiB
"""What the process may grow by beyond the frames it holds: Python objects per frame and per
session, freed blocks the allocator keeps, websockets' and uvicorn's buffers. Measured on the
2-core test machine: the first test grew the server by 33.6 MiB against a worst case of
40.2 MiB, the second by 2.4 MiB against 9.5 MiB; before the bounds the first grew it by
189 MiB and the second never saw its 4503."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


REFERENCE_DEFAULTS = {
    "resume_buffer_bytes": MiB,
    "outbound_queue_bytes": MiB,
    "max_detached_sessions": 32,
}
"""The reference's defaults (spec/limits.md), for a server that does not announce them."""


def announced(limits: dict[str, Any], name: str) -> int:
    value = limits.get(name, REFERENCE_DEFAULTS[name])
    assert isinstance(value, int)
    return value


def worst_case(limits: dict[str, Any], *, detached: int, connections: int, event: int) -> int:
    """spec/limits.md "Worst case": ``detached`` detached sessions and ``connections`` open
    ones, with events of at most ``event`` bytes, under the announced limits."""
    buffer = announced(limits, "resume_buffer_bytes")
    queue = announced(limits, "outbound_queue_bytes")
    return detached * (buffer + event) + connections * (buffer + 2 * queue + 3 * event)


class Watcher:
    """A session of its own identity on the flooded channel, reading as fast as it can."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self.longest = 0

    @classmethod
    async def join(cls, server: ServerProcess) -> tuple[Watcher, dict[str, Any]]:
        ws = await connect_raw(server)
        welcome = await hello(ws, token="watcher-" + secrets.token_hex(4))
        reply = await request(ws, {"type": "subscribe", "id": "w", "channel": CHANNEL})
        assert reply["type"] == "ack", reply
        return cls(ws), welcome

    async def read_until(self, mark: str) -> None:
        """Every event up to the one marked ``mark``; no close, no stall beyond TIMEOUT."""
        while True:
            async with asyncio.timeout(TIMEOUT):
                text = await self.ws.recv()
            assert isinstance(text, str)
            frame = json.loads(text)
            if frame.get("type") == "ping":
                await self.ws.send(json.dumps({"type": "pong", "nonce": frame.get("nonce")}))
                continue
            assert frame["type"] == "event", frame
            self.longest = max(self.longest, len(text.encode()))
            self.events.append(frame)
            if frame["data"]["mark"] == mark:
                return

    def check(self, marks: list[str]) -> None:
        """Every mark once, in order, with consecutive seqs: no gap, no duplicate."""
        assert [e["data"]["mark"] for e in self.events] == marks
        seqs = [e["seq"] for e in self.events]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


async def publish_all(publisher: ClientConnection, watcher: Watcher, marks: list[str]) -> None:
    """Publish one large event per mark while the watcher reads them all."""
    reading = asyncio.create_task(watcher.read_until(marks[-1]))
    try:
        for n, mark in enumerate(marks):
            frame = {
                "type": "publish",
                "id": f"p-{mark}",
                "channel": CHANNEL,
                "data": {"mark": mark, "body": BODY, "n": n},
            }
            assert (await request(publisher, frame))["type"] == "ack"
        await reading
    finally:
        reading.cancel()


async def test_one_token_with_many_detached_sessions_stays_within_the_worst_case() -> None:
    """[LIMIT-11] [LIMIT-12] one token, more detached sessions than it may keep, 80 events of
    60 KB: the server keeps at most max_detached_sessions of them, each at most
    resume_buffer_bytes, and the watcher misses nothing."""
    async with serve() as server:
        watcher, welcome = await Watcher.join(server)
        limits = welcome["limits"]
        attacker = "attacker-" + secrets.token_hex(4)
        publisher = await connect_raw(server)
        await hello(publisher, token=attacker)
        await publish_all(publisher, watcher, ["warm-up"])
        baseline = server.rss_bytes()

        kept = announced(limits, "max_detached_sessions")
        for n in range(kept + 8):
            ws = await connect_raw(server)
            await hello(ws, token=attacker)
            reply = await request(ws, {"type": "subscribe", "id": f"s{n}", "channel": CHANNEL})
            assert reply["type"] == "ack", reply
            await ws.close()  # detached: its resume window starts [RESUME-10]

        marks = [f"m{n}" for n in range(80)]
        await publish_all(publisher, watcher, marks)
        watcher.check(["warm-up", *marks])
        grown = server.rss_bytes() - baseline
        health = await server.health()

        bound = worst_case(limits, detached=kept, connections=2, event=watcher.longest)
        print(f"RSS grew by {grown / MiB:.1f} MiB; worst case {bound / MiB:.1f} MiB + slack")
        assert grown <= bound + INTERPRETER_SLACK, (grown, bound)
        # [LIMIT-12] the watcher, the publisher, and at most `kept` detached sessions.
        assert health["sessions"] <= kept + 2, health
        await publisher.close()
        await watcher.ws.close()


def _kernel_send_buffer_max() -> int:
    """The largest send buffer the kernel may give the server's socket (net.ipv4.tcp_wmem)."""
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 4 * MiB


async def test_a_reader_that_stops_reading_is_cut_after_outbound_queue_bytes() -> None:
    """[LIMIT-4] a reader that stops reading is closed with 4503 once the server holds
    outbound_queue_bytes for it (plus what the kernel buffers), not 1024 frames of 60 KB; the
    watcher misses nothing [SECURITY-4]; its resume is whole or refused [RESUME-2]."""
    async with serve() as server:
        watcher, welcome = await Watcher.join(server)
        limits = welcome["limits"]
        slow = await connect_raw(server, receive_buffer=65536)
        slow_token = "slow-" + secrets.token_hex(4)
        slow_welcome = await hello(slow, token=slow_token)
        reply = await request(slow, {"type": "subscribe", "id": "s", "channel": CHANNEL})
        assert reply["type"] == "ack", reply
        publisher = await connect_raw(server)
        await hello(publisher, token="publisher")
        await publish_all(publisher, watcher, ["warm-up"])
        baseline = server.rss_bytes()

        # From here on the slow reader reads nothing. What the server may hold for it before
        # 4503: its queue and the batch being written (2 x outbound_queue_bytes), the kernel's
        # send buffer, a few frames in the client's buffers; 4 MiB more make the cut certain.
        queue = announced(limits, "outbound_queue_bytes")
        enough = 2 * queue + _kernel_send_buffer_max() + 4 * MiB
        marks = [f"m{n}" for n in range(enough // len(BODY) + 1)]
        await publish_all(publisher, watcher, marks)
        watcher.check(["warm-up", *marks])
        grown = server.rss_bytes() - baseline

        # Now read what reached the slow reader: consecutive events, then its 4503.
        received: list[dict[str, Any]] = []
        try:
            while len(received) < 1 + len(marks):
                frame = await recv(slow)
                assert frame["type"] == "event", frame
                received.append(frame)
        except ConnectionClosed:
            pass
        assert len(received) < 1 + len(marks), "the slow reader was never cut [LIMIT-4]"
        assert slow.close_code == 4503, slow.close_code
        seqs = [e["seq"] for e in received]
        assert seqs == list(range(1, len(seqs) + 1))

        bound = worst_case(limits, detached=0, connections=3, event=watcher.longest)
        print(f"RSS grew by {grown / MiB:.1f} MiB; worst case {bound / MiB:.1f} MiB + slack")
        assert grown <= bound + INTERPRETER_SLACK, (grown, bound)

        # [LIMIT-4] detached, resumable while its buffer holds what it missed; else refused.
        again = await connect_raw(server)
        last = seqs[-1] if seqs else 0
        resumed = await hello(
            again,
            token=slow_token,
            resume={"session": slow_welcome["session"], "seq": last},
        )
        if resumed["resumed"]:
            replay = [await recv(again) for _ in range(resumed["seq"] - last)]
            assert [e["seq"] for e in replay] == list(range(last + 1, resumed["seq"] + 1))
        else:
            assert resumed["seq"] == 0
            assert resumed["session"] != slow_welcome["session"]
        for ws in (again, publisher, watcher.ws):
            await ws.close()
