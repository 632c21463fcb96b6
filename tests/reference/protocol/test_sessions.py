"""Tests of canaux.protocol.sessions: the one owner of the session lifecycle, driven with
events and a fake clock, no sockets (spec handshake.md, operations.md, resume.md, security.md)."""

from __future__ import annotations

from canaux.protocol import frames
from canaux.protocol.channels import Catalogue
from canaux.protocol.codes import ErrorCode
from canaux.protocol.limits import Limits
from canaux.protocol.operations import Effect
from canaux.protocol.sessions import ServerSessions

CATALOGUE = Catalogue.standard(conformance=True)


class Carrier:
    def __init__(self) -> None:
        self.events: list[int] = []
        self.replaced = False

    def send_event(self, channel: str, seq: int, text: str) -> None:
        self.events.append(seq)

    def replace(self) -> None:
        self.replaced = True


def resume(session_id: str, seq: int = 0) -> frames.ResumeRequest:
    return frames.ResumeRequest(session=session_id, seq=seq)


class TestLifecycle:
    def test_a_hello_without_resume_opens_a_fresh_session(self) -> None:
        """[RESUME-2] [HANDSHAKE-15]"""
        sessions: ServerSessions[Carrier] = ServerSessions(Limits())
        opened = sessions.open("tok", None, 0.0)
        assert (opened.resumed, opened.replay, opened.session.seq) == (False, (), 0)
        assert sessions.get(opened.session.id) is opened.session

    def test_a_detached_session_resumes_with_its_replay(self) -> None:
        """[RESUME-2] [RESUME-3]"""
        sessions: ServerSessions[Carrier] = ServerSessions(Limits(resume_window_ms=1000))
        session = sessions.open("tok", None, 0.0).session
        carrier = Carrier()
        sessions.attach(session, carrier, 0.0)
        session.emit("conformance.x", {"n": 1})
        session.emit("conformance.x", {"n": 2})
        sessions.detach(session, carrier, 1.0)
        again = sessions.open("tok", resume(session.id, 1), 1.5)
        assert again.resumed
        assert again.session is session
        assert len(again.replay) == 1
        assert '"seq":2' in again.replay[0]

    def test_a_takeover_returns_the_carrier_to_replace_and_keeps_the_session_attached(
        self,
    ) -> None:
        """[RESUME-4] [RESUME-10] the end of the replaced connection changes nothing."""
        sessions: ServerSessions[Carrier] = ServerSessions(Limits(resume_window_ms=1000))
        session = sessions.open("tok", None, 0.0).session
        old, new = Carrier(), Carrier()
        assert sessions.attach(session, old, 0.0) is None
        opened = sessions.open("tok", resume(session.id), 0.5)
        assert opened.resumed
        assert sessions.attach(session, new, 0.5) is old
        sessions.detach(session, old, 0.6)
        assert (session.carrier, session.detached_at) == (new, None)

    def test_a_refused_resume_after_a_takeover_leaves_the_live_session_alone(self) -> None:
        """[RESUME-12] the bug of the suite issue: a refused resume past the window (another
        identity) once discarded the live session, which then got no events."""
        sessions: ServerSessions[Carrier] = ServerSessions(Limits(resume_window_ms=1000))
        session = sessions.open("alice", None, 0.0).session
        a, b = Carrier(), Carrier()
        sessions.attach(session, a, 0.0)
        sessions.open("alice", resume(session.id), 0.1)
        sessions.attach(session, b, 0.1)
        sessions.detach(session, a, 0.2)
        assert sessions.expire(2.7) == []
        refused = sessions.open("mallory", resume(session.id), 2.7)
        assert not refused.resumed
        assert refused.session is not session
        assert sessions.get(session.id) is session
        assert sessions.take_discarded() == []
        session.emit("conformance.x", {"n": 1})
        assert b.events == [1]

    def test_a_refused_resume_looks_like_a_fresh_hello(self) -> None:
        """[RESUME-13] [SECURITY-2] another identity, a guessed id, a seq beyond the last."""
        sessions: ServerSessions[Carrier] = ServerSessions(Limits())
        session = sessions.open("tok", None, 0.0).session
        for identity, request in [
            ("other", resume(session.id)),
            (None, resume(session.id)),
            ("tok", resume(session.id + "x")),
            ("tok", resume(session.id, 5)),
        ]:
            opened = sessions.open(identity, request, 1.0)
            assert (opened.resumed, opened.session.seq, opened.replay) == (False, 0, ())
            assert opened.session.id != session.id

    def test_a_session_is_resumed_over_its_own_transport_only(self) -> None:
        """[SSE-10]"""
        sessions: ServerSessions[Carrier] = ServerSessions(Limits())
        session = sessions.open(None, None, 0.0, transport="sse").session
        assert not sessions.open(None, resume(session.id), 0.0, transport="ws").resumed

    def test_expiry_discards_detached_sessions_once(self) -> None:
        """[RESUME-7]"""
        sessions: ServerSessions[Carrier] = ServerSessions(Limits(resume_window_ms=1000))
        session = sessions.open(None, None, 0.0).session
        carrier = Carrier()
        sessions.attach(session, carrier, 0.0)
        sessions.detach(session, carrier, 1.0)
        assert sessions.expire(1.5) == []
        assert sessions.expire(2.0) == [session]
        assert sessions.take_discarded() == [session]
        assert sessions.take_discarded() == []
        assert sessions.get(session.id) is None
        assert not sessions.open(None, resume(session.id), 2.0).resumed

    def test_a_window_of_zero_discards_at_detach(self) -> None:
        sessions: ServerSessions[Carrier] = ServerSessions(Limits(resume_window_ms=0))
        session = sessions.open(None, None, 0.0).session
        carrier = Carrier()
        sessions.attach(session, carrier, 0.0)
        sessions.detach(session, carrier, 0.0)
        assert sessions.take_discarded() == [session]

    def test_discarding_cancels_the_running_work(self) -> None:
        class Work:
            cancelled = False

            def cancel(self, msg: object = None) -> bool:
                self.cancelled = True
                return True

            def done(self) -> bool:
                return False

        sessions: ServerSessions[Carrier] = ServerSessions(Limits())
        session = sessions.open(None, None, 0.0).session
        work = Work()
        session.track(work)
        sessions.discard(session)
        assert work.cancelled


class TestDetachedBounds:
    """[LIMIT-12] [LIMIT-13] detached sessions are bounded per identity and in all; the one
    detached longest ago goes, and its resume gets resumed: false [RESUME-2]."""

    @staticmethod
    def detached(sessions: ServerSessions[Carrier], identity: str | None, now: float) -> str:
        session = sessions.open(identity, None, now).session
        carrier = Carrier()
        sessions.attach(session, carrier, now)
        session.emit("conformance.x", {"n": 1})
        sessions.detach(session, carrier, now)
        return session.id

    def test_one_more_detached_session_of_an_identity_discards_its_oldest(self) -> None:
        sessions: ServerSessions[Carrier] = ServerSessions(Limits(max_detached_sessions=2))
        first = self.detached(sessions, "tok", 0.0)
        second = self.detached(sessions, "tok", 1.0)
        other = self.detached(sessions, "other", 1.5)
        assert sessions.detached_count("tok") == 2
        third = self.detached(sessions, "tok", 2.0)
        assert sessions.detached_count("tok") == 2
        assert [s.id for s in sessions.take_discarded()] == [first]
        refused = sessions.open("tok", resume(first, 1), 3.0)
        assert not refused.resumed
        assert refused.session.seq == 0  # a fresh session, never a silent gap
        for kept, identity in ((second, "tok"), (third, "tok"), (other, "other")):
            assert sessions.open(identity, resume(kept, 1), 3.0).resumed

    def test_the_total_bound_discards_the_oldest_whoever_it_belongs_to(self) -> None:
        limits = Limits(max_detached_sessions=2, max_detached_total=3)
        sessions: ServerSessions[Carrier] = ServerSessions(limits)
        ids = [self.detached(sessions, f"user{n}", float(n)) for n in range(4)]
        assert sessions.detached_count(every=True) == 3
        assert [s.id for s in sessions.take_discarded()] == [ids[0]]
        assert not sessions.open("user0", resume(ids[0], 1), 5.0).resumed
        assert sessions.open("user3", resume(ids[3], 1), 5.0).resumed

    def test_a_resumed_session_is_no_longer_counted_as_detached(self) -> None:
        sessions: ServerSessions[Carrier] = ServerSessions(Limits(max_detached_sessions=1))
        first = self.detached(sessions, None, 0.0)
        opened = sessions.open(None, resume(first, 1), 1.0)
        assert opened.resumed
        sessions.attach(opened.session, Carrier(), 1.0)
        assert sessions.detached_count(None) == 0
        self.detached(sessions, None, 2.0)
        assert sessions.take_discarded() == []
        assert sessions.get(first) is opened.session

    def test_expired_sessions_leave_the_count(self) -> None:
        limits = Limits(resume_window_ms=1000, max_detached_sessions=1)
        sessions: ServerSessions[Carrier] = ServerSessions(limits)
        self.detached(sessions, "tok", 0.0)
        assert len(sessions.expire(5.0)) == 1
        assert sessions.detached_count("tok") == 0
        assert sessions.detached_count(every=True) == 0


class TestRequests:
    def test_decide_changes_nothing_commit_records(self) -> None:
        sessions: ServerSessions[Carrier] = ServerSessions(Limits())
        session = sessions.open(None, None, 0.0).session
        frame = frames.Subscribe(id="s1", channel="chat")
        outcome = sessions.decide_subscribe(session, CATALOGUE, frame)
        assert outcome.effect is Effect.SUBSCRIBE
        assert not session.subscriptions
        assert sessions.commit(session, outcome).committed
        assert session.subscriptions == ("chat",)

    def test_a_copy_arriving_while_the_first_takes_effect_is_not_applied_twice(self) -> None:
        """[OPS-9] a publish re-sent (after a resume elsewhere) before the first committed."""
        sessions: ServerSessions[Carrier] = ServerSessions(Limits())
        session = sessions.open(None, None, 0.0).session
        frame = frames.Publish(id="p1", channel="conformance.x", data={"n": 1})
        first = sessions.decide_publish(session, CATALOGUE, frame)
        assert first.effect is Effect.PUBLISH
        copy = sessions.decide_publish(session, CATALOGUE, frame)
        assert (copy.effect, copy.replayed, copy.reply) == (Effect.NONE, True, first.reply)
        sessions.commit(session, first)
        later = sessions.decide_publish(session, CATALOGUE, frame)
        assert (later.effect, later.replayed) == (Effect.NONE, True)

    def test_a_failed_effect_frees_the_id_for_a_retry(self) -> None:
        """[OPS-17] internal_error: the same id sent again is applied."""
        sessions: ServerSessions[Carrier] = ServerSessions(Limits())
        session = sessions.open(None, None, 0.0).session
        frame = frames.Publish(id="p1", channel="conformance.x", data={"n": 1})
        sessions.decide_publish(session, CATALOGUE, frame)
        failed = sessions.refuse(session, "p1", ErrorCode.INTERNAL_ERROR, "failed")
        assert failed.committed
        retry = sessions.decide_publish(session, CATALOGUE, frame)
        assert (retry.effect, retry.replayed) == (Effect.PUBLISH, False)

    def test_a_new_stream_subscribes_by_the_subscribe_rules(self) -> None:
        """[SSE-1] [SSE-3]"""
        sessions: ServerSessions[Carrier] = ServerSessions(Limits())
        session = sessions.open(None, None, 0.0, transport="sse").session
        refusal = sessions.check_stream(CATALOGUE, ["chat", "nope"])
        assert refusal is not None
        assert refusal.code is ErrorCode.UNKNOWN_CHANNEL
        sessions.subscribe_stream(session, CATALOGUE, ["chat", "system"])
        assert session.subscriptions == ("chat", "system")
