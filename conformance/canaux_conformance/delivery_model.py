"""The suite's model of delivery: what each session must receive, checked event by event
(spec operations.md, delivery.md, resume.md).

:class:`DeliveryModel` records the publishes on ``conformance.*`` channels, the subscriptions and
the resumes of every session the state machine drives, and checks each received event against
them (seq, channel, order, no duplicate, unchanged data); :meth:`DeliveryModel.missing` names
what has not arrived.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from canaux_conformance.json_values import json_equal, show_json
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.wire import Frame

__all__ = ["DeliveryModel", "MissingEvents", "Published", "SessionModel"]


@dataclass(frozen=True)
class Published:
    """One accepted publish: its channel, data, and the sessions that must receive it."""

    mark: str
    channel: str
    data: Any
    receivers: frozenset[str]


@dataclass
class SessionModel:
    """What the model knows about one server session (the client's view of it)."""

    id: str
    identity: str | None
    subscriptions: set[str] = field(default_factory=set)
    unsubscribed: set[str] = field(default_factory=set)
    """Channels this session left at some point (an event of one of them breaks OPS-6)."""
    pending: dict[str, deque[str]] = field(default_factory=dict)
    """Per channel, the marks still to receive, in channel order."""
    seen: set[str] = field(default_factory=set)
    last_seq: int = 0
    """Highest seq received contiguously [RESUME-1]."""
    replay_until: int = 0
    """welcome.seq of the last resume: events up to it are the replay [RESUME-3]."""
    resumed_channels: set[str] = field(default_factory=set)
    """Channels subscribed before the last resume (kept by RESUME-3)."""
    detached_at: float | None = None

    @property
    def outstanding(self) -> int:
        return sum(len(q) for q in self.pending.values())

    @property
    def assigned(self) -> int:
        """The seq the server must have assigned last: received plus still expected."""
        return self.last_seq + self.outstanding


class MissingEvents(CaseFailed):
    """Expected events did not arrive in time (a finding; see :meth:`DeliveryModel.missing`)."""


class DeliveryModel:
    """Expected deliveries of ``conformance.*`` publishes, per session (DELIVERY-2, CONF-1).

    Pure: no I/O, no clock. :meth:`on_event` raises :class:`CaseFailed` naming the requirement
    an event breaks.
    """

    def __init__(self) -> None:
        self.sessions: dict[str, SessionModel] = {}
        self.published: dict[str, Published] = {}
        self.channel_order: dict[str, list[str]] = {}

    def open(self, session_id: str, identity: str | None) -> SessionModel:
        if session_id in self.sessions:
            # [RESUME-2] a refused resume / fresh hello must get a NEW session id.
            raise CaseFailed(
                f"fresh session id {session_id[:6]}… was already issued to an earlier session",
                requirement="RESUME-2",
            )
        session = SessionModel(session_id, identity)
        self.sessions[session_id] = session
        return session

    def forget(self, session_id: str) -> None:
        """The client abandoned the session: it no longer receives anything the model tracks."""
        session = self.sessions[session_id]
        session.subscriptions.clear()
        session.pending.clear()

    def subscribe(self, session_id: str, channel: str) -> None:
        self.sessions[session_id].subscriptions.add(channel)

    def unsubscribe(self, session_id: str, channel: str) -> None:
        session = self.sessions[session_id]
        session.subscriptions.discard(channel)
        session.unsubscribed.add(channel)

    def publish(self, mark: str, channel: str, data: Any) -> Published:
        """Record an acked publish: every session subscribed now must receive it, once."""
        if mark in self.published:
            raise ValueError(f"mark {mark!r} published twice by the machine")
        receivers = frozenset(s.id for s in self.sessions.values() if channel in s.subscriptions)
        for session_id in receivers:
            self.sessions[session_id].pending.setdefault(channel, deque()).append(mark)
        entry = Published(mark, channel, data, receivers)
        self.published[mark] = entry
        self.channel_order.setdefault(channel, []).append(mark)
        return entry

    def resumed(self, session_id: str, welcome_seq: int) -> None:
        session = self.sessions[session_id]
        session.replay_until = welcome_seq
        session.resumed_channels = set(session.subscriptions)
        session.detached_at = None

    def on_event(self, session_id: str, frame: Frame) -> None:
        """Check one received ``event`` and account for it; raise :class:`CaseFailed` if wrong."""
        session = self.sessions[session_id]
        seq, channel, data = frame.get("seq"), frame.get("channel"), frame.get("data")
        mark = data.get("mark") if isinstance(data, dict) else None
        in_replay = isinstance(seq, int) and seq <= session.replay_until
        shown = f"event seq {seq} on {channel!r} (mark {mark!r})"
        if not isinstance(seq, int) or seq != session.last_seq + 1:
            if isinstance(seq, int) and seq <= session.last_seq:
                requirement = "DELIVERY-6" if mark in session.seen else "DELIVERY-1"
                problem = f"{shown} repeats or goes back: last seq received was {session.last_seq}"
            else:
                requirement = "DELIVERY-1"
                problem = f"{shown} after seq {session.last_seq}: a gap"
            if in_replay:
                requirement = "RESUME-3"
                problem += " (during the replay after resume)"
            raise CaseFailed(problem, requirement=requirement)
        entry = self.published.get(mark) if isinstance(mark, str) else None
        if entry is None:
            raise CaseFailed(f"{shown}: nobody published this mark", requirement="DELIVERY-2")
        if mark in session.seen:
            requirement = "RESUME-3" if in_replay else "DELIVERY-6"
            raise CaseFailed(f"{shown}: this event was already delivered", requirement=requirement)
        if entry.channel != channel:
            raise CaseFailed(
                f"{shown}: it was published on {entry.channel!r}, not on {channel!r}",
                requirement="DELIVERY-2",
            )
        if session_id not in entry.receivers:
            if channel in session.unsubscribed:
                raise CaseFailed(
                    f"{shown}: published after this session's unsubscribe was acked",
                    requirement="OPS-6",
                )
            raise CaseFailed(
                f"{shown}: this session was not subscribed to {channel!r} when it was published",
                requirement="DELIVERY-2",
            )
        queue = self.sessions[session_id].pending.get(channel) or deque()
        if not queue or queue[0] != mark:
            expected = queue[0] if queue else None
            requirement = "RESUME-3" if in_replay else "DELIVERY-3"
            raise CaseFailed(
                f"{shown}: the channel order (fixed by the acks, OPS-7) puts {expected!r} first",
                requirement=requirement,
            )
        if not json_equal(data, entry.data):
            raise CaseFailed(
                f"{shown}: data {show_json(data)} differs from the published "
                f"{show_json(entry.data)}",
                requirement="DELIVERY-5",
            )
        queue.popleft()
        session.seen.add(mark)
        session.last_seq = seq

    def missing(self, session_id: str) -> MissingEvents:
        """The finding for events still expected by ``session_id`` once the wait ran out."""
        session = self.sessions[session_id]
        waiting = {c: list(q) for c, q in session.pending.items() if q}
        lost_after_resume = [c for c in waiting if c in session.resumed_channels]
        requirement = "RESUME-3" if lost_after_resume else "OPS-6"
        why = (
            " (subscriptions must survive the resume)"
            if lost_after_resume
            else " (CONF-1: every subscriber)"
        )
        return MissingEvents(
            f"session {session_id[:6]}… never received {session.outstanding} event(s) of channels "
            f"it "
            f"is subscribed to: {waiting}; last seq received {session.last_seq}{why}",
            requirement=requirement,
        )
