"""The stream audit: every frame any connection of a case receives, checked against a model.

A case watches the connections it reasons about; the audit watches all of them, all the time,
so a server that leaks to a connection the case is not looking at is still caught (#9 item 4).
One :class:`StreamAudit` per connection reads every text frame the connection sends and
receives; the connections of one case share a :class:`SessionBook` (one per transcript, that is
per case), which knows, per session, what the suite's clients asked for: the ids they sent,
the channels they subscribed to and left, the chat requests they made.

What a received frame is checked for (each finding names the requirement it breaks):

- no object with two members of the same name [TRANSPORT-9]; the integers the spec defines are
  within 0 … 2^53−1 [TRANSPORT-10]; ``error.code`` is a code the registry allows in a frame
  [OPS-18]; only events carry ``seq`` [DELIVERY-7];
- one ``welcome`` per connection [HANDSHAKE-2], so one catalogue [CHANNEL-10], with
  ``heartbeat_ms`` within 1000 … 300000 [HEARTBEAT-5], and limits never lowered for a
  resumed session [LIMIT-6];
- ``seq`` contiguous from the welcome [DELIVERY-1], never repeated [DELIVERY-6], and after a
  resumed welcome the replay is every event from ``resume.seq + 1`` on, in order [RESUME-3];
- no event on a channel the session is not subscribed to [DELIVERY-2], none after the ``ack``
  of its unsubscribe [OPS-6]; chat reply events only for chat requests the session made
  [CHAT-2], and after their ``ack`` [CHAT-4];
- no ``ack``/``error`` for an id the session did not send, nor more replies than frames sent
  [OPS-13 when another session of the case sent that id, else OPS-1];
- no other session's id anywhere in a frame [SECURITY-1];
- ``playqueue`` states are consistent [QUEUE-4] and their versions strictly increase, by one
  while the session stays subscribed [QUEUE-8]; ``progress`` never reports more than its
  total [PROGRESS-2];
- a close from the server uses a registered code when it is a private one [TRANSPORT-14].

The audit is deliberately permissive wherever the spec leaves a choice: a channel counts as
subscribed from the moment its ``subscribe`` is sent until the ``ack`` of an ``unsubscribe``;
a session the suite did not see created (resumed from elsewhere) is not checked for routing;
replayed events are checked against every channel the session was ever subscribed to.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from canaux_conformance.outcomes import CaseFailed

__all__ = [
    "CLOSE_CODES",
    "FRAME_ERROR_CODES",
    "HTTP_ERROR_CODES",
    "AuditFailure",
    "EventStreamAudit",
    "Finding",
    "SessionBook",
    "SessionRecord",
    "StreamAudit",
    "book_for",
    "http_error_findings",
]

CLOSE_CODES = frozenset(
    {1000, 1001, 1002, 1003, 1006, 1007, 1009, 1011, 1013}
    | {4400, 4401, 4406, 4408, 4409, 4410, 4411, 4429, 4440, 4503}
)
"""The close code registry (spec/close-codes.md); tests/conformance checks it against the spec."""

FRAME_ERROR_CODES = frozenset(
    {
        "bad_frame",
        "unknown_channel",
        "forbidden",
        "invalid_payload",
        "already_subscribed",
        "not_subscribed",
        "too_many_subscriptions",
        "invalid_command",
        "version_conflict",
        "internal_error",
    }
)
"""Error codes whose "Where" column includes "frame" (spec/error-codes.md) [OPS-18]."""

MAX_INTEGER = 2**53 - 1


class AuditFailure(CaseFailed):
    """A finding of the stream audit, raised like any other failure of the server."""


_REPLIES = ("ack", "error")
_OPERATIONS = ("subscribe", "unsubscribe", "publish")
# Integer members the spec defines inside the data of standard channels [TRANSPORT-10].
_DATA_INTEGERS = {
    "chat": ("index", "chunks"),
    "playqueue": ("version", "current"),
    "progress": ("current", "total"),
}


@dataclass(frozen=True)
class Finding:
    """One thing a frame broke: what, and which requirement."""

    message: str
    requirement: str


@dataclass
class SessionRecord:
    """What the suite's clients did in one session, and what the server told them."""

    id: str
    known: bool = True
    """False for a session resumed without the suite having seen it start: routing unchecked."""
    subscribed: set[str] = field(default_factory=set)
    ever: set[str] = field(default_factory=set)
    """Every channel a subscribe was sent for: replayed events may be of any of them."""
    operations: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Frame id → (type, channel) of the last subscribe/unsubscribe/chat publish sent with it."""
    sent: Counter[str] = field(default_factory=Counter)
    """Frame id → how many frames were sent with it (any type, valid or not)."""
    replies: Counter[str] = field(default_factory=Counter)
    chat_requests: set[str] = field(default_factory=set)
    acked: set[str] = field(default_factory=set)
    limits: dict[str, int] = field(default_factory=dict)
    queue_version: int | None = None
    queue_continuous: bool = False
    max_seq: int = 0
    """The highest seq any connection of the session received: lower ones are re-deliveries."""

    def pending(self, channel: str) -> bool:
        """A subscribe or unsubscribe for ``channel`` was sent and not answered yet."""
        return any(
            kind != "publish" and ch == channel and self.replies[i] < self.sent[i]
            for i, (kind, ch) in self.operations.items()
        )


@dataclass
class SessionBook:
    """Every session the connections of one case saw, by id."""

    sessions: dict[str, SessionRecord] = field(default_factory=dict)

    def record(self, session: str, *, known: bool) -> SessionRecord:
        found = self.sessions.get(session)
        if found is None:
            found = self.sessions[session] = SessionRecord(session, known=known)
        return found

    def sent_by_another(self, session: str, frame_id: str) -> bool:
        return any(s != session and r.sent[frame_id] for s, r in self.sessions.items())


_BOOK_ATTRIBUTE = "_canaux_stream_audit_book"


def book_for(owner: object) -> SessionBook:
    """The book shared by every connection recording into ``owner`` (a case's transcript)."""
    book = getattr(owner, _BOOK_ATTRIBUTE, None)
    if not isinstance(book, SessionBook):
        book = SessionBook()
        setattr(owner, _BOOK_ATTRIBUTE, book)
    return book


class _DuplicateMember(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            raise _DuplicateMember(name)
        seen.add(name)
    return dict(pairs)


def _top_level_ids(text: str) -> list[str]:
    """Every string ``id`` member of a sent frame's top level, duplicates included."""
    ids: list[str] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        value = dict(pairs)
        value["\0ids"] = [v for k, v in pairs if k == "id" and isinstance(v, str)]
        return value

    try:
        frame = json.loads(text, object_pairs_hook=hook)
    except ValueError:
        return ids
    if isinstance(frame, dict):
        ids = list(frame.get("\0ids", []))
    return ids


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


class StreamAudit:
    """The model of one connection: feed it every frame sent and received (see module doc)."""

    def __init__(self, book: SessionBook | None = None, *, legacy: bool = False) -> None:
        self.book = book if book is not None else SessionBook()
        self.legacy = legacy
        self.session: SessionRecord | None = None
        self.welcomes = 0
        self.catalogue: Any = None
        self.asked_resume: tuple[str, int] | None = None
        self.unbound: list[str] = []
        """Texts sent before the welcome: they belong to the session it names."""
        self.next_seq: int | None = None
        self.replay_until = 0
        self.sent_here: set[str] = set()
        self.replied_here: set[str] = set()
        self.closed_by_client: int | None = None

    # ----------------------------------------------------------------- sending

    def sent(self, text: str) -> None:
        """A text frame this connection sent (raw, as the server will read it)."""
        if self.legacy:
            return
        try:
            frame = json.loads(text)
        except ValueError:
            return
        if not isinstance(frame, dict):
            return
        if frame.get("type") == "hello":
            resume = frame.get("resume")
            if isinstance(resume, dict) and isinstance(resume.get("session"), str):
                seq = resume.get("seq")
                self.asked_resume = (resume["session"], seq if _is_int(seq) else 0)
            return
        if self.session is None:
            self.unbound.append(text)
        else:
            self._record_sent(self.session, text, frame)

    def client_closed(self, code: int) -> None:
        self.closed_by_client = code

    def _record_sent(self, session: SessionRecord, text: str, frame: Mapping[str, Any]) -> None:
        ids = _top_level_ids(text)
        kind = frame.get("type")
        channel = frame.get("channel")
        for frame_id in ids:
            session.sent[frame_id] += 1
            self.sent_here.add(frame_id)
        own_id = frame.get("id")
        if not isinstance(own_id, str) or kind not in _OPERATIONS or not isinstance(channel, str):
            return
        frame_id = own_id
        if kind == "publish" and channel != "chat":
            return  # publishes are many; only their reply count matters
        session.operations[frame_id] = (str(kind), channel)
        if kind == "subscribe":
            session.ever.add(channel)
        if kind == "publish":
            session.chat_requests.add(frame_id)

    # ----------------------------------------------------------------- receiving

    def received(self, text: str, frame: Any) -> list[Finding]:
        """Check the form of one decoded text frame the server sent, before its schema is."""
        try:
            json.loads(text, object_pairs_hook=_no_duplicates)
        except _DuplicateMember as duplicate:
            return [Finding(f"an object has two members named {duplicate}", "TRANSPORT-9")]
        except ValueError:
            return []
        if self.legacy or not isinstance(frame, dict):
            return []
        findings = self._integers(frame)
        kind = frame.get("type")
        if kind != "event" and "seq" in frame and kind != "welcome":
            findings.append(Finding(f"a {kind!r} frame carries seq; only events do", "DELIVERY-7"))
        code = frame.get("code")
        if kind == "error" and isinstance(code, str) and code not in FRAME_ERROR_CODES:
            findings.append(Finding(f"error code {code!r} is not a frame error code", "OPS-18"))
        heartbeat = frame.get("heartbeat_ms")
        if kind == "welcome" and _is_int(heartbeat) and not 1000 <= heartbeat <= 300000:
            findings.append(
                Finding(f"heartbeat_ms {heartbeat} is outside 1000 … 300000", "HEARTBEAT-5")
            )
        return findings

    def delivered(self, text: str, frame: Mapping[str, Any]) -> list[Finding]:
        """Check a well-formed frame against the model of the session (after its schema)."""
        if self.legacy:
            return []
        findings: list[Finding] = []
        kind = frame.get("type")
        if kind == "welcome":
            findings += self._welcome(frame)
        elif kind in _REPLIES:
            findings += self._reply(frame)
        elif kind == "event":
            findings += self._event(frame)
        findings += self._foreign_sessions(text)
        return findings

    def closed(self, code: int | None) -> list[Finding]:
        """The server closed the connection with ``code`` (None: no close frame)."""
        if code is None or self.closed_by_client is not None:
            return []
        if 4000 <= code <= 4999 and code not in CLOSE_CODES:
            return [
                Finding(f"closed with {code}, a private code not in the registry", "TRANSPORT-14")
            ]
        return []

    def _integers(self, frame: Mapping[str, Any]) -> list[Finding]:
        values: list[tuple[str, Any]] = [
            (name, frame.get(name)) for name in ("seq", "version", "heartbeat_ms")
        ]
        limits = frame.get("limits")
        if isinstance(limits, Mapping):
            values += [(f"limits.{k}", v) for k, v in limits.items()]
        data = frame.get("data")
        names = _DATA_INTEGERS.get(str(frame.get("channel")), ())
        if frame.get("type") == "event" and isinstance(data, Mapping):
            values += [(f"data.{name}", data.get(name)) for name in names]
        return [
            Finding(f"{name} is {value}, outside 0 … 2^53−1", "TRANSPORT-10")
            for name, value in values
            if _is_int(value) and not 0 <= value <= MAX_INTEGER
        ]

    def _welcome(self, frame: Mapping[str, Any]) -> list[Finding]:
        self.welcomes += 1
        if self.welcomes > 1:
            if frame.get("channels") != self.catalogue:
                return [Finding("a second welcome, with another catalogue", "CHANNEL-10")]
            return [Finding("a second welcome on one connection", "HANDSHAKE-2")]
        self.catalogue = frame.get("channels")
        findings: list[Finding] = []
        session_id = frame.get("session")
        if not isinstance(session_id, str):
            return findings
        resumed = frame.get("resumed") is True
        asked = self.asked_resume
        known = not resumed or session_id in self.book.sessions
        session = self.book.record(session_id, known=known)
        limits = frame.get("limits")
        if isinstance(limits, Mapping):
            for name, value in limits.items():
                before = session.limits.get(name)
                if resumed and _is_int(value) and before is not None and value < before:
                    findings.append(
                        Finding(
                            f"limits.{name} lowered from {before} to {value} on resume", "LIMIT-6"
                        )
                    )
                if _is_int(value):
                    session.limits[name] = value
        self.session = session
        seq = frame.get("seq")
        welcome_seq = seq if _is_int(seq) else 0
        if resumed and asked is not None and asked[0] == session_id:
            self.next_seq = asked[1] + 1
            self.replay_until = welcome_seq
        else:
            self.next_seq = welcome_seq + 1
            self.replay_until = 0
        for text in self.unbound:
            try:
                sent = json.loads(text)
            except ValueError:
                continue
            if isinstance(sent, dict):
                self._record_sent(session, text, sent)
        self.unbound.clear()
        return findings

    def _reply(self, frame: Mapping[str, Any]) -> list[Finding]:
        findings: list[Finding] = []
        code = frame.get("code")
        frame_id = frame.get("id")
        session = self.session
        if not isinstance(frame_id, str) or session is None:
            return findings
        session.replies[frame_id] += 1
        self.replied_here.add(frame_id)
        if session.replies[frame_id] > session.sent[frame_id]:
            elsewhere = self.book.sent_by_another(session.id, frame_id)
            what = "no frame" if not session.sent[frame_id] else "fewer frames"
            findings.append(
                Finding(
                    f"{frame.get('type')} for id {frame_id!r}: this session sent {what} with that "
                    f"id ({session.sent[frame_id]} sent, {session.replies[frame_id]} replies)"
                    + ("; another session of the case did send it" if elsewhere else ""),
                    "OPS-13" if elsewhere else "OPS-1",
                )
            )
            return findings
        operation = session.operations.get(frame_id)
        if operation is None or session.replies[frame_id] > 1:
            return findings  # a repeated reply (OPS-9) changes nothing
        kind, channel = operation
        if frame.get("type") == "ack":
            session.acked.add(frame_id)
            if kind == "subscribe":
                session.subscribed.add(channel)
                session.ever.add(channel)
            elif kind == "unsubscribe":
                session.subscribed.discard(channel)
                if channel == "playqueue":
                    session.queue_continuous = False
        elif kind == "subscribe" and code == "already_subscribed":
            session.subscribed.add(channel)
        elif kind == "unsubscribe" and code == "not_subscribed":
            session.subscribed.discard(channel)
        return findings

    def _event(self, frame: Mapping[str, Any]) -> list[Finding]:
        session = self.session
        seq = frame.get("seq")
        channel = frame.get("channel")
        if session is None or not _is_int(seq) or not isinstance(channel, str):
            return []
        replayed = seq <= self.replay_until
        findings = self._routing(session, channel, frame.get("data"), replayed=replayed)
        if findings:
            # A leak. Numbered as this session's next event, it took that seq; copied verbatim
            # from another session, its seq is that session's and this one's count goes on.
            if seq == self.next_seq:
                self.next_seq += 1
            return findings
        expected = self.next_seq
        if expected is not None and seq != expected:
            if seq < expected:
                findings.append(Finding(f"seq {seq} again (expected {expected})", "DELIVERY-6"))
            elif expected <= self.replay_until:
                findings.append(
                    Finding(
                        f"replay skips from seq {expected} to {seq} (the replay must be every "
                        f"event up to welcome.seq {self.replay_until})",
                        "RESUME-3",
                    )
                )
            else:
                findings.append(Finding(f"seq jumps from {expected - 1} to {seq}", "DELIVERY-1"))
        self.next_seq = max(expected or 0, seq + 1)
        data = frame.get("data")
        if channel == "chat" and isinstance(data, Mapping) and not replayed:
            request = data.get("request")
            if request in self.sent_here and request not in self.replied_here:
                findings.append(Finding(f"a chat reply for {request!r} before its ack", "CHAT-4"))
        if seq > session.max_seq:
            session.max_seq = seq
            findings += self._data(session, channel, frame.get("data"))
        return findings

    def _routing(
        self, session: SessionRecord, channel: str, data: Any, *, replayed: bool
    ) -> list[Finding]:
        if channel == "chat" and isinstance(data, Mapping) and isinstance(data.get("request"), str):
            request = data["request"]
            if session.known and request not in session.chat_requests:
                return [
                    Finding(
                        f"a chat reply for request {request!r}, which this session never made",
                        "CHAT-2",
                    )
                ]
            return []
        if not session.known:
            return []
        if replayed:
            if channel in session.ever:
                return []
            return [Finding(f"replayed an event on {channel!r}, never subscribed", "DELIVERY-2")]
        if channel in session.subscribed or session.pending(channel):
            return []
        if channel in session.ever:
            return [Finding(f"an event on {channel!r} after the ack of its unsubscribe", "OPS-6")]
        return [
            Finding(
                f"an event on {channel!r}, which this session never subscribed to", "DELIVERY-2"
            )
        ]

    def _data(self, session: SessionRecord, channel: str, data: Any) -> list[Finding]:
        if not isinstance(data, Mapping):
            return []
        if channel == "playqueue" and data.get("type") == "state":
            return self._queue_state(session, data)
        if channel == "progress":
            current, total = data.get("current"), data.get("total")
            if _is_int(current) and _is_int(total) and current > total:
                return [Finding(f"progress current {current} exceeds total {total}", "PROGRESS-2")]
        return []

    def _queue_state(self, session: SessionRecord, data: Mapping[str, Any]) -> list[Finding]:
        findings: list[Finding] = []
        items, current, playing = data.get("items"), data.get("current"), data.get("playing")
        if isinstance(items, list):
            if current is not None and not (_is_int(current) and 0 <= current < len(items)):
                findings.append(
                    Finding(f"current {current} is not an index of {len(items)} items", "QUEUE-4")
                )
            if not items and current is not None:
                findings.append(Finding("current is not null for an empty queue", "QUEUE-4"))
        if current is None and playing is True:
            findings.append(Finding("playing is true with no current item", "QUEUE-4"))
        version = data.get("version")
        if _is_int(version):
            before = session.queue_version
            if before is not None and (
                version < before or (version == before and session.queue_continuous)
            ):
                findings.append(Finding(f"state version {version} after {before}", "QUEUE-8"))
            elif before is not None and session.queue_continuous and version != before + 1:
                findings.append(
                    Finding(f"state version jumps from {before} to {version}", "QUEUE-8")
                )
            session.queue_version = version
            session.queue_continuous = True
        return findings

    def _foreign_sessions(self, text: str) -> list[Finding]:
        own = self.session.id if self.session else None
        return [
            Finding("a frame carries the id of another session", "SECURITY-1")
            for other in self.book.sessions
            if other != own and len(other) >= 22 and other in text
        ][:1]


def findings_text(findings: Iterable[Finding]) -> list[str]:
    """Findings as ``[REQ] message`` lines (for notes and tests)."""
    return [f"[{f.requirement}] {f.message}" for f in findings]


# ----------------------------------------------------------------- SSE streams and HTTP answers

HTTP_ERROR_CODES = frozenset(
    {
        "bad_frame",
        "unknown_channel",
        "forbidden",
        "invalid_payload",
        "too_many_subscriptions",
        "invalid_command",
        "internal_error",
        "unauthorized",
    }
)
"""Error codes whose "Where" column includes "HTTP" (spec/error-codes.md) [HTTP-9, SSE-15]."""


def _position(value: str | None) -> tuple[str, int] | None:
    session, _, seq = (value or "").rpartition(":")
    return (session, int(seq)) if session and seq.isdigit() else None


class EventStreamAudit:
    """The model of one SSE stream (``GET /events``, sse.md): feed it every message.

    Checked (each finding names the requirement it breaks): the first message is the
    ``welcome``, without ``id:`` [SSE-1]; every later one is an ``event`` whose ``event:`` is
    its channel and whose ``id:`` is ``<session>:<seq>`` [SSE-1], on a channel the request
    asked for [DELIVERY-2], with ``seq`` contiguous from 1 for a new session, or from the
    resume position for a resumed one [DELIVERY-1], never repeated [DELIVERY-6]. Schema
    validity is the stream's own check (it holds the validator).
    """

    def __init__(self, channels: Iterable[str], positions: Iterable[str | None] = ()) -> None:
        self.channels = frozenset(channels)
        self.positions = [p for p in (_position(v) for v in positions) if p is not None]
        self.session: str | None = None
        self.next_seq: int | None = None
        self.messages = 0

    def message(self, event: str | None, message_id: str | None, frame: Any) -> list[Finding]:
        """One dispatched message, its ``data`` decoded (a non-object is a finding)."""
        self.messages += 1
        if not isinstance(frame, dict):
            return [Finding(f"SSE data is not a JSON object: {frame!r:.80}", "SSE-1")]
        if self.messages == 1:
            return self._welcome(event, message_id, frame)
        if frame.get("type") != "event":
            return [Finding(f"a {frame.get('type')!r} message after the welcome", "SSE-1")]
        channel, seq = frame.get("channel"), frame.get("seq")
        findings: list[Finding] = []
        if event != channel:
            findings.append(Finding(f"event: {event!r} for a frame of {channel!r}", "SSE-1"))
        if _is_int(seq) and message_id != f"{self.session}:{seq}":
            findings.append(Finding(f"id: {message_id!r} for seq {seq}", "SSE-1"))
        if channel not in self.channels:
            findings.append(
                Finding(f"an event of {channel!r}, which the stream did not ask for", "DELIVERY-2")
            )
        if _is_int(seq) and self.next_seq is not None and seq != self.next_seq:
            findings.append(
                Finding(f"seq {seq} repeated (expected {self.next_seq})", "DELIVERY-6")
                if seq < self.next_seq
                else Finding(f"seq {seq}, expected {self.next_seq}: a gap", "DELIVERY-1")
            )
        if _is_int(seq):
            self.next_seq = max(seq + 1, self.next_seq or 0)
        return findings

    def _welcome(self, event: str | None, message_id: str | None, frame: Any) -> list[Finding]:
        if event != "welcome" or frame.get("type") != "welcome":
            return [Finding(f"the first message is {event!r}, not the welcome", "SSE-1")]
        findings = []
        if message_id:
            findings.append(Finding(f"the welcome carries id: {message_id!r}", "SSE-1"))
        self.session = str(frame.get("session"))
        if frame.get("resumed") is not True:
            self.next_seq = 1
            return findings
        # Resumed from the position the request gave; with two different ones (header and
        # query, SSE-5) the first event is not judged.
        mine = {seq for session, seq in self.positions if session == self.session}
        self.next_seq = mine.pop() + 1 if len(mine) == 1 else None
        return findings


def http_error_findings(
    status: int, content_type: str, body: str, *, requirement: str, pointer: bool = False
) -> list[Finding]:
    """What an HTTP error answer (4xx/5xx) of a Canaux endpoint breaks [HTTP-9, SSE-15];
    ``pointer``: an ``invalid_payload`` answer must carry one (POST /publish, HTTP-9)."""
    if status < 400:
        return []
    shown = body[:120]
    if not content_type.startswith("application/json"):
        return [Finding(f"a {status} answer of type {content_type!r}: {shown!r}", requirement)]
    try:
        value = json.loads(body)
    except ValueError:
        return [Finding(f"a {status} answer whose body is not JSON: {shown!r}", requirement)]
    if not isinstance(value, dict):
        return [Finding(f"a {status} answer whose body is not an object: {shown!r}", requirement)]
    code, message = value.get("code"), value.get("message")
    if code not in HTTP_ERROR_CODES:
        return [Finding(f"a {status} answer with code {code!r}, not an HTTP code", requirement)]
    if not isinstance(message, str):
        return [Finding(f"a {status} {code} answer without a message: {shown!r}", requirement)]
    if pointer and code == "invalid_payload" and not isinstance(value.get("pointer"), str):
        return [Finding(f"a {status} invalid_payload answer without a pointer", requirement)]
    return []
