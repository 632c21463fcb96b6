"""The stream audit (canaux_conformance/audit.py) flags each kind of stray frame, and only those.

Frames are fed to :class:`StreamAudit` directly, as text, the way RawClient hands them over;
no socket is involved. Each test names the requirement the finding must cite.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from canaux_conformance.audit import (
    CLOSE_CODES,
    FRAME_ERROR_CODES,
    Finding,
    SessionBook,
    StreamAudit,
)
from tests.spec import speclib

__all__: list[str] = []

SESSION_A = "A" * 22
SESSION_B = "B" * 22
LIMITS = {
    "max_frame_bytes": 65536,
    "max_subscriptions": 64,
    "max_rate": 200,
    "resume_window_ms": 120000,
    "resume_buffer": 1024,
}


def welcome(session: str, *, resumed: bool = False, seq: int = 0, **extra: Any) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "welcome",
        "version": 1,
        "session": session,
        "resumed": resumed,
        "seq": seq,
        "heartbeat_ms": 15000,
        "limits": dict(LIMITS),
        "channels": [],
    }
    frame.update(extra)
    return frame


def feed(audit: StreamAudit, frame: dict[str, Any] | str) -> list[Finding]:
    text = frame if isinstance(frame, str) else json.dumps(frame)
    return audit.received(text, json.loads(text)) or audit.delivered(text, json.loads(text))


def send(audit: StreamAudit, frame: dict[str, Any]) -> None:
    audit.sent(json.dumps(frame))


def cited(findings: list[Finding]) -> list[str]:
    return [f.requirement for f in findings]


def connected(book: SessionBook | None = None, session: str = SESSION_A) -> StreamAudit:
    audit = StreamAudit(book or SessionBook())
    send(audit, {"type": "hello", "version": 1})
    assert feed(audit, welcome(session)) == []
    return audit


def event(seq: int, channel: str, data: Any = None) -> dict[str, Any]:
    return {"type": "event", "seq": seq, "channel": channel, "data": data or {"mark": "m"}}


class TestRouting:
    def test_an_event_on_a_subscribed_channel_is_fine(self) -> None:
        audit = connected()
        send(audit, {"type": "subscribe", "id": "c1", "channel": "conformance.x"})
        assert feed(audit, {"type": "ack", "id": "c1"}) == []
        assert feed(audit, event(1, "conformance.x")) == []

    def test_an_event_while_the_subscribe_is_unanswered_is_fine(self) -> None:
        audit = connected()
        send(audit, {"type": "subscribe", "id": "c1", "channel": "conformance.x"})
        assert feed(audit, event(1, "conformance.x")) == []

    def test_an_event_on_a_channel_never_subscribed_is_a_leak(self) -> None:
        assert cited(feed(connected(), event(1, "conformance.x"))) == ["DELIVERY-2"]

    def test_an_event_after_the_unsubscribe_ack_is_a_leak(self) -> None:
        audit = connected()
        send(audit, {"type": "subscribe", "id": "c1", "channel": "conformance.x"})
        feed(audit, {"type": "ack", "id": "c1"})
        send(audit, {"type": "unsubscribe", "id": "c2", "channel": "conformance.x"})
        assert feed(audit, event(1, "conformance.x")) == []  # still in flight: fine
        assert feed(audit, {"type": "ack", "id": "c2"}) == []
        assert cited(feed(audit, event(2, "conformance.x"))) == ["OPS-6"]

    def test_subscriptions_follow_the_session_across_a_resume(self) -> None:
        book = SessionBook()
        first = connected(book)
        send(first, {"type": "subscribe", "id": "c1", "channel": "conformance.x"})
        feed(first, {"type": "ack", "id": "c1"})
        feed(first, event(1, "conformance.x"))
        second = StreamAudit(book)
        send(second, {"type": "hello", "version": 1, "resume": {"session": SESSION_A, "seq": 1}})
        assert feed(second, welcome(SESSION_A, resumed=True, seq=2)) == []
        assert feed(second, event(2, "conformance.x")) == []
        assert cited(feed(second, event(3, "conformance.y"))) == ["DELIVERY-2"]

    def test_a_repeated_reply_changes_nothing(self) -> None:
        audit = connected()
        for frame_id, kind in (("s1", "subscribe"), ("u1", "unsubscribe"), ("s2", "subscribe")):
            send(audit, {"type": kind, "id": frame_id, "channel": "conformance.x"})
            feed(audit, {"type": "ack", "id": frame_id})
        send(audit, {"type": "unsubscribe", "id": "u1", "channel": "conformance.x"})
        assert feed(audit, {"type": "ack", "id": "u1"}) == []
        assert feed(audit, event(1, "conformance.x")) == []

    def test_a_session_resumed_unseen_is_not_checked_for_routing(self) -> None:
        audit = StreamAudit(SessionBook())
        send(audit, {"type": "hello", "version": 1, "resume": {"session": SESSION_A, "seq": 0}})
        feed(audit, welcome(SESSION_A, resumed=True, seq=1))
        assert feed(audit, event(1, "conformance.x")) == []

    def test_a_chat_reply_to_a_request_never_made_is_a_leak(self) -> None:
        audit = connected()
        send(audit, {"type": "subscribe", "id": "c1", "channel": "chat"})
        feed(audit, {"type": "ack", "id": "c1"})
        chunk = {"type": "chunk", "request": "c9", "index": 0, "text": "hi"}
        assert cited(feed(audit, event(1, "chat", chunk))) == ["CHAT-2"]

    def test_a_chat_reply_before_its_ack_is_out_of_order(self) -> None:
        audit = connected()
        send(audit, {"type": "publish", "id": "c1", "channel": "chat", "data": {}})
        chunk = {"type": "chunk", "request": "c1", "index": 0, "text": "hi"}
        assert cited(feed(audit, event(1, "chat", chunk))) == ["CHAT-4"]
        feed(audit, {"type": "ack", "id": "c1"})
        assert feed(audit, event(2, "chat", {**chunk, "index": 1})) == []


class TestReplies:
    def test_a_reply_to_an_id_never_sent_breaks_ops_1(self) -> None:
        assert cited(feed(connected(), {"type": "ack", "id": "c7"})) == ["OPS-1"]

    def test_a_reply_to_another_sessions_id_breaks_ops_13(self) -> None:
        book = SessionBook()
        a, b = connected(book, SESSION_A), connected(book, SESSION_B)
        send(a, {"type": "publish", "id": "a1", "channel": "conformance.x", "data": {}})
        assert cited(feed(b, {"type": "ack", "id": "a1"})) == ["OPS-13"]

    def test_a_second_reply_to_one_frame_is_flagged(self) -> None:
        book = SessionBook()
        a, b = connected(book, SESSION_A), connected(book, SESSION_B)
        for audit in (a, b):
            send(audit, {"type": "publish", "id": "c1", "channel": "conformance.x", "data": {}})
        assert feed(b, {"type": "ack", "id": "c1"}) == []
        assert cited(feed(b, {"type": "ack", "id": "c1"})) == ["OPS-13"]

    def test_replies_to_frames_sent_before_the_welcome_count(self) -> None:
        audit = StreamAudit(SessionBook())
        send(audit, {"type": "hello", "version": 1})
        send(audit, {"type": "subscribe", "id": "c1", "channel": "conformance.x"})
        feed(audit, welcome(SESSION_A))
        assert feed(audit, {"type": "ack", "id": "c1"}) == []

    def test_an_error_echoing_an_invalid_frames_id_is_fine(self) -> None:
        audit = connected()
        audit.sent('{"type":"subscribe","id":"odd id!","id":"c1"}')
        assert feed(audit, {"type": "error", "id": "odd id!", "code": "bad_frame"}) == []

    def test_an_error_code_outside_the_frame_registry_breaks_ops_18(self) -> None:
        audit = connected()
        send(audit, {"type": "subscribe", "id": "c1", "channel": "conformance.x"})
        frame = {"type": "error", "id": "c1", "code": "unauthorized", "message": ""}
        assert cited(feed(audit, frame)) == ["OPS-18"]


class TestSeq:
    def test_a_gap_breaks_delivery_1_and_a_repeat_delivery_6(self) -> None:
        audit = connected()
        send(audit, {"type": "subscribe", "id": "c1", "channel": "conformance.x"})
        feed(audit, {"type": "ack", "id": "c1"})
        assert feed(audit, event(1, "conformance.x")) == []
        assert cited(feed(audit, event(3, "conformance.x"))) == ["DELIVERY-1"]
        assert cited(feed(audit, event(3, "conformance.x"))) == ["DELIVERY-6"]

    def test_the_replay_starts_right_after_the_resume_seq(self) -> None:
        book = SessionBook()
        first = connected(book)
        send(first, {"type": "subscribe", "id": "c1", "channel": "conformance.x"})
        feed(first, {"type": "ack", "id": "c1"})
        second = StreamAudit(book)
        send(second, {"type": "hello", "version": 1, "resume": {"session": SESSION_A, "seq": 2}})
        feed(second, welcome(SESSION_A, resumed=True, seq=5))
        assert cited(feed(second, event(4, "conformance.x"))) == ["RESUME-3"]

    def test_only_events_carry_seq(self) -> None:
        audit = connected()
        send(audit, {"type": "subscribe", "id": "c1", "channel": "conformance.x"})
        assert cited(feed(audit, {"type": "ack", "id": "c1", "seq": 1})) == ["DELIVERY-7"]


class TestFrames:
    def test_duplicate_member_names_break_transport_9(self) -> None:
        audit = connected()
        send(audit, {"type": "subscribe", "id": "c1", "channel": "conformance.x"})
        assert cited(feed(audit, '{"type":"ack","id":"c1","id":"c1"}')) == ["TRANSPORT-9"]

    def test_integers_beyond_two_to_the_53_break_transport_10(self) -> None:
        audit = StreamAudit(SessionBook())
        limits = {**LIMITS, "resume_buffer": 2**53}
        assert cited(feed(audit, welcome(SESSION_A, limits=limits))) == ["TRANSPORT-10"]

    def test_a_second_welcome_breaks_handshake_2(self) -> None:
        assert cited(feed(connected(), welcome(SESSION_A))) == ["HANDSHAKE-2"]

    def test_a_second_catalogue_breaks_channel_10(self) -> None:
        other = welcome(SESSION_A, channels=[{"name": "system", "publish": "server"}])
        assert cited(feed(connected(), other)) == ["CHANNEL-10"]

    @pytest.mark.parametrize("heartbeat", [999, 300001])
    def test_heartbeat_outside_its_range_breaks_heartbeat_5(self, heartbeat: int) -> None:
        audit = StreamAudit(SessionBook())
        assert cited(feed(audit, welcome(SESSION_A, heartbeat_ms=heartbeat))) == ["HEARTBEAT-5"]

    def test_lowered_limits_on_resume_break_limit_6(self) -> None:
        book = SessionBook()
        connected(book)
        again = StreamAudit(book)
        send(again, {"type": "hello", "version": 1, "resume": {"session": SESSION_A, "seq": 0}})
        lower = {**LIMITS, "max_subscriptions": 8}
        assert cited(feed(again, welcome(SESSION_A, resumed=True, limits=lower))) == ["LIMIT-6"]

    def test_another_sessions_id_in_a_frame_breaks_security_1(self) -> None:
        book = SessionBook()
        connected(book, SESSION_B)
        audit = connected(book, SESSION_A)
        send(audit, {"type": "subscribe", "id": "c1", "channel": "conformance.x"})
        frame = {"type": "error", "id": "c1", "code": "bad_frame", "message": SESSION_B}
        assert cited(feed(audit, frame)) == ["SECURITY-1"]

    def test_an_unregistered_private_close_code_breaks_transport_14(self) -> None:
        assert cited(connected().closed(4999)) == ["TRANSPORT-14"]
        assert connected().closed(4411) == []
        polite = connected()
        polite.client_closed(4999)
        assert polite.closed(4999) == []


class TestChannelData:
    def _queue(self) -> StreamAudit:
        audit = connected()
        send(audit, {"type": "subscribe", "id": "c1", "channel": "playqueue"})
        feed(audit, {"type": "ack", "id": "c1"})
        return audit

    @staticmethod
    def state(version: int, items: int = 1, current: int | None = 0, playing: bool = False) -> Any:
        return {
            "type": "state",
            "version": version,
            "items": [{"id": f"t{i}"} for i in range(items)],
            "current": current,
            "playing": playing,
        }

    def test_queue_states_are_consistent(self) -> None:
        audit = self._queue()
        assert cited(feed(audit, event(1, "playqueue", self.state(1, 2, 2)))) == ["QUEUE-4"]
        assert "QUEUE-4" in cited(feed(audit, event(2, "playqueue", self.state(2, 0, None, True))))

    def test_queue_versions_step_by_one_while_subscribed(self) -> None:
        audit = self._queue()
        assert feed(audit, event(1, "playqueue", self.state(4))) == []
        assert feed(audit, event(2, "playqueue", self.state(5))) == []
        assert cited(feed(audit, event(3, "playqueue", self.state(5)))) == ["QUEUE-8"]
        assert cited(feed(audit, event(4, "playqueue", self.state(7)))) == ["QUEUE-8"]

    def test_a_snapshot_after_resubscribing_may_jump(self) -> None:
        audit = self._queue()
        feed(audit, event(1, "playqueue", self.state(4)))
        send(audit, {"type": "unsubscribe", "id": "c2", "channel": "playqueue"})
        feed(audit, {"type": "ack", "id": "c2"})
        send(audit, {"type": "subscribe", "id": "c3", "channel": "playqueue"})
        feed(audit, {"type": "ack", "id": "c3"})
        assert feed(audit, event(2, "playqueue", self.state(9))) == []

    def test_progress_never_exceeds_its_total(self) -> None:
        audit = connected()
        send(audit, {"type": "subscribe", "id": "c1", "channel": "progress"})
        feed(audit, {"type": "ack", "id": "c1"})
        data = {"task": "t", "kind": "scan", "status": "running", "current": 5, "total": 4}
        assert cited(feed(audit, event(1, "progress", data))) == ["PROGRESS-2"]


def _registry(page: str, marker: str) -> dict[str, str]:
    text = (speclib.SPEC_DIR / page).read_text(encoding="utf-8")
    table = text.split(f"<!-- registry: {marker} -->", 1)[1].strip().split("\n\n", 1)[0]
    rows = [line.split("|")[1:-1] for line in table.splitlines()[2:]]
    return {re.sub(r"`", "", row[0]).strip(): "|".join(row) for row in rows}


def test_the_audit_knows_the_close_code_registry() -> None:
    assert {int(code) for code in _registry("close-codes.md", "close-codes")} == CLOSE_CODES


def test_the_audit_knows_the_frame_error_codes() -> None:
    table = _registry("error-codes.md", "error-codes")
    assert {code for code, row in table.items() if "frame" in row.lower()} >= FRAME_ERROR_CODES
    assert set(table) >= FRAME_ERROR_CODES
