"""Tests of canaux.protocol.session: seq, resume buffer, resume rules, dedup
(operations.md to resume.md, security.md)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from canaux.protocol.frames import SESSION_ID_PATTERN
from canaux.protocol.limits import Limits
from canaux.protocol.session import SessionState, new_session_id

LIMITS = Limits(resume_buffer=4, dedup_ids=4, resume_window_ms=60000)


def session_with(
    events: int, limits: Limits = LIMITS, identity: str | None = "tok"
) -> SessionState:
    session = SessionState(identity, limits)
    for n in range(events):
        session.next_event("conformance.a", {"mark": f"m{n}"})
    return session


class TestSessionIds:
    def test_ids_have_at_least_128_random_bits_in_base64url(self) -> None:
        """[HANDSHAKE-8] ≥ 22 base64url characters from a CSPRNG."""
        import re

        ids = {new_session_id() for _ in range(200)}
        assert len(ids) == 200
        assert all(re.fullmatch(SESSION_ID_PATTERN[1:-1], i) and len(i) >= 22 for i in ids)

    def test_logs_see_only_a_prefix(self) -> None:
        """[SECURITY-9] ids are never logged in full."""
        session = SessionState(None, LIMITS)
        assert session.id not in repr(session)
        assert session.id not in session.short_id


class TestSeq:
    def test_events_are_numbered_from_1_without_gap(self) -> None:
        """[DELIVERY-1]"""
        session = SessionState(None, LIMITS)
        seqs = [session.next_event("c", n)[0] for n in range(10)]
        assert seqs == list(range(1, 11))
        assert session.seq == 10

    def test_event_text_is_an_event_frame(self) -> None:
        session = SessionState(None, LIMITS)
        seq, text = session.next_event("conformance.a", {"mark": "x"})
        assert json.loads(text) == {
            "type": "event",
            "seq": seq,
            "channel": "conformance.a",
            "data": {"mark": "x"},
        }

    def test_preencoded_data_gives_the_same_text(self) -> None:
        one, two = SessionState(None, LIMITS), SessionState(None, LIMITS)
        assert one.next_event("c", [1, "é"]) == two.next_event_json("c", '[1,"é"]')


class TestReplay:
    """[RESUME-2] [RESUME-3] [RESUME-9] replay everything after seq, or nothing."""

    def test_replay_gives_every_event_after_seq_in_order(self) -> None:
        session = session_with(3)
        replay = session.replay_after(1)
        assert replay is not None
        assert [json.loads(t)["seq"] for t in replay] == [2, 3]

    def test_replay_from_the_last_seq_is_empty(self) -> None:
        assert session_with(3).replay_after(3) == []
        assert SessionState(None, LIMITS).replay_after(0) == []

    def test_replay_beyond_the_last_seq_is_impossible(self) -> None:
        assert session_with(3).replay_after(4) is None

    def test_replay_of_events_pushed_out_of_the_buffer_is_impossible(self) -> None:
        session = session_with(6)  # the buffer keeps 3..6
        assert session.replay_after(1) is None
        replay = session.replay_after(2)
        assert replay is not None
        assert [json.loads(t)["seq"] for t in replay] == [3, 4, 5, 6]

    @settings(max_examples=100, deadline=None)
    @given(
        events=st.integers(min_value=0, max_value=20),
        buffer=st.integers(min_value=1, max_value=8),
        seq=st.integers(min_value=0, max_value=25),
    )
    def test_replay_is_complete_or_absent(self, events: int, buffer: int, seq: int) -> None:
        """[RESUME-2] never a partial replay."""
        session = session_with(events, Limits(resume_buffer=buffer, dedup_ids=buffer))
        replay = session.replay_after(seq)
        possible = seq <= events and events - seq <= buffer
        assert (replay is not None) is possible
        if replay is not None:
            assert [json.loads(t)["seq"] for t in replay] == list(range(seq + 1, events + 1))


class TestMayResume:
    def test_detached_session_resumes_within_the_window(self) -> None:
        """[RESUME-2]"""
        session = session_with(3)
        session.detach(100.0)
        assert session.may_resume("tok", 1, 159.0, LIMITS)

    def test_attached_session_resumes_too(self) -> None:
        """[RESUME-4] the other connection is then closed by the server."""
        session = session_with(3)
        session.attach(0.0)
        assert session.may_resume("tok", 3, 1e9, LIMITS)

    def test_window_expiry_forbids_resume(self) -> None:
        """[RESUME-7]"""
        session = session_with(3)
        session.detach(100.0)
        assert not session.may_resume("tok", 3, 160.0, LIMITS)
        assert session.expired(160.0)
        assert not session.expired(159.9)

    def test_a_shorter_current_window_wins(self) -> None:
        session = session_with(1)
        session.detach(0.0)
        assert not session.may_resume("tok", 1, 20.0, Limits(resume_window_ms=10000))

    def test_other_identity_cannot_resume(self) -> None:
        """[SECURITY-2] a different token, or a token where there was none."""
        session = session_with(3)
        session.detach(0.0)
        assert not session.may_resume("other", 3, 1.0, LIMITS)
        assert not session.may_resume(None, 3, 1.0, LIMITS)
        anonymous = session_with(1, identity=None)
        anonymous.detach(0.0)
        assert anonymous.may_resume(None, 1, 1.0, LIMITS)
        assert not anonymous.may_resume("tok", 1, 1.0, LIMITS)

    def test_refused_resume_leaves_the_session_unchanged(self) -> None:
        """[RESUME-12] [SECURITY-2]"""
        session = session_with(3)
        session.detach(5.0)
        assert not session.may_resume("other", 3, 6.0, LIMITS)
        assert (session.seq, session.detached_at, session.discarded) == (3, 5.0, False)
        assert session.may_resume("tok", 3, 6.0, LIMITS)

    def test_seq_beyond_the_last_assigned_cannot_resume(self) -> None:
        session = session_with(3)
        session.detach(0.0)
        assert not session.may_resume("tok", 4, 1.0, LIMITS)

    def test_buffer_overflow_while_detached_forbids_resume(self) -> None:
        """[LIMIT-5]"""
        session = session_with(2)
        session.detach(0.0)
        for n in range(3):  # 5 events, buffer of 4: event 1 is gone
            session.next_event("conformance.a", {"mark": str(n)})
        assert not session.may_resume("tok", 0, 1.0, LIMITS)
        assert session.may_resume("tok", 1, 1.0, LIMITS)

    def test_buffer_bytes_overflow_while_detached_forbids_resume(self) -> None:
        """[LIMIT-5] [LIMIT-11] the byte bound pushes the oldest events out like the count."""
        limits = Limits(resume_buffer=1024, resume_buffer_bytes=65536, resume_window_ms=60000)
        session = session_with(1, limits)
        session.detach(0.0)
        big = "x" * 30000
        session.next_event("conformance.a", big)
        session.next_event("conformance.a", big)
        assert session.may_resume("tok", 1, 1.0, limits)  # 2 events of ~30 KB fit 64 KiB
        session.next_event("conformance.a", big)
        assert session.buffered_bytes <= 65536
        assert not session.may_resume("tok", 1, 1.0, limits)
        assert session.may_resume("tok", 2, 1.0, limits)
        replay = session.replay_after(2)
        assert replay is not None
        assert [json.loads(t)["seq"] for t in replay] == [3, 4]

    def test_the_newest_event_is_kept_whatever_its_size(self) -> None:
        """[LIMIT-11] a resume just behind one event larger than the bound still resumes."""
        limits = Limits(resume_buffer_bytes=65536, resume_window_ms=60000)
        session = session_with(1, limits)
        session.next_event("conformance.a", "x" * 100000)
        assert session.may_resume("tok", 1, 0.0, limits)
        assert not session.may_resume("tok", 0, 0.0, limits)
        session.next_event("conformance.a", "small")
        assert session.buffered_bytes < 65536
        assert not session.may_resume("tok", 1, 0.0, limits)
        assert session.may_resume("tok", 2, 0.0, limits)

    def test_a_restored_session_keeps_the_byte_bound_of_its_new_process(self) -> None:
        """[LIMIT-11] a snapshot from a process with a larger buffer fits this one's bytes."""
        roomy = Limits(resume_buffer_bytes=4 * 1048576, resume_window_ms=60000)
        session = session_with(0, roomy)
        for _ in range(10):
            session.next_event("conformance.a", "x" * 30000)
        limits = Limits(resume_buffer_bytes=65536, resume_window_ms=60000)
        restored = SessionState.restore(session.snapshot(), limits)
        assert 0 < restored.buffered_bytes <= 65536
        assert restored.may_resume("tok", 8, 0.0, limits)
        assert not restored.may_resume("tok", 7, 0.0, limits)
        restored.next_event("conformance.a", "x" * 30000)
        assert restored.buffered_bytes <= 65536

    def test_a_run_of_exactly_resume_buffer_bytes_is_kept_whole(self) -> None:
        """[LIMIT-11] the bound is inclusive: when the newest events take exactly
        resume_buffer_bytes, the trim stops there; one byte more and their oldest goes too."""
        limits = Limits(resume_buffer=1024, resume_buffer_bytes=65536, resume_window_ms=60000)
        session = SessionState("tok", limits)
        session.next_event("conformance.a", "")
        _, second = session.next_event("conformance.a", "x" * 40000)
        overhead = len(second) - 40000  # seq 2 and 3 have as many digits
        _, third = session.next_event("conformance.a", "x" * (65536 - len(second) - overhead))
        assert len(second) + len(third) == 65536
        assert session.buffered_bytes == 65536
        assert session.may_resume("tok", 1, 0.0, limits)
        assert not session.may_resume("tok", 0, 0.0, limits)
        # The replay is the text that was sent live, so the client measured what counts.
        assert session.replay_after(1) == [second, third]
        _, fourth = session.next_event("conformance.a", "x" * (len(second) - overhead + 1))
        assert len(third) + len(fourth) == 65537
        assert not session.may_resume("tok", 2, 0.0, limits)  # 3 and 4: 65537 bytes
        assert session.may_resume("tok", 3, 0.0, limits)

    def test_buffer_bytes_are_counted_in_utf8(self) -> None:
        limits = Limits(resume_buffer_bytes=65536, resume_window_ms=60000)
        session = SessionState("tok", limits)
        _, text = session.next_event("conformance.a", "é" * 1000)
        assert session.buffered_bytes == len(text.encode()) == len(text) + 1000

    def test_buffer_bytes_stay_exact_when_sessions_share_an_event_limit_11(self) -> None:
        # Fan-out hands every session the same encoded data; each frame's bytes are counted
        # once per event and the seq's digits per session, across trims.
        limits = Limits(resume_buffer=16, resume_buffer_bytes=65536, resume_window_ms=60000)
        sessions = [SessionState("tok", limits) for _ in range(3)]
        sessions[1].seq = 98  # other seq widths
        for n in range(40):
            data_json = json.dumps({"n": n, "t": "é€" * (1000 * (n % 7))}, ensure_ascii=False)
            for session in sessions:
                session.next_event_json("conformance.a", data_json)
        for session in sessions:
            kept = session.replay_after(session.oldest_buffered - 1)  # type: ignore[operator]
            assert kept is not None
            assert session.buffered_bytes == sum(len(t.encode()) for t in kept) <= 65536

    def test_discarded_session_never_resumes(self) -> None:
        session = session_with(1)
        session.discard()
        assert not session.may_resume("tok", 1, 0.0, LIMITS)


class TestDedup:
    """[OPS-9] replies remembered by id, bounded."""

    def test_reply_is_remembered_by_id(self) -> None:
        session = SessionState(None, LIMITS)
        session.remember_reply("c1", '{"type":"ack","id":"c1"}')
        assert session.reply_for("c1") == '{"type":"ack","id":"c1"}'
        assert session.reply_for("c2") is None

    def test_oldest_ids_are_forgotten_first_beyond_the_bound(self) -> None:
        session = SessionState(None, LIMITS)
        for n in range(6):
            session.remember_reply(f"c{n}", str(n))
        assert [session.reply_for(f"c{n}") for n in range(6)] == [None, None, "2", "3", "4", "5"]

    def test_a_replaced_reply_counts_as_recent(self) -> None:
        session = SessionState(None, LIMITS)
        for n in range(4):
            session.remember_reply(f"c{n}", str(n))
        session.remember_reply("c0", "error")
        session.remember_reply("c4", "4")
        assert session.reply_for("c0") == "error"
        assert session.reply_for("c1") is None
