"""A toy client written straight on ``websockets``, with its own adapter: ``toy_adapter.py FLAW``.

It is not the reference: it shows that the client cases judge any client through the adapter
protocol (spec/client-adapter.md), and each FLAW breaks one requirement that the broken
reference clients of tests/conformance/broken_clients/ do not, so that the case naming it is
seen to fail (a check that cannot fail is a defect). ``honest`` breaks nothing. The toy never
reconnects: the cases it is run with do not need it.

FLAWS: honest, no-subprotocol (TRANSPORT-1), early-subscribe (HANDSHAKE-11), strict-members
(TRANSPORT-7), first-duplicate (TRANSPORT-12), numbers-as-text (TRANSPORT-19),
ack-after-event-lost (OPS-7), v1-limits-only (LIMIT-14: knows only the five limits every
welcome has and refuses any other, as a client written before the optional ones would),
trusts-early-frames (CLIENT-14: delivers an event that comes before welcome).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

BASE_LIMITS = {
    "max_frame_bytes",
    "max_subscriptions",
    "max_rate",
    "resume_window_ms",
    "resume_buffer",
}
"""The limits every welcome announces (the v1-limits-only flaw knows no others)."""

KNOWN = {
    "welcome": {
        "type",
        "version",
        "session",
        "resumed",
        "seq",
        "heartbeat_ms",
        "limits",
        "channels",
    },
    "event": {"type", "seq", "channel", "data"},
}


def out(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


class Toy:
    def __init__(self, flaw: str) -> None:
        self.flaw = flaw
        self.channels: list[str] = []
        self.ws: ClientConnection | None = None
        self.welcomed = asyncio.Event()
        self.pending: dict[str, int] = {}
        self.own_events: set[str] = set()
        self.ids = 0
        self.last_seq = 0
        self.outbox: list[str] = []

    def next_id(self) -> str:
        self.ids += 1
        return f"t{self.ids}"

    def decode(self, text: str) -> Any:
        if self.flaw == "first-duplicate":
            return json.loads(text, object_pairs_hook=lambda pairs: dict(reversed(pairs)))
        if self.flaw == "numbers-as-text":
            return json.loads(text, parse_float=str, parse_int=str)
        return json.loads(text)

    async def subscribe_frames(self) -> None:
        assert self.ws is not None
        for channel in self.channels:
            frame = {"type": "subscribe", "id": self.next_id(), "channel": channel}
            await self.ws.send(json.dumps(frame))

    async def run(self, url: str) -> None:
        offered = [] if self.flaw == "no-subprotocol" else ["canaux.v1"]
        out({"msg": "state", "state": "connecting"})
        try:
            async with connect(url, subprotocols=offered or None) as ws:  # type: ignore[arg-type]
                self.ws = ws
                await ws.send(json.dumps({"type": "hello", "version": 1}))
                if self.flaw == "early-subscribe":
                    await self.subscribe_frames()
                async for text in ws:
                    await self.receive(ws, str(text))
        except (ConnectionClosed, OSError):
            pass
        close = self.ws.close_code if self.ws is not None else None
        out({"msg": "state", "state": "closed", **({"code": close} if close else {})})

    async def receive(self, ws: ClientConnection, text: str) -> None:
        frame = self.decode(text)
        kind = frame.get("type")
        if self.flaw == "strict-members" and kind in KNOWN and set(frame) - KNOWN[kind]:
            await ws.close(1002, "unknown member")
            return
        early = kind not in ("welcome", "ping") and not self.welcomed.is_set()
        if early and self.flaw != "trusts-early-frames":
            await ws.close(1002, f"{kind} before welcome")  # [CLIENT-14]
            return
        limits = frame.get("limits") if kind == "welcome" else None
        if self.flaw == "v1-limits-only" and isinstance(limits, dict) and set(limits) - BASE_LIMITS:
            await ws.close(1002, "unknown limit")
            return
        if kind == "welcome":
            self.welcomed.set()
            out({"msg": "state", "state": "connected"})
            if self.flaw != "early-subscribe":
                await self.subscribe_frames()
            for queued in self.outbox:
                await ws.send(queued)
            self.outbox.clear()
        elif kind == "event":
            seq = int(frame["seq"])
            if seq <= self.last_seq:
                return
            self.last_seq = seq
            data = frame["data"]
            if isinstance(data, dict) and data.get("mark") in self.own_events:
                self.own_events.discard(str(data.get("mark")))
                if self.flaw == "ack-after-event-lost":
                    self.pending.clear()  # "the event came first: the request is over"
            out({"msg": "event", "channel": frame["channel"], "data": data})
        elif kind in ("ack", "error") and frame.get("id") in self.pending:
            n = self.pending.pop(frame["id"])
            if kind == "ack":
                out({"msg": "ack", "n": n, "id": frame["id"]})
            else:
                out(
                    {
                        "msg": "refused",
                        "n": n,
                        "code": frame["code"],
                        "message": frame.get("message", ""),
                        "pointer": frame.get("pointer"),
                    }
                )
        elif kind == "ping":
            pong = {"type": "pong", **({"nonce": frame["nonce"]} if "nonce" in frame else {})}
            await ws.send(json.dumps(pong))


async def main(flaw: str) -> None:
    toy = Toy(flaw)
    out(
        {
            "msg": "ready",
            "protocol": 1,
            "client": {"name": f"toy ({flaw})", "version": "0"},
            "backoff": {"base_ms": 50, "cap_ms": 400, "configurable": True},
            "unsupported": ["publish.id", "connect.tokens"],
        }
    )
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks: list[asyncio.Task[None]] = []
    while line := await reader.readline():
        cmd = json.loads(line)
        n, name = cmd["n"], cmd["cmd"]
        if name == "subscribe":
            toy.channels.append(cmd["channel"])
        elif name == "connect":
            tasks.append(asyncio.create_task(toy.run(cmd["url"])))
        elif name == "publish":
            frame_id = toy.next_id()
            toy.pending[frame_id] = n
            if isinstance(cmd["data"], dict) and "mark" in cmd["data"]:
                toy.own_events.add(str(cmd["data"]["mark"]))
            frame = {
                "type": "publish",
                "id": frame_id,
                "channel": cmd["channel"],
                "data": cmd["data"],
            }
            if toy.ws is not None and toy.welcomed.is_set():
                await toy.ws.send(json.dumps(frame))
            else:  # [HANDSHAKE-11] nothing but hello before the welcome
                toy.outbox.append(json.dumps(frame))
        elif name == "close":
            if toy.ws is not None:
                await toy.ws.close()
        else:
            out({"msg": "done", "n": n, "unsupported": name})
            continue
        out({"msg": "done", "n": n})
    if toy.ws is not None:
        await toy.ws.close()
    for task in tasks:
        task.cancel()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
