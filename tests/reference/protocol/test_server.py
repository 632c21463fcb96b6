"""Tests of canaux.protocol.server: one server connection driven with frames, no sockets.

Spec transport.md, handshake.md, operations.md (replies), heartbeat.md, limits.md.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from canaux.protocol import frames
from canaux.protocol.channels import Catalogue
from canaux.protocol.codes import CloseCode, ErrorCode
from canaux.protocol.errors import LocalProtocolError
from canaux.protocol.limits import Limits
from canaux.protocol.operations import Outcome, refuse
from canaux.protocol.server import (
    AWAITING_HELLO,
    AWAITING_WELCOME,
    CLOSED,
    OPEN,
    FrameRejected,
    HelloReceived,
    PingReceived,
    PongReceived,
    PublishRequested,
    ServerConnection,
    SubscribeRequested,
    UnsubscribeRequested,
)
from canaux.protocol.session import SessionState

CATALOGUE = Catalogue.standard(conformance=True)
HELLO: dict[str, Any] = {"type": "hello", "version": 1}


def ack(frame_id: str) -> Outcome:
    """A committed ack, as :class:`~canaux.protocol.sessions.ServerSessions` hands it over."""
    return Outcome(frame_id, frames.encode(frames.Ack(id=frame_id)), committed=True)


def error(frame_id: str, code: ErrorCode, message: str, pointer: str | None = None) -> Outcome:
    text = frames.error_text(code, message, id=frame_id, pointer=pointer)
    return Outcome(frame_id, text, error=code, committed=True)


class Peer:
    """A server connection plus the client's side of the conversation, with a fake clock."""

    def __init__(self, limits: Limits | None = None, now: float = 100.0) -> None:
        self.limits = limits or Limits()
        self.now = now
        self.conn = ServerConnection(self.limits, now)

    def send(self, frame: Any) -> None:
        self.conn.receive_text(frame if isinstance(frame, str) else json.dumps(frame), self.now)

    def received(self) -> list[dict[str, Any]]:
        return [json.loads(text) for text in self.conn.data_to_send()]

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.conn.tick(self.now)

    def open(
        self, hello: dict[str, Any] | None = None, session: SessionState | None = None
    ) -> SessionState:
        """Say hello and get welcomed into a fresh session; clear outputs."""
        self.send(hello or HELLO)
        (event,) = self.conn.events_received()
        assert isinstance(event, HelloReceived)
        session = session or SessionState(event.identity, self.limits)
        self.conn.welcome(session, False, CATALOGUE, self.now)
        self.received()
        return session

    def assert_closed(self, code: int) -> None:
        assert self.conn.state is CLOSED
        assert self.conn.close_code == code


class TestTransport:
    def test_binary_frame_closes_with_1003(self) -> None:
        """[TRANSPORT-4]"""
        peer = Peer()
        peer.conn.receive_bytes(b"{}", peer.now)
        peer.assert_closed(CloseCode.UNSUPPORTED_DATA)

    @pytest.mark.parametrize("text", ["not json", "[1]", '"hello"', "NaN", "{"])
    def test_text_that_is_not_a_json_object_closes_with_1007(self, text: str) -> None:
        """[TRANSPORT-5]"""
        peer = Peer()
        peer.open()
        peer.send(text)
        peer.assert_closed(CloseCode.INVALID_PAYLOAD)

    def test_frame_over_max_frame_bytes_closes_with_1009(self) -> None:
        """[TRANSPORT-6] [LIMIT-2] the limit counts UTF-8 bytes, not characters."""
        peer = Peer(Limits(max_frame_bytes=4096))
        peer.open()
        # 2000 two-byte characters: under the limit in characters, over it in bytes.
        peer.send({"type": "ping", "nonce": "é" * 2000, "pad": "x" * 100})
        peer.assert_closed(CloseCode.MESSAGE_TOO_BIG)

    def test_frame_of_exactly_max_frame_bytes_is_read(self) -> None:
        peer = Peer(Limits(max_frame_bytes=4096))
        peer.open()
        prefix = '{"type":"ping","pad":"'
        text = prefix + "x" * (4096 - len(prefix) - 2) + '"}'
        assert len(text.encode()) == 4096
        peer.send(text)
        assert peer.conn.state is OPEN
        assert peer.received() == [{"type": "pong"}]

    def test_hello_of_8192_bytes_is_read_whatever_the_limit(self) -> None:
        """[HANDSHAKE-10]"""
        peer = Peer(Limits(max_frame_bytes=4096))
        peer.send({"type": "hello", "version": 1, "token": "t" * 4096, "pad": "x" * 3000})
        assert peer.conn.state is AWAITING_WELCOME

    def test_nothing_is_read_after_the_close(self) -> None:
        """[TRANSPORT-16]"""
        peer = Peer()
        peer.conn.receive_bytes(b"", peer.now)
        peer.send(HELLO)
        assert peer.conn.events_received() == []
        assert peer.conn.close_code == CloseCode.UNSUPPORTED_DATA


class TestHandshake:
    def test_valid_hello_is_reported_with_the_token_as_identity(self) -> None:
        peer = Peer()
        peer.send({"type": "hello", "version": 1, "token": "secret"})
        (event,) = peer.conn.events_received()
        assert isinstance(event, HelloReceived)
        assert event.identity == "secret"
        assert peer.conn.state is AWAITING_WELCOME

    def test_welcome_carries_session_heartbeat_limits_and_catalogue(self) -> None:
        """[HANDSHAKE-2] [HANDSHAKE-9]"""
        peer = Peer()
        peer.send(HELLO)
        session = SessionState(None, peer.limits)
        peer.conn.welcome(session, False, CATALOGUE)
        (welcome,) = peer.received()
        assert welcome["session"] == session.id
        assert (welcome["resumed"], welcome["seq"], welcome["heartbeat_ms"]) == (False, 0, 15000)
        assert set(welcome["limits"]) == {
            "max_frame_bytes",
            "max_subscriptions",
            "max_rate",
            "resume_window_ms",
            "resume_buffer",
            # [LIMIT-4, LIMIT-11, LIMIT-12] the optional bounds the reference announces.
            "resume_buffer_bytes",
            "outbound_queue",
            "outbound_queue_bytes",
            "max_detached_sessions",
        }
        assert [c["name"] for c in welcome["channels"]] == [e.name for e in CATALOGUE]
        assert peer.conn.state is OPEN

    def test_no_hello_in_time_closes_with_4408(self) -> None:
        """[HANDSHAKE-3]"""
        peer = Peer()
        assert peer.conn.next_deadline() == pytest.approx(peer.now + 10.0)
        peer.advance(9.9)
        assert peer.conn.state is AWAITING_HELLO
        peer.advance(0.2)
        peer.assert_closed(CloseCode.HELLO_TIMEOUT)

    @pytest.mark.parametrize(
        "first",
        [
            {"type": "subscribe", "id": "c1", "channel": "chat"},
            {"type": "ping"},
            {"type": "hello"},
            {"type": "hello", "version": "1"},
            {"type": "hello", "version": 1, "token": ""},
        ],
    )
    def test_first_frame_not_a_valid_hello_closes_with_4400(self, first: Any) -> None:
        """[HANDSHAKE-1] [HANDSHAKE-4]"""
        peer = Peer()
        peer.send(first)
        peer.assert_closed(CloseCode.BAD_HANDSHAKE)
        assert peer.received() == []

    def test_unsupported_version_closes_with_4406_listing_supported_versions(self) -> None:
        """[HANDSHAKE-5]"""
        peer = Peer()
        peer.send({"type": "hello", "version": 2})
        peer.assert_closed(CloseCode.UNSUPPORTED_VERSION)
        assert peer.conn.close_reason == "supported: 1"

    def test_second_hello_closes_with_4409(self) -> None:
        """[HANDSHAKE-6]"""
        peer = Peer()
        peer.open()
        peer.send(HELLO)
        peer.assert_closed(CloseCode.DUPLICATE_HELLO)

    def test_second_hello_before_the_welcome_closes_with_4409(self) -> None:
        peer = Peer()
        peer.send(HELLO)
        peer.send({"type": "hello"})
        peer.assert_closed(CloseCode.DUPLICATE_HELLO)

    def test_nothing_goes_out_before_the_welcome(self) -> None:
        """[HANDSHAKE-2] a ping or a bad frame sent early is answered after the welcome."""
        peer = Peer()
        peer.send(HELLO)
        peer.send({"type": "ping", "nonce": "n"})
        peer.send({"type": "subscribe", "id": "c1"})
        assert peer.received() == []
        with pytest.raises(LocalProtocolError):
            peer.conn.send_event_text("{}")
        peer.conn.welcome(SessionState(None, peer.limits), False, CATALOGUE)
        types = [frame["type"] for frame in peer.received()]
        assert types == ["welcome", "pong", "error"]

    def test_fresh_welcome_refuses_a_session_with_history(self) -> None:
        """[HANDSHAKE-15] resumed false means seq 0 and no subscriptions."""
        peer = Peer()
        peer.send(HELLO)
        session = SessionState(None, peer.limits)
        session.next_event("chat", {})
        with pytest.raises(LocalProtocolError):
            peer.conn.welcome(session, False, CATALOGUE)

    def test_welcome_is_refused_before_hello_and_after_welcome(self) -> None:
        peer = Peer()
        session = SessionState(None, peer.limits)
        with pytest.raises(LocalProtocolError):
            peer.conn.welcome(session, False, CATALOGUE)
        peer.open(session=session)
        with pytest.raises(LocalProtocolError):
            peer.conn.welcome(session, False, CATALOGUE)


class TestResumeWelcome:
    """[RESUME-2] [RESUME-3] resumed welcome followed by the replay, in order."""

    def resumable(self, limits: Limits) -> SessionState:
        session = SessionState("tok", limits)
        for n in range(5):
            session.next_event("conformance.a", {"mark": str(n)})
        session.detach(0.0)
        return session

    def test_resumed_welcome_is_followed_by_every_missed_event(self) -> None:
        peer = Peer()
        session = self.resumable(peer.limits)
        peer.send(
            {
                "type": "hello",
                "version": 1,
                "token": "tok",
                "resume": {"session": session.id, "seq": 2},
            }
        )
        peer.conn.events_received()
        peer.conn.welcome(session, True, CATALOGUE)
        welcome, *events = peer.received()
        assert (welcome["resumed"], welcome["seq"], welcome["session"]) == (True, 5, session.id)
        assert [e["seq"] for e in events] == [3, 4, 5]

    def test_resumed_welcome_without_the_events_is_refused(self) -> None:
        """[RESUME-2] never a partial replay."""
        peer = Peer(Limits(resume_buffer=2, dedup_ids=2))
        session = self.resumable(peer.limits)
        peer.send(
            {
                "type": "hello",
                "version": 1,
                "token": "tok",
                "resume": {"session": session.id, "seq": 1},
            }
        )
        with pytest.raises(LocalProtocolError):
            peer.conn.welcome(session, True, CATALOGUE)

    def test_resumed_welcome_for_another_session_is_refused(self) -> None:
        peer = Peer()
        session = self.resumable(peer.limits)
        peer.send(HELLO)
        with pytest.raises(LocalProtocolError):
            peer.conn.welcome(session, True, CATALOGUE)


class TestRequests:
    def test_requests_are_reported_in_order(self) -> None:
        """[OPS-2] [HANDSHAKE-16]"""
        peer = Peer()
        peer.open()
        peer.send({"type": "subscribe", "id": "c1", "channel": "chat"})
        peer.send({"type": "publish", "id": "c2", "channel": "chat", "data": 1})
        peer.send({"type": "unsubscribe", "id": "c3", "channel": "chat"})
        peer.send({"type": "pong", "nonce": "x"})
        events = peer.conn.events_received()
        assert [type(e) for e in events] == [
            SubscribeRequested,
            PublishRequested,
            UnsubscribeRequested,
            PongReceived,
        ]

    def test_bad_frame_is_answered_with_pointer_and_id_and_the_connection_stays_open(
        self,
    ) -> None:
        """[OPS-8]"""
        peer = Peer()
        peer.open()
        peer.send({"type": "subscribe", "id": "c1", "channel": 5})
        assert peer.received() == [
            {
                "type": "error",
                "code": "bad_frame",
                "message": "input should be a valid string",
                "id": "c1",
                "pointer": "/channel",
            }
        ]
        assert peer.conn.state is OPEN
        (event,) = peer.conn.events_received()
        assert isinstance(event, FrameRejected)

    @pytest.mark.parametrize(
        ("frame", "pointer"),
        [
            ({"type": "event", "seq": 1, "channel": "x", "data": 1}, "/type"),
            ({"type": "welcome"}, "/type"),
            ({"id": "c1"}, "/type"),
            ({"type": "publish", "id": "c1", "channel": "x"}, "/data"),
            ({"type": "subscribe", "id": "c1", "channel": "chat\n"}, "/channel"),
        ],
    )
    def test_frames_that_are_not_client_frames_get_bad_frame(
        self, frame: dict[str, Any], pointer: str
    ) -> None:
        """[OPS-8] [CHANNEL-8]"""
        peer = Peer()
        peer.open()
        peer.send(frame)
        (error,) = peer.received()
        assert (error["code"], error["pointer"]) == (ErrorCode.BAD_FRAME, pointer)

    def test_replies_leave_in_the_order_the_requests_arrived(self) -> None:
        """[OPS-2] a reply decided early waits for the earlier request's reply."""
        peer = Peer()
        peer.open()
        peer.send({"type": "publish", "id": "p1", "channel": "chat", "data": 1})
        peer.send({"type": "subscribe", "id": "s2", "channel": "chat"})
        peer.send({"type": "subscribe", "id": "bad"})
        peer.conn.reply(ack("s2"))
        assert peer.received() == []
        assert peer.conn.pending_replies == ["p1"]
        peer.conn.reply(ack("p1"))
        assert [(f["type"], f.get("id")) for f in peer.received()] == [
            ("ack", "p1"),
            ("ack", "s2"),
            ("error", "bad"),
        ]

    def test_event_sent_after_a_waiting_reply_does_not_overtake_it(self) -> None:
        """[CHAT-1] chunks follow the ack of their request."""
        peer = Peer()
        peer.open()
        peer.send({"type": "publish", "id": "p1", "channel": "playqueue", "data": {}})
        peer.send({"type": "publish", "id": "p2", "channel": "chat", "data": {}})
        peer.conn.send_event_text('{"early":1}')  # nothing decided yet: goes out at once
        peer.conn.reply(ack("p2"))
        peer.conn.send_event_text('{"chunk":0}')
        assert peer.received() == [{"early": 1}]
        peer.conn.reply(error("p1", ErrorCode.INVALID_COMMAND, "no", pointer="/data"))
        assert [f.get("id", f.get("chunk")) for f in peer.received()] == ["p1", "p2", 0]

    def test_reply_to_an_unknown_request_is_a_local_error(self) -> None:
        peer = Peer()
        peer.open()
        with pytest.raises(LocalProtocolError):
            peer.conn.reply(ack("never-asked"))

    def test_a_reply_not_committed_is_a_local_error(self) -> None:
        """[OPS-9] the one reply path: every reply is remembered before it is sent."""
        peer = Peer()
        peer.open()
        peer.send({"type": "subscribe", "id": "s1", "channel": "chat"})
        with pytest.raises(LocalProtocolError, match="commit"):
            peer.conn.reply(Outcome("s1", frames.encode(frames.Ack(id="s1"))))
        assert peer.conn.pending_replies == ["s1"]

    def test_error_that_must_locate_the_fault_needs_a_pointer(self) -> None:
        """[QUEUE-3] invalid_command carries a pointer (schemas/frame.json requires it)."""
        peer = Peer()
        peer.open()
        peer.send({"type": "publish", "id": "p1", "channel": "playqueue", "data": {}})
        session = SessionState(None, peer.limits)
        with pytest.raises(LocalProtocolError, match="pointer"):
            refuse(session, "p1", ErrorCode.INVALID_COMMAND, "no")
        assert peer.conn.pending_replies == ["p1"]
        assert session.reply_for("p1") is None


class TestHeartbeat:
    def test_client_ping_is_answered_with_pong_and_same_nonce(self) -> None:
        """[HEARTBEAT-2]"""
        peer = Peer()
        peer.open()
        peer.send({"type": "ping", "nonce": "17"})
        assert peer.received() == [{"type": "pong", "nonce": "17"}]
        assert peer.conn.events_received() == [PingReceived("17")]

    def test_server_pings_after_heartbeat_ms_without_sending(self) -> None:
        """[HEARTBEAT-1]"""
        peer = Peer()
        peer.open()
        assert peer.conn.next_deadline() == pytest.approx(peer.now + 15.0)
        peer.advance(14.0)
        assert peer.received() == []
        peer.send({"type": "pong"})  # receiving does not reset the sending clock
        peer.advance(1.0)
        (ping,) = peer.received()
        assert ping["type"] == "ping"

    def test_traffic_both_ways_postpones_the_ping(self) -> None:
        peer = Peer()
        peer.open()
        peer.advance(10.0)
        peer.send({"type": "pong"})
        peer.conn.send_event_text("{}", peer.now)
        peer.received()
        peer.advance(10.0)
        assert peer.received() == []
        peer.advance(5.0)
        assert [f["type"] for f in peer.received()] == ["ping"]

    def test_a_client_that_only_listens_is_pinged_and_kept_alive(self) -> None:
        """[HEARTBEAT-1] a busy server still asks a silent listener for a sign of life, so
        [HEARTBEAT-3] never cuts a client that answers every ping."""
        peer = Peer()
        peer.open()
        pings = 0
        for _ in range(20):  # 100 s of events every 5 s: the server is never idle
            peer.advance(5.0)
            peer.conn.send_event_text("{}", peer.now)
            for frame in peer.received():
                if frame.get("type") == "ping":
                    pings += 1
                    peer.send({"type": "pong", "nonce": frame["nonce"]})
        assert peer.conn.state is OPEN
        assert pings >= 6  # about one per heartbeat_ms of client silence

    def test_a_silent_listener_gets_one_ping_per_silence_not_a_storm(self) -> None:
        peer = Peer()
        peer.open()
        peer.advance(15.0)
        assert [f["type"] for f in peer.received()] == ["ping"]
        peer.conn.send_event_text("{}", peer.now)
        peer.advance(5.0)
        peer.conn.send_event_text("{}", peer.now)
        peer.advance(5.0)
        assert [f for f in peer.received() if f.get("type") == "ping"] == []

    def test_silent_client_is_closed_with_4410_after_two_intervals(self) -> None:
        """[HEARTBEAT-3]"""
        peer = Peer()
        peer.open()
        peer.advance(29.0)
        assert peer.conn.state is OPEN
        peer.advance(1.0)
        peer.assert_closed(CloseCode.HEARTBEAT_TIMEOUT)

    def test_any_frame_counts_as_a_sign_of_life(self) -> None:
        """[HEARTBEAT-8] even a frame that is refused."""
        peer = Peer()
        peer.open()
        peer.advance(25.0)
        peer.send({"type": "nonsense"})
        peer.advance(25.0)
        assert peer.conn.state is OPEN

    def test_closing_leaves_the_session_to_its_owner(self) -> None:
        """[RESUME-4] [RESUME-12] a connection that ends may no longer carry its session
        (another one took it over): the owner of the lifecycle detaches it, not the core."""
        peer = Peer()
        session = peer.open()
        session.attach(peer.now)
        peer.advance(30.0)
        peer.assert_closed(CloseCode.HEARTBEAT_TIMEOUT)
        assert session.attached
        assert session.detached_at is None
        assert peer.conn.next_deadline() is None


class TestRateLimit:
    """[LIMIT-3] [LIMIT-8] token bucket: a burst of max_rate, then max_rate per second."""

    def test_burst_of_max_rate_frames_passes_and_one_more_closes_with_4429(self) -> None:
        peer = Peer(Limits(max_rate=10))
        peer.open()  # the hello used one token
        for _ in range(9):
            peer.send({"type": "pong"})
        assert peer.conn.state is OPEN
        peer.send({"type": "pong"})
        peer.assert_closed(CloseCode.RATE_LIMITED)

    def test_client_within_the_rate_is_never_closed(self) -> None:
        peer = Peer(Limits(max_rate=10))
        peer.open()
        for _ in range(100):
            peer.now += 0.1
            peer.send({"type": "pong"})
        assert peer.conn.state is OPEN


class TestSlowConsumer:
    def test_outbound_queue_overflow_closes_with_4503_and_drops_the_queue(self) -> None:
        """[LIMIT-4]"""
        peer = Peer(Limits(outbound_queue=4))
        peer.open()
        for n in range(4):
            assert peer.conn.send_event_text(f'{{"n":{n}}}')
        assert peer.conn.state is OPEN
        peer.conn.send_event_text('{"n":4}')
        peer.assert_closed(CloseCode.SLOW_CONSUMER)
        assert peer.received() == []

    def test_events_after_the_close_are_dropped_quietly(self) -> None:
        peer = Peer()
        peer.open()
        peer.conn.close(CloseCode.GOING_AWAY, "bye")
        assert peer.conn.send_event_text("{}") is False
        peer.conn.reply(ack("whatever"))  # a late reply to a closed connection is not an error
        assert peer.received() == []


def test_frames_example_event_is_what_sessions_send() -> None:
    """The event texts a session builds are valid server frames."""
    session = SessionState(None, Limits())
    _, text = session.next_event("conformance.demo", {"mark": "m-1", "body": {"x": 1}})
    assert frames.parse_server_frame(json.loads(text)) == frames.Event(
        seq=1, channel="conformance.demo", data={"mark": "m-1", "body": {"x": 1}}
    )


class TestOutboundBytes:
    def test_a_client_over_outbound_queue_bytes_is_cut_with_4503(self) -> None:
        """[LIMIT-4] the queue is bounded in bytes: 64 KiB of unread events, not 1024 frames."""
        peer = Peer(Limits(outbound_queue_bytes=65536))
        peer.send(HELLO)
        peer.conn.welcome(SessionState(None, peer.limits), False, CATALOGUE)
        peer.received()
        body = "x" * 20000
        sent = 0
        while not peer.conn.closed and sent < 10:
            peer.conn.send_event_text(f'{{"type":"event","seq":{sent + 1},"data":"{body}"}}')
            sent += 1
        assert peer.conn.close_code == 4503
        assert sent == 4  # 3 frames of ~20 KB fit 64 KiB; the fourth overflows

    def test_a_full_replay_does_not_cut_the_client_that_resumed(self) -> None:
        """[LIMIT-4] [RESUME-3] the welcome and the replay do not count against live events."""
        limits = Limits(outbound_queue_bytes=65536, resume_buffer_bytes=1048576)
        session = SessionState(None, limits)
        for n in range(30):
            session.next_event("conformance.a", {"mark": f"m{n}", "body": "y" * 20000})
        peer = Peer(limits)
        peer.send({"type": "hello", "version": 1, "resume": {"session": session.id, "seq": 0}})
        peer.conn.welcome(session, True, CATALOGUE)
        assert not peer.conn.closed
        peer.conn.send_event_text(session.next_event("conformance.a", {"mark": "live"})[1])
        assert not peer.conn.closed
        frames = peer.received()
        assert [f.get("seq") for f in frames[1:]] == list(range(1, 32))
