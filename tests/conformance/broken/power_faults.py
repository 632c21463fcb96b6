"""Broken servers for the holes ``make power`` found in the suite (tests/power, #9 item 8).

Each fault is the behaviour of a reference mutant that survived a power run, rebuilt as a
relay in front of the correct reference, so that the case written for it keeps proving it
can fail. Registered in :data:`tests.conformance.broken.faults.BROKEN_SERVERS`.
"""

from __future__ import annotations

import json
from collections import OrderedDict

from .frame_proxy import Conn, Fault, Frame

__all__ = [
    "AcceptsUpdateAfterTerminal",
    "LegacyPingAlsoRefused",
    "PlayStartsAtTheSecond",
    "ReceiveOnlyStillChats",
    "RemembersByLastUse",
    "RemoveLeavesCurrent",
    "SessionIdOneLonger",
    "SessionIdOneShorter",
    "SlowPathDepthCountedTwice",
    "SlowPathSafeIntegerOffByOne",
    "SseSkipsTheSnapshot",
    "UnexpectedMemberPointsAtFirst",
    "UnsubscribeCutsEveryone",
]

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


class UnsubscribeCutsEveryone(Fault):
    """The mutant ``hub.py Hub._release: if subscribers == {} -> if not (...)`` [CONF-1]: the
    first unsubscribe from a channel releases it for every session still subscribed."""

    name = "unsubscribe-cuts-everyone"
    description = (
        "when one session unsubscribes from a channel, no other session receives it any more "
        "(until it subscribes again)"
    )

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") in ("subscribe", "unsubscribe") and isinstance(frame.get("id"), str):
            asked: dict[str, tuple[str, str]] = conn.state.setdefault("asked", {})
            asked[frame["id"]] = (str(frame["type"]), str(frame.get("channel")))
        return [frame]

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        cut: set[str] = conn.state.setdefault("cut", set())
        if frame.get("type") == "event" and frame.get("channel") in cut:
            return []
        if frame.get("type") == "ack":
            kind, channel = conn.state.get("asked", {}).pop(frame.get("id"), ("", ""))
            if kind == "subscribe":
                cut.discard(channel)
            elif kind == "unsubscribe":
                for other in conn.proxy.connections:
                    if other is not conn:
                        other.state.setdefault("cut", set()).add(channel)
        return [frame]


class AcceptsUpdateAfterTerminal(Fault):
    """The mutants of ``progress._RANK`` that move a terminal status off rank 2 [PROGRESS-1]:
    a task that ended takes one more update. The relay sends such an update on under a fresh
    task id, which the reference accepts."""

    name = "accepts-update-after-terminal"
    description = "an HTTP progress update of a task that is done, failed or cancelled is accepted"

    def __init__(self) -> None:
        self.ended: set[str] = set()
        self.renamed = 0

    def http_body(self, path: str, body: bytes) -> bytes:
        if not path.endswith("/publish"):
            return body
        try:
            value = json.loads(body)
        except ValueError:
            return body
        data = value.get("data") if isinstance(value, dict) else None
        if value.get("channel") != "progress" or not isinstance(data, dict):
            return body
        task = str(data.get("task"))
        if task in self.ended:
            self.renamed += 1
            data["task"] = f"{task[:50]}-again{self.renamed}"
            return json.dumps(value).encode()
        if data.get("status") in ("done", "failed", "cancelled"):
            self.ended.add(task)
        return body


class PlayStartsAtTheSecond(Fault):
    """The mutant ``playqueue.QueueState._play: current = 0 if None -> 1`` [QUEUE-5]: ``play``
    without an index on a queue with no current item starts at the second item.

    The relay follows the queue from the commands it forwards (after a ``clear`` it knows it
    exactly), not from the states, which may arrive after the next command is sent.
    """

    name = "play-starts-at-the-second"
    description = "play without index on a queue whose current is null makes current 1, not 0"

    def __init__(self) -> None:
        self.known = False
        self.current: int | None = None
        self.length = 0

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        data = frame.get("data")
        if frame.get("channel") != "playqueue" or not isinstance(data, dict):
            return [frame]
        op = data.get("op")
        if op == "clear":
            self.known, self.current, self.length = True, None, 0
        elif op == "add" and self.known:
            self.length += 1
        elif op == "play" and self.known and isinstance(data.get("index"), int):
            self.current = data["index"]
        elif op == "play" and self.known and self.current is None and self.length >= 2:
            frame["data"] = {**data, "index": 1}
            self.current = 1
        elif op != "pause":
            self.known = False
        return [frame]


class RemoveLeavesCurrent(Fault):
    """The mutant ``playqueue.QueueState._remove: if current is not None`` negated [QUEUE-5]:
    removing an item before the current one leaves ``current`` where it was, so it now
    points at the next track (the relay shows the state such a server would send: the next
    state after that remove has ``current`` one higher). ``current`` is followed from the
    commands relayed (``play`` with an index sets it), not from states that may come late.
    """

    name = "remove-leaves-current"
    description = "removing an item before the current one does not move current back"

    def __init__(self) -> None:
        self.current: int | None = None
        self.shift = False

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        data = frame.get("data")
        if frame.get("channel") != "playqueue" or not isinstance(data, dict):
            return [frame]
        op, index = data.get("op"), data.get("index")
        if op == "clear":
            self.current = None
        elif op == "play" and isinstance(index, int):
            self.current = index
        elif op == "remove" and isinstance(index, int) and self.current is not None:
            if index < self.current:
                self.shift = True
            self.current = None  # not followed further
        return [frame]

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        data = frame.get("data")
        state = isinstance(data, dict) and data.get("type") == "state"
        if frame.get("channel") == "playqueue" and state and self.shift:
            assert isinstance(data, dict)
            if isinstance(data.get("current"), int):
                self.shift = False
                frame["data"] = {**data, "current": data["current"] + 1}
        return [frame]


class SlowPathSafeIntegerOffByOne(Fault):
    """The mutant ``ijson._integer: > MAX_SAFE_INTEGER -> >=`` [TRANSPORT-19]: on the exact
    reader's path (a frame holding a zero), 2**53-1 is no longer read as itself. The relay
    shows it as a neighbouring integer reaching the subscribers."""

    name = "slow-path-safe-integer-off-by-one"
    description = "2**53-1 in a frame that also holds a zero is delivered as 2**53-2"

    def client_text(self, conn: Conn, text: str) -> str:
        if '"z":0.0' in text:
            return text.replace("9007199254740991", "9007199254740990")
        return text


class SlowPathDepthCountedTwice(Fault):
    """The mutant ``ijson._walk``: an object's members at ``depth + 2`` [TRANSPORT-19]: on the
    exact reader's path (a frame holding a zero), a frame nested to the legal depth of 64 is
    refused as too deep (1007). The relay nests the frame one level deeper, which the
    reference refuses the same way."""

    name = "slow-path-depth-counted-twice"
    description = "a frame nested 64 deep that also holds a zero is closed with 1007"

    def client_text(self, conn: Conn, text: str) -> str:
        if '"z":0.0' in text and "[[[[" in text:
            return text.replace("[", "[[", 1).replace("]", "]]", 1)
        return text


class UnexpectedMemberPointsAtFirst(Fault):
    """The mutant ``channels._describe``: ``key not in allowed and not any(patterns)`` ->
    ``or`` [CHANNEL-5]: with no pattern properties every member counts as unexpected, so the
    pointer of an ``invalid_payload`` for a member the schema does not allow names the first
    member of the data."""

    name = "unexpected-member-points-at-first"
    description = "invalid_payload for an unexpected member points at the data's first member"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "publish" and isinstance(frame.get("data"), dict):
            conn.state.setdefault("data", {})[frame.get("id")] = frame["data"]
        return [frame]

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        data = conn.state.get("data", {}).get(frame.get("id"))
        refused = frame.get("type") == "error" and frame.get("code") == "invalid_payload"
        if refused and isinstance(data, dict) and data and frame.get("pointer") != "/data":
            frame["pointer"] = f"/data/{next(iter(data))}"
        return [frame]


class SseSkipsTheSnapshot(Fault):
    """The mutant ``sse.py events_endpoint``: ``channels.subscribed(...)`` deleted [QUEUE-1]:
    a stream that lists ``playqueue`` never gets the queue's state after its welcome."""

    name = "sse-skips-the-snapshot"
    description = "GET /events?channels=playqueue sends no state event after the welcome"

    def stream_text(self, path: str, text: str) -> str:
        if path.endswith("/events") and "event: playqueue" in text and '"state"' in text:
            return ""
        return text


class ReceiveOnlyStillChats(Fault):
    """The mutant ``legacy.py LegacyLink._read``: ``continue`` after the ``forbidden``
    notice of ``/api/ws`` deleted [LEGACY-3]: the refused frame goes on to the chat channel,
    whose reply comes to the socket (the relay adds the ``done`` of such a reply)."""

    name = "receive-only-still-chats"
    description = "a chat frame on /api/ws is refused, and answered by the chat channel too"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        data = frame.get("data")
        forbidden = isinstance(data, dict) and data.get("code") == "forbidden"
        if frame.get("channel") == "system" and forbidden and conn.session is None:
            done = {"type": "done", "request": "legacy-1", "chunks": 0}
            return [frame, {"channel": "chat", "data": done}]
        return [frame]


class SessionIdOneLonger(Fault):
    """A server whose session id check has no upper bound [HANDSHAKE-4]: a hello resuming a
    session id of 129 characters is read as valid (and answered with a new session) instead
    of being closed with ``4400``. The relay cuts such an id to 128 characters, which the
    reference reads as a well-formed id it does not know. (The power run's mutant of
    ``frames.py SessionId``, ``max_length`` 128 → 129, is not this server: the reference's
    pattern bounds the length as well, so it is judged equivalent.)"""

    name = "session-id-one-longer"
    description = "a hello whose resume.session has 129 characters opens a session, no 4400"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        resume = frame.get("resume")
        if frame.get("type") == "hello" and isinstance(resume, dict):
            session = resume.get("session")
            if isinstance(session, str) and len(session) == 129:
                resume["session"] = session[:128]
        return [frame]


class SessionIdOneShorter(Fault):
    """The mutant ``frames.py SessionId``: ``max_length`` 128 → 127 [HANDSHAKE-2]: a hello
    resuming a session id of 128 characters, the longest valid one, is closed with ``4400``
    instead of being answered with a welcome (``resumed: false`` for an id the server never
    issued, RESUME-2). The relay makes such an id one character longer, which the reference
    closes with ``4400`` as that server would."""

    name = "session-id-one-shorter"
    description = "a hello whose resume.session has 128 characters is closed with 4400"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        resume = frame.get("resume")
        if frame.get("type") == "hello" and isinstance(resume, dict):
            session = resume.get("session")
            if isinstance(session, str) and len(session) == 128:
                resume["session"] = session + "A"
        return [frame]
