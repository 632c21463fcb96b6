"""Broken servers for the holes ``make power`` found in the suite (tests/power, #9 item 8).

Each fault is the behaviour of a reference mutant that survived a power run, rebuilt as a
relay in front of the correct reference, so that the case written for it keeps proving it
can fail. Registered in :data:`tests.conformance.broken.faults.BROKEN_SERVERS`.
"""

from __future__ import annotations

from collections import OrderedDict

from .frame_proxy import Conn, Fault, Frame

__all__ = ["LegacyPingAlsoRefused", "RemembersByLastUse"]

_REQUESTS = ("subscribe", "unsubscribe", "publish")


class RemembersByLastUse(Fault):
    """The mutant ``operations._replayed(): replayed=True -> False`` [OPS-9].

    The relay keeps the reply memory a server with exactly ``resume_buffer`` ids would keep,
    least recently USED first out: a copy answered from memory makes its id the newest.
    When the client re-sends an id this memory has lost (and the reference, which remembers
    more, still knows), the relay renames it, so the reference applies the frame again, and
    gives the reply its original id back.
    """

    name = "remembers-by-last-use"
    description = (
        "the reply memory holds exactly resume_buffer ids and a replay makes its id the "
        "newest, so a replay pushes out a frame first answered after it"
    )

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        kind = frame.get("type")
        if kind == "welcome":
            limits = frame.get("limits")
            if isinstance(limits, dict) and isinstance(limits.get("resume_buffer"), int):
                conn.state["size"] = limits["resume_buffer"]
        elif kind in ("ack", "error"):
            renamed: dict[str, str] = conn.state.setdefault("renamed", {})
            original = renamed.pop(str(frame.get("id")), None)
            if original is not None:
                frame["id"] = original
        return [frame]

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        frame_id = frame.get("id")
        size = conn.state.get("size")
        if frame.get("type") not in _REQUESTS or not isinstance(frame_id, str) or size is None:
            return [frame]
        memory: OrderedDict[str, None] = conn.state.setdefault("memory", OrderedDict())
        seen: set[str] = conn.state.setdefault("seen", set())
        if frame_id in memory:
            memory.move_to_end(frame_id)  # the fault: a replay counts as a use
            return [frame]
        if frame_id in seen:
            # Forgotten here, still remembered upstream: make the reference apply it again.
            conn.state["fresh"] = conn.state.get("fresh", 0) + 1
            fresh = f"again-{conn.state['fresh']}"
            conn.state.setdefault("renamed", {})[fresh] = frame_id
            frame["id"] = fresh
        seen.add(frame_id)
        memory[frame_id] = None
        while len(memory) > size:
            memory.popitem(last=False)
        return [frame]


class LegacyPingAlsoRefused(Fault):
    """The mutant ``legacy.py LegacyLink._read: continue -> pass`` after the pong [LEGACY-7]:
    the ping then also goes on as a chat frame and is refused with an error notice."""

    name = "legacy-ping-also-refused"
    description = "a legacy ping is answered with its pong, then with a bad_frame notice"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame == {"type": "pong"} and conn.session is None:  # no welcome: a legacy socket
            notice = {"level": "error", "text": "not a chat frame", "code": "bad_frame"}
            return [frame, {"channel": "system", "data": notice}]
        return [frame]
