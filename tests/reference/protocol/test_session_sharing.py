"""Sessions handed from one process to another (spec "Clusters"): ServerSessions.export and
ServerSessions.adopt, SessionState.snapshot and restore, driven with a fake clock."""

from __future__ import annotations

import json

import pytest

from canaux.protocol import frames
from canaux.protocol.channels import Catalogue
from canaux.protocol.limits import Limits
from canaux.protocol.operations import Effect
from canaux.protocol.sessions import ServerSessions

CATALOGUE = Catalogue.standard(conformance=True)
LIMITS = Limits(resume_window_ms=10_000, resume_buffer=4)


class Carrier:
    def __init__(self) -> None:
        self.events: list[int] = []

    def send_event(self, channel: str, seq: int, text: str) -> None:
        self.events.append(seq)

    def replace(self) -> None:
        raise AssertionError("no takeover here")


def subscribed_session(sessions: ServerSessions[Carrier], carrier: Carrier) -> str:
    session = sessions.open("tok", None, 0.0).session
    sessions.attach(session, carrier, 0.0)
    frame = frames.Subscribe(type="subscribe", id="s1", channel="conformance.x")
    outcome = sessions.decide_subscribe(session, CATALOGUE, frame)
    assert outcome.effect is Effect.SUBSCRIBE
    sessions.commit(session, outcome)
    for n in range(6):
        session.deliver("conformance.x", json.dumps({"n": n}))
    return session.id


class TestExport:
    def test_only_a_detached_session_leaves_and_it_is_discarded_here(self) -> None:
        sessions: ServerSessions[Carrier] = ServerSessions(LIMITS)
        carrier = Carrier()
        session_id = subscribed_session(sessions, carrier)
        session = sessions.get(session_id)
        assert session is not None
        assert sessions.export(session) is None  # attached: stays
        sessions.detach(session, carrier, 1.0)
        snapshot = sessions.export(session)
        assert snapshot is not None
        assert sessions.get(session_id) is None
        assert sessions.take_discarded() == [session]
        assert json.loads(json.dumps(snapshot)) == snapshot  # JSON values only

    def test_a_session_with_a_request_under_way_stays(self) -> None:
        sessions: ServerSessions[Carrier] = ServerSessions(LIMITS)
        carrier = Carrier()
        session = sessions.get(subscribed_session(sessions, carrier))
        assert session is not None
        data = {"mark": "m1", "body": {}}
        frame = frames.Publish(type="publish", id="p1", channel="conformance.x", data=data)
        decided = sessions.decide_publish(session, CATALOGUE, frame)  # not committed yet
        assert decided.effect is Effect.PUBLISH, decided
        sessions.detach(session, carrier, 1.0)
        assert sessions.export(session) is None
        assert sessions.get(session.id) is session

    @pytest.mark.parametrize("routed", [False, True])
    def test_a_running_chat_reply_moves_with_the_session_only_if_its_events_are_routed(
        self, routed: bool
    ) -> None:
        """A chat reply streaming (running work, no request under way) keeps its session here
        unless the session's own events go through a shared stream: then the session leaves
        and the work goes on, not cancelled, its events taking that stream (spec "Clusters")."""
        sessions: ServerSessions[Carrier] = ServerSessions(LIMITS)
        carrier = Carrier()
        session = sessions.get(subscribed_session(sessions, carrier))
        assert session is not None
        reply = Work()
        session.track(reply)
        sent: list[tuple[str, str, str]] = []
        if routed:
            sessions.route_emits(session, lambda *event: sent.append(event))
        sessions.detach(session, carrier, 1.0)
        snapshot = sessions.export(session)
        assert (snapshot is not None) is routed
        assert not reply.cancelled
        if routed:
            session.emit("chat", {"type": "done"})  # after it left: through the stream
            assert sent == [(session.id, "chat", '{"type":"done"}')]


class Work:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self, msg: object | None = None) -> bool:
        self.cancelled = True
        return True

    def done(self) -> bool:
        return False


class TestAdopt:
    def test_an_adopted_session_resumes_with_what_it_had_and_what_it_was_given(self) -> None:
        """[RESUME-2, RESUME-3, RESUME-11] the buffer (last resume_buffer events), the seq, the
        subscriptions and the remembered replies [OPS-9] travel; events given while away follow."""
        here: ServerSessions[Carrier] = ServerSessions(LIMITS)
        carrier = Carrier()
        session = here.get(subscribed_session(here, carrier))
        assert session is not None
        here.detach(session, carrier, 1.0)
        snapshot = here.export(session)
        assert snapshot is not None

        there: ServerSessions[Carrier] = ServerSessions(LIMITS)
        adopted = there.adopt(snapshot, 100.0, detached_for=2.0)
        assert (adopted.id, adopted.seq, adopted.subscriptions) == (
            session.id,
            6,
            ("conformance.x",),
        )
        assert adopted.detached_at == 98.0
        adopted.deliver("conformance.x", '{"n":6}')
        assert there.resume("other", adopted.id, 5, 100.0) is None  # [SECURITY-2]
        assert there.resume("tok", adopted.id, 2, 100.0) is None  # seq 3 left the buffer
        opened = there.resume("tok", adopted.id, 4, 100.0)
        assert opened is not None
        assert [json.loads(text)["seq"] for text in opened.replay] == [5, 6, 7]
        assert json.loads(opened.replay[-1])["data"] == {"n": 6}
        again = frames.Subscribe(type="subscribe", id="s1", channel="conformance.x")
        assert there.decide_subscribe(adopted, CATALOGUE, again).replayed  # [OPS-9]

    def test_an_sse_session_travels_as_sse(self) -> None:
        """[SSE-10] an SSE session exported here resumes there over SSE only, with the same
        channel set [SSE-9]."""
        here: ServerSessions[Carrier] = ServerSessions(LIMITS)
        carrier = Carrier()
        session = here.open(None, None, 0.0, transport="sse").session
        here.attach(session, carrier, 0.0)
        here.subscribe_stream(session, CATALOGUE, ["conformance.x"])
        session.deliver("conformance.x", '{"n":1}')
        here.detach(session, carrier, 1.0)
        snapshot = here.export(session)
        assert snapshot is not None
        assert snapshot["transport"] == "sse"
        there: ServerSessions[Carrier] = ServerSessions(LIMITS)
        adopted = there.adopt(snapshot, 2.0, detached_for=1.0)
        assert adopted.transport == "sse"
        assert there.resume(None, adopted.id, 0, 2.0) is None  # over WebSocket [SSE-10]
        other = frozenset({"conformance.y"})
        assert there.resume(None, adopted.id, 0, 2.0, transport="sse", channels=other) is None
        channels = frozenset({"conformance.x"})
        opened = there.resume(None, adopted.id, 0, 2.0, transport="sse", channels=channels)
        assert opened is not None
        assert [json.loads(text)["seq"] for text in opened.replay] == [1]

    def test_the_window_keeps_running_while_the_session_travels(self) -> None:
        """[RESUME-7] detached 9 s of a 10 s window before adoption: 1 s left."""
        here: ServerSessions[Carrier] = ServerSessions(LIMITS)
        carrier = Carrier()
        session = here.get(subscribed_session(here, carrier))
        assert session is not None
        here.detach(session, carrier, 1.0)
        snapshot = here.export(session)
        assert snapshot is not None
        there: ServerSessions[Carrier] = ServerSessions(LIMITS)
        adopted = there.adopt(snapshot, 50.0, detached_for=9.0)
        assert there.resume("tok", adopted.id, 6, 50.5) is not None
        assert there.resume("tok", adopted.id, 6, 51.0) is None


class TestHandOver:
    def test_an_attached_session_leaves_its_connection_and_this_process(self) -> None:
        """[RESUME-4] across processes: the connection to close with 4411, and the snapshot."""
        sessions: ServerSessions[Carrier] = ServerSessions(LIMITS)
        carrier = Carrier()
        session = sessions.get(subscribed_session(sessions, carrier))
        assert session is not None
        handed = sessions.hand_over(session, 2.0)
        assert handed is not None
        assert handed[0] is carrier
        assert handed[1]["seq"] == 6
        assert sessions.get(session.id) is None
        sessions.detach(session, carrier, 3.0)  # the closed connection's end changes nothing
        assert sessions.export(session) is None
        assert sessions.hand_over(session, 3.0) is None

    def test_a_detached_or_busy_session_is_not_handed_over(self) -> None:
        sessions: ServerSessions[Carrier] = ServerSessions(LIMITS)
        carrier = Carrier()
        session = sessions.get(subscribed_session(sessions, carrier))
        assert session is not None
        data = {"mark": "m1", "body": {}}
        frame = frames.Publish(type="publish", id="p1", channel="conformance.x", data=data)
        assert sessions.decide_publish(session, CATALOGUE, frame).effect is Effect.PUBLISH
        assert sessions.hand_over(session, 2.0) is None
        assert session.carrier is carrier
        sessions.detach(session, carrier, 3.0)
        assert sessions.hand_over(session, 3.0) is None
