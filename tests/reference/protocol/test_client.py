"""Tests of canaux.protocol.client: the sans-I/O client connection
(spec handshake.md, operations.md, resume.md, heartbeat.md, client.md).

No sockets: frames go in as text, frames and events come out.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canaux.protocol.client import (
    CLOSED,
    HANDSHAKING,
    IDLE,
    OPEN,
    PROTOCOL_ERROR,
    Acked,
    ClientConnection,
    Dropped,
    EventReceived,
    FrameTooLarge,
    LocalProtocolError,
    OutboxFull,
    Rejected,
    Reset,
    Welcomed,
)
from canaux.protocol.codes import CloseCode
from canaux.protocol.frames import CatalogueEntry, Limits, Welcome, encode

SESSION_A = "A" * 22
SESSION_B = "B" * 22


def welcome(
    session: str = SESSION_A, *, resumed: bool = False, seq: int = 0, heartbeat_ms: int = 15000
) -> str:
    return encode(
        Welcome(
            version=1,
            session=session,
            resumed=resumed,
            seq=seq,
            heartbeat_ms=heartbeat_ms,
            limits=Limits(
                max_frame_bytes=65536,
                max_subscriptions=64,
                max_rate=200,
                resume_window_ms=120000,
                resume_buffer=1024,
            ),
            channels=[
                CatalogueEntry(
                    name="conformance.*",
                    publish="client",
                    schema_="https://canaux.dev/schemas/v1/channels/conformance.json",
                )
            ],
        )
    )


def event(seq: int, channel: str = "conformance.a", data: Any = None) -> str:
    return json.dumps({"type": "event", "seq": seq, "channel": channel, "data": data})


def sent(conn: ClientConnection) -> list[dict[str, Any]]:
    return [json.loads(text) for text in conn.data_to_send()]


def opened(conn: ClientConnection | None = None, now: float = 0.0) -> ClientConnection:
    """A connection that has said hello and been welcomed into SESSION_A."""
    conn = conn or ClientConnection()
    conn.connection_made(now)
    conn.receive_text(welcome(), now)
    conn.data_to_send()
    conn.events_received()
    return conn


class TestHandshake:
    def test_first_frame_is_hello_without_resume_handshake_1(self) -> None:
        conn = ClientConnection()
        conn.connection_made(0.0)
        assert conn.state is HANDSHAKING
        assert sent(conn) == [{"type": "hello", "version": 1}]

    def test_hello_carries_the_token(self) -> None:
        conn = ClientConnection(token="secret-abc")
        conn.connection_made(0.0)
        assert sent(conn) == [{"type": "hello", "version": 1, "token": "secret-abc"}]

    def test_first_welcome_opens_without_reset(self) -> None:
        conn = ClientConnection()
        conn.connection_made(0.0)
        conn.receive_text(welcome(), 0.0)
        assert conn.state is OPEN
        assert conn.session == SESSION_A
        [welcomed] = conn.events_received()
        assert isinstance(welcomed, Welcomed)
        assert (welcomed.session, welcomed.resumed) == (SESSION_A, False)

    def test_hello_after_a_drop_asks_to_resume_from_last_seq_resume_1(self) -> None:
        conn = opened()
        conn.receive_text(event(1), 0.0)
        conn.receive_text(event(2), 0.0)
        conn.connection_lost()
        assert conn.state is IDLE
        conn.connection_made(1.0)
        assert sent(conn) == [
            {"type": "hello", "version": 1, "resume": {"session": SESSION_A, "seq": 2}}
        ]

    def test_frame_other_than_welcome_first_is_a_failure_handshake_2(self) -> None:
        conn = ClientConnection()
        conn.connection_made(0.0)
        conn.receive_text(event(1), 0.0)
        assert conn.state is CLOSED
        assert conn.failure is not None
        assert conn.failure.code == PROTOCOL_ERROR

    def test_ping_during_handshake_is_answered(self) -> None:
        conn = ClientConnection()
        conn.connection_made(0.0)
        conn.data_to_send()
        conn.receive_text('{"type":"ping","nonce":"n1"}', 0.0)
        assert conn.state is HANDSHAKING
        assert sent(conn) == [{"type": "pong", "nonce": "n1"}]

    def test_connection_made_twice_is_a_local_error(self) -> None:
        conn = ClientConnection()
        conn.connection_made(0.0)
        with pytest.raises(LocalProtocolError):
            conn.connection_made(0.0)

    def test_welcome_in_another_version_is_a_failure(self) -> None:
        conn = ClientConnection()
        conn.connection_made(0.0)
        frame = json.loads(welcome())
        frame["version"] = 2
        conn.receive_text(json.dumps(frame), 0.0)
        assert conn.failure is not None
        assert "version" in conn.failure.reason
        assert conn.session is None

    def test_second_welcome_is_a_failure(self) -> None:
        conn = opened()
        conn.receive_text(welcome(), 0.0)
        assert conn.failure is not None
        assert conn.failure.code == PROTOCOL_ERROR


class TestOperations:
    def test_operations_before_welcome_wait_for_it_in_order(self) -> None:
        conn = ClientConnection()
        first = conn.subscribe("conformance.a")
        second = conn.publish("conformance.a", {"mark": "m"})
        assert sent(conn) == []
        conn.connection_made(0.0)
        assert [f["type"] for f in sent(conn)] == ["hello"]
        conn.receive_text(welcome(), 0.0)
        assert sent(conn) == [
            {"type": "subscribe", "id": first, "channel": "conformance.a"},
            {"type": "publish", "id": second, "channel": "conformance.a", "data": {"mark": "m"}},
        ]

    def test_operations_when_open_go_out_at_once(self) -> None:
        conn = opened()
        op = conn.publish("conformance.a", [1, 2])
        assert sent(conn) == [
            {"type": "publish", "id": op, "channel": "conformance.a", "data": [1, 2]}
        ]
        assert op in conn.pending

    def test_ack_resolves_the_operation_ops_1(self) -> None:
        conn = opened()
        op = conn.publish("conformance.a", 1)
        conn.receive_text(json.dumps({"type": "ack", "id": op}), 0.0)
        [acked] = conn.events_received()
        assert isinstance(acked, Acked)
        assert acked.id == op
        assert acked.operation.channel == "conformance.a"
        assert conn.pending == {}

    def test_error_rejects_the_operation_with_its_details_ops_1(self) -> None:
        conn = opened()
        op = conn.publish("conformance.a", {})
        conn.receive_text(
            json.dumps(
                {
                    "type": "error",
                    "id": op,
                    "code": "invalid_payload",
                    "message": "data/mark: required",
                    "pointer": "/data/mark",
                    "channel": "conformance.a",
                }
            ),
            0.0,
        )
        [rejected] = conn.events_received()
        assert isinstance(rejected, Rejected)
        assert rejected.operation is not None
        assert rejected == Rejected(
            op,
            "invalid_payload",
            "data/mark: required",
            pointer="/data/mark",
            channel="conformance.a",
            operation=rejected.operation,
        )
        assert rejected.operation.id == op
        assert conn.pending == {}

    def test_an_unknown_error_code_refuses_like_internal_error_ops_19(self) -> None:
        conn = opened()
        op = conn.publish("conformance.a", 1)
        frame = {"type": "error", "id": op, "code": "future_code", "message": "newer server"}
        conn.receive_text(json.dumps(frame), 0.0)
        [rejected] = conn.events_received()
        assert isinstance(rejected, Rejected)
        assert (rejected.id, rejected.code) == (op, "internal_error")
        assert "future_code" in rejected.message
        assert conn.state is OPEN
        assert conn.pending == {}

    def test_error_without_id_is_reported_with_no_id(self) -> None:
        conn = opened()
        conn.receive_text('{"type":"error","code":"bad_frame","message":"x","pointer":""}', 0.0)
        [rejected] = conn.events_received()
        assert isinstance(rejected, Rejected)
        assert rejected.id is None

    def test_second_answer_to_an_answered_id_is_ignored_ops_9(self) -> None:
        conn = opened()
        op = conn.publish("conformance.a", 1)
        conn.receive_text(json.dumps({"type": "ack", "id": op}), 0.0)
        conn.receive_text(json.dumps({"type": "ack", "id": op}), 0.0)
        assert len(conn.events_received()) == 1

    def test_subscribe_twice_sends_one_frame(self) -> None:
        conn = opened()
        assert conn.subscribe("conformance.a") is not None
        assert conn.subscribe("conformance.a") is None
        assert conn.unsubscribe("conformance.b") is None
        assert len(sent(conn)) == 1

    def test_ids_are_never_reused(self) -> None:
        conn = opened()
        ids = [conn.publish("conformance.a", n) for n in range(50)]
        conn.connection_lost()
        conn.connection_made(0.0)
        conn.receive_text(welcome(SESSION_B), 0.0)
        ids += [conn.publish("conformance.a", n) for n in range(50)]
        assert len(set(ids)) == 100

    def test_outbox_is_bounded_and_overflow_is_typed(self) -> None:
        conn = ClientConnection(outbox_limit=3)
        for n in range(3):
            conn.publish("conformance.a", n)
        with pytest.raises(OutboxFull) as caught:
            conn.publish("conformance.a", 3)
        assert caught.value.limit == 3
        with pytest.raises(OutboxFull):
            conn.subscribe("conformance.b")
        # The refused subscribe left no trace: it is not wanted and not pending.
        assert conn.subscriptions == frozenset()
        assert len(conn.pending) == 3

    def test_forgotten_operation_is_not_re_sent(self) -> None:
        conn = opened()
        op = conn.publish("conformance.a", 1)
        conn.forget(op)
        conn.connection_lost()
        conn.connection_made(0.0)
        conn.receive_text(welcome(resumed=True), 0.0)
        assert [f["type"] for f in sent(conn)] == ["hello"]

    def test_refused_subscription_is_not_retried_on_a_new_session(self) -> None:
        conn = opened()
        op = conn.subscribe("conformance.nope")
        conn.receive_text(
            json.dumps({"type": "error", "id": op, "code": "unknown_channel", "message": "no"}),
            0.0,
        )
        assert conn.subscriptions == frozenset()
        conn.connection_lost()
        conn.connection_made(0.0)
        conn.receive_text(welcome(SESSION_B), 0.0)
        assert [f["type"] for f in sent(conn)] == ["hello"]


class TestDelivery:
    def test_events_come_out_in_order_with_their_channel(self) -> None:
        conn = opened()
        conn.receive_text(event(1, "conformance.a", {"n": 1}), 0.0)
        conn.receive_text(event(2, "conformance.b", {"n": 2}), 0.0)
        assert conn.events_received() == [
            EventReceived("conformance.a", {"n": 1}, 1),
            EventReceived("conformance.b", {"n": 2}, 2),
        ]
        assert conn.last_seq == 2

    def test_duplicate_is_dropped_client_3(self) -> None:
        conn = opened()
        conn.receive_text(event(1), 0.0)
        conn.receive_text(event(2), 0.0)
        conn.receive_text(event(2), 0.0)
        conn.receive_text(event(1), 0.0)
        assert [e.seq for e in conn.events_received() if isinstance(e, EventReceived)] == [1, 2]
        assert conn.state is OPEN

    def test_gap_fails_the_connection_and_resumes_from_last_contiguous_client_3(self) -> None:
        conn = opened()
        conn.receive_text(event(1), 0.0)
        conn.receive_text(event(3), 0.0)
        assert conn.state is CLOSED
        assert conn.failure is not None
        assert conn.failure.code == PROTOCOL_ERROR
        assert "gap" in conn.failure.reason
        assert conn.last_seq == 1
        conn.receive_text(event(2), 0.0)  # nothing more is read from a failed socket
        assert [e.seq for e in conn.events_received() if isinstance(e, EventReceived)] == [1]
        conn.connection_lost()
        conn.connection_made(0.0)
        assert sent(conn)[-1]["resume"] == {"session": SESSION_A, "seq": 1}

    @settings(max_examples=80, deadline=None)
    @given(
        st.lists(
            st.tuples(st.integers(min_value=0, max_value=5), st.integers(min_value=1, max_value=6)),
            max_size=25,
        )
    )
    def test_replayed_overlapping_runs_deliver_each_seq_once_in_order_client_3(
        self, runs: list[tuple[int, int]]
    ) -> None:
        """A server that repeats already delivered events (never skips) yields 1..n once each."""
        conn = opened()
        top = 0
        for back, length in runs:
            start = max(1, top + 1 - back)
            for seq in range(start, start + length):
                conn.receive_text(event(seq, data=seq), 0.0)
            top = max(top, start + length - 1)
        delivered = [e.seq for e in conn.events_received() if isinstance(e, EventReceived)]
        assert delivered == list(range(1, top + 1))
        assert conn.state is OPEN

    @settings(max_examples=40, deadline=None)
    @given(st.integers(min_value=0, max_value=20), st.integers(min_value=2, max_value=20))
    def test_any_skip_is_a_failure_client_3(self, before: int, skip: int) -> None:
        conn = opened()
        for seq in range(1, before + 1):
            conn.receive_text(event(seq), 0.0)
        conn.receive_text(event(before + skip), 0.0)
        assert conn.failure is not None
        assert conn.last_seq == before


class TestResume:
    def test_resumed_true_re_sends_pending_with_same_ids_resume_6(self) -> None:
        conn = opened()
        sub = conn.subscribe("conformance.a")
        pub = conn.publish("conformance.a", {"mark": "m"})
        conn.data_to_send()
        conn.receive_text(json.dumps({"type": "ack", "id": sub}), 0.0)
        conn.connection_lost()
        conn.connection_made(1.0)
        conn.data_to_send()
        conn.receive_text(welcome(resumed=True), 1.0)
        # The acked subscribe is kept by the server (RESUME-3); only the publish is re-sent.
        assert sent(conn) == [
            {"type": "publish", "id": pub, "channel": "conformance.a", "data": {"mark": "m"}}
        ]
        events = conn.events_received()
        assert not any(isinstance(e, Reset) for e in events)
        assert isinstance(events[-1], Welcomed)
        assert events[-1].resumed

    def test_resumed_false_resets_and_resubscribes_everything_resume_5_client_2(self) -> None:
        conn = opened()
        a = conn.subscribe("conformance.a")
        conn.subscribe("conformance.b")
        conn.receive_text(json.dumps({"type": "ack", "id": a}), 0.0)
        pub = conn.publish("conformance.a", 1)
        conn.receive_text(event(1), 0.0)
        conn.data_to_send()
        conn.events_received()
        conn.connection_lost()
        conn.connection_made(1.0)
        conn.data_to_send()
        conn.receive_text(welcome(SESSION_B, resumed=False), 1.0)
        assert conn.session == SESSION_B
        assert conn.last_seq == 0
        events = conn.events_received()
        assert Reset(SESSION_A, SESSION_B) in events
        frames = sent(conn)
        # conformance.a needs a new subscribe; conformance.b's subscribe is still pending and
        # goes again with its id; the pending publish is re-sent too (RESUME-6).
        types = [(f["type"], f["channel"]) for f in frames]
        assert sorted(types) == [
            ("publish", "conformance.a"),
            ("subscribe", "conformance.a"),
            ("subscribe", "conformance.b"),
        ]
        assert pub in {f["id"] for f in frames}
        assert a not in {f["id"] for f in frames}
        assert len({f["id"] for f in frames}) == 3
        # Events of the new session number from 1 again.
        conn.receive_text(event(1, data="fresh"), 1.0)
        assert conn.events_received() == [EventReceived("conformance.a", "fresh", 1)]

    def test_already_subscribed_answer_to_a_re_sent_subscribe_counts_as_ack(self) -> None:
        conn = opened()
        sub = conn.subscribe("conformance.a")
        conn.connection_lost()
        conn.connection_made(1.0)
        conn.receive_text(welcome(resumed=True), 1.0)
        conn.events_received()
        conn.receive_text(
            json.dumps({"type": "error", "id": sub, "code": "already_subscribed", "message": "x"}),
            1.0,
        )
        [acked] = conn.events_received()
        assert isinstance(acked, Acked)
        assert conn.subscriptions == {"conformance.a"}

    def test_unsubscribe_then_subscribe_in_flight_ends_subscribed_on_new_session(self) -> None:
        conn = opened()
        conn.subscribe("conformance.a")
        conn.unsubscribe("conformance.a")
        conn.subscribe("conformance.a")
        conn.connection_lost()
        conn.connection_made(1.0)
        conn.data_to_send()
        conn.receive_text(welcome(SESSION_B), 1.0)
        assert [f["type"] for f in sent(conn)] == ["subscribe", "unsubscribe", "subscribe"]

    def test_resumed_welcome_for_another_session_is_a_failure(self) -> None:
        conn = opened()
        conn.connection_lost()
        conn.connection_made(1.0)
        conn.receive_text(welcome(SESSION_B, resumed=True), 1.0)
        assert conn.failure is not None
        assert conn.failure.code == PROTOCOL_ERROR

    def test_resumed_welcome_behind_our_seq_is_a_failure(self) -> None:
        conn = opened()
        conn.receive_text(event(1), 0.0)
        conn.receive_text(event(2), 0.0)
        conn.connection_lost()
        conn.connection_made(1.0)
        conn.receive_text(welcome(resumed=True, seq=1), 1.0)
        assert conn.failure is not None

    def test_resumed_replay_continues_the_numbering_resume_3(self) -> None:
        conn = opened()
        conn.receive_text(event(1), 0.0)
        conn.connection_lost()
        conn.connection_made(1.0)
        conn.receive_text(welcome(resumed=True, seq=3), 1.0)
        conn.receive_text(event(1), 1.0)  # an overlap is dropped
        conn.receive_text(event(2), 1.0)
        conn.receive_text(event(3), 1.0)
        seqs = [e.seq for e in conn.events_received() if isinstance(e, EventReceived)]
        assert seqs == [1, 2, 3]


class TestHeartbeat:
    def test_ping_is_answered_with_same_nonce_heartbeat_2(self) -> None:
        conn = opened()
        conn.receive_text('{"type":"ping","nonce":"17"}', 0.0)
        conn.receive_text('{"type":"ping"}', 0.0)
        assert sent(conn) == [{"type": "pong", "nonce": "17"}, {"type": "pong"}]

    def test_silence_of_two_intervals_is_death_heartbeat_4(self) -> None:
        conn = ClientConnection()
        conn.connection_made(100.0)
        conn.receive_text(welcome(heartbeat_ms=2000), 100.0)
        for now in (101.0, 102.0, 103.0):
            conn.tick(now)  # keep-alive pings go out; the server says nothing
        assert conn.failure is None
        conn.receive_text('{"type":"pong"}', 103.0)  # any frame is a sign of life
        conn.tick(106.9)
        assert conn.failure is None
        conn.tick(107.0)
        assert conn.failure is not None
        assert conn.failure.code == CloseCode.HEARTBEAT_TIMEOUT
        assert conn.failure.send_close is False
        assert conn.next_deadline() is None

    def test_a_pause_in_reading_is_not_the_servers_silence_client_12(self) -> None:
        """[CLIENT-12] while its handlers were behind, the client read nothing: not silence."""
        conn = ClientConnection()
        conn.connection_made(100.0)
        conn.receive_text(welcome(heartbeat_ms=2000), 100.0)
        conn.reading_resumed(110.0)  # the I/O layer did not read from 100 to 110
        conn.tick(110.0)
        assert conn.failure is None
        conn.tick(113.9)
        assert conn.failure is None
        conn.tick(114.0)
        assert conn.failure is not None
        assert conn.failure.code == CloseCode.HEARTBEAT_TIMEOUT

    def test_deadline_is_the_nearer_of_keep_alive_and_silence(self) -> None:
        conn = ClientConnection()
        conn.connection_made(100.0)
        assert conn.next_deadline() == pytest.approx(130.0)  # default 15 s before welcome
        conn.receive_text(welcome(heartbeat_ms=2000), 100.0)
        assert conn.next_deadline() == pytest.approx(101.0)

    def test_client_that_said_nothing_pings_heartbeat_3(self) -> None:
        """The server closes a client silent for 2 intervals: a listener must speak up."""
        conn = ClientConnection()
        conn.connection_made(0.0)
        conn.receive_text(welcome(heartbeat_ms=2000), 0.0)
        conn.data_to_send()
        conn.tick(0.5)
        assert sent(conn) == []
        conn.tick(1.0)
        assert sent(conn) == [{"type": "ping", "nonce": "k1"}]
        conn.publish("conformance.a", 1)  # speaking counts: no ping needed next time
        conn.data_to_send()
        conn.receive_text('{"type":"pong","nonce":"k1"}', 1.5)
        conn.tick(2.0)
        assert sent(conn) == []
        conn.tick(3.0)
        assert sent(conn) == [{"type": "ping", "nonce": "k2"}]

    def test_no_deadline_without_a_socket(self) -> None:
        conn = ClientConnection()
        assert conn.next_deadline() is None
        conn.connection_made(5.0)
        conn.connection_lost()
        assert conn.next_deadline() is None

    def test_client_ping_only_when_open(self) -> None:
        conn = ClientConnection()
        conn.ping("x")
        assert sent(conn) == []
        opened(conn)
        conn.ping("x")
        assert sent(conn) == [{"type": "ping", "nonce": "x"}]


class TestTransportErrors:
    def test_binary_frame_closes_with_1003_transport_4(self) -> None:
        conn = opened()
        conn.receive_bytes(b"\x00")
        assert conn.failure is not None
        assert conn.failure.code == CloseCode.UNSUPPORTED_DATA

    @pytest.mark.parametrize("text", ["not json", "[1,2]", "NaN", '"x"'])
    def test_non_json_or_non_object_closes_with_1007_transport_5(self, text: str) -> None:
        conn = opened()
        conn.receive_text(text, 0.0)
        assert conn.failure is not None
        assert conn.failure.code == CloseCode.INVALID_PAYLOAD

    @pytest.mark.parametrize(
        "frame",
        [
            {"type": "hello", "version": 1},
            {"type": "event", "seq": 0, "channel": "a", "data": 1},
            {"type": "ack"},
            {"type": "surprise"},
        ],
    )
    def test_invalid_server_frame_is_a_protocol_error(self, frame: dict[str, Any]) -> None:
        conn = opened()
        conn.receive_text(json.dumps(frame), 0.0)
        assert conn.failure is not None
        assert conn.failure.code == PROTOCOL_ERROR

    def test_unknown_members_are_ignored_transport_7(self) -> None:
        conn = opened()
        conn.receive_text(
            json.dumps({"type": "event", "seq": 1, "channel": "a", "data": 1, "extra": True}), 0.0
        )
        assert conn.events_received() == [EventReceived("a", 1, 1)]

    def test_queued_frames_of_a_lost_socket_are_dropped_but_operations_kept(self) -> None:
        conn = opened()
        op = conn.publish("conformance.a", 1)
        conn.connection_lost()
        assert conn.data_to_send() == []
        assert op in conn.pending


class TestLocalErrors:
    def test_invalid_channel_name_is_refused_without_trace(self) -> None:
        conn = ClientConnection()
        with pytest.raises(ValueError, match="channel"):
            conn.subscribe("Not A Channel")
        with pytest.raises(ValueError, match="channel"):
            conn.publish("", 1)
        assert conn.subscriptions == frozenset()
        assert conn.pending == {}

    def test_data_that_is_not_json_is_refused_at_once(self) -> None:
        conn = ClientConnection()
        with pytest.raises(TypeError):
            conn.publish("conformance.a", {"x": object()})
        assert conn.pending == {}


# -- a model server and a state machine: drops, resumes and lost sessions at random ---------

from hypothesis.stateful import (  # noqa: E402
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

CHANNELS = ("conformance.a", "conformance.b", "conformance.c")


class ModelSession:
    def __init__(self, number: int) -> None:
        self.id = f"session{number:017d}"
        self.subscriptions: set[str] = set()
        self.seq = 0
        self.buffer: list[str] = []
        self.replies: dict[str, str] = {}


class ModelServer:
    """Just enough of a correct server: OPS-1/3/4/9, DELIVERY-1, RESUME-2/3."""

    def __init__(self) -> None:
        self.sessions: dict[str, ModelSession] = {}
        self.current: ModelSession | None = None
        self.applied: list[str] = []
        self.to_client: list[str] = []
        self.counter = 0
        self.attached = False
        """Whether a connection has said hello and not dropped since."""

    def receive(self, text: str, allow_resume: bool) -> None:
        frame = json.loads(text)
        kind = frame["type"]
        if kind == "hello":
            self.hello(frame, allow_resume)
            return
        session = self.current
        assert session is not None, f"{kind} before hello"
        if kind == "pong":
            return
        op_id = frame["id"]
        if op_id in session.replies:
            self.to_client.append(session.replies[op_id])  # [OPS-9] same answer again
            return
        reply = {"type": "ack", "id": op_id}
        channel = frame["channel"]
        if kind == "subscribe":
            if channel in session.subscriptions:
                reply = {"type": "error", "id": op_id, "code": "already_subscribed", "message": "x"}
            session.subscriptions.add(channel)
        elif kind == "unsubscribe":
            if channel not in session.subscriptions:
                reply = {"type": "error", "id": op_id, "code": "not_subscribed", "message": "x"}
            session.subscriptions.discard(channel)
        else:
            self.applied.append(op_id)
        session.replies[op_id] = json.dumps(reply)
        self.to_client.append(session.replies[op_id])

    def hello(self, frame: dict[str, Any], allow_resume: bool) -> None:
        self.attached = True
        resume = frame.get("resume")
        old = self.sessions.get(resume["session"]) if resume else None
        if old is not None and allow_resume and resume is not None and resume["seq"] <= old.seq:
            self.current = old
            self.to_client.append(welcome(old.id, resumed=True, seq=old.seq))
            self.to_client.extend(old.buffer[resume["seq"] :])
            return
        self.counter += 1
        self.current = ModelSession(self.counter)
        self.sessions[self.current.id] = self.current
        self.to_client.append(welcome(self.current.id))

    def emit(self, channel: str) -> None:
        session = self.current
        if session is None or channel not in session.subscriptions:
            return
        session.seq += 1
        text = event(session.seq, channel, {"n": session.seq})
        session.buffer.append(text)
        if self.attached:
            self.to_client.append(text)


class ClientMachine(RuleBasedStateMachine):
    """The client against the model server, with frames lost in both directions at random."""

    @initialize()
    def start(self) -> None:
        self.client = ClientConnection()
        self.server = ModelServer()
        self.to_server: list[str] = []
        self.connected = False
        self.allow_resume = True
        self.acked: list[str] = []
        self.published: set[str] = set()
        self.seen: list[EventReceived] = []
        self.session_seen: list[int] = []

    def collect(self) -> None:
        self.to_server.extend(self.client.data_to_send())
        for item in self.client.events_received():
            if isinstance(item, Acked):
                self.acked.append(item.id)
            elif isinstance(item, EventReceived):
                self.seen.append(item)
                self.session_seen.append(item.seq)
            elif isinstance(item, Reset):
                self.session_seen = []
            else:
                assert not isinstance(item, Rejected), item

    @rule(channel=st.sampled_from(CHANNELS))
    def subscribe(self, channel: str) -> None:
        self.client.subscribe(channel)
        self.collect()

    @rule(channel=st.sampled_from(CHANNELS))
    def unsubscribe(self, channel: str) -> None:
        self.client.unsubscribe(channel)
        self.collect()

    @rule(channel=st.sampled_from(CHANNELS))
    def publish(self, channel: str) -> None:
        self.published.add(self.client.publish(channel, {"mark": "m"}))
        self.collect()

    @precondition(lambda self: self.connected)
    @rule(count=st.integers(1, 5))
    def deliver_to_server(self, count: int) -> None:
        for text in self.to_server[:count]:
            self.server.receive(text, self.allow_resume)
        del self.to_server[:count]

    @precondition(lambda self: self.connected)
    @rule(count=st.integers(1, 5))
    def deliver_to_client(self, count: int) -> None:
        for text in self.server.to_client[:count]:
            self.client.receive_text(text, 0.0)
        del self.server.to_client[:count]
        self.collect()
        assert self.client.failure is None

    @rule(channel=st.sampled_from(CHANNELS))
    def server_emits(self, channel: str) -> None:
        self.server.emit(channel)

    @precondition(lambda self: self.connected)
    @rule()
    def drop(self) -> None:
        # Everything in flight is lost, both ways, as on a TCP cut.
        self.to_server.clear()
        self.server.to_client.clear()
        self.server.attached = False
        self.client.connection_lost()
        self.connected = False

    @precondition(lambda self: not self.connected)
    @rule(resume=st.booleans())
    def reconnect(self, resume: bool) -> None:
        self.allow_resume = resume
        self.client.connection_made(0.0)
        self.connected = True
        self.collect()

    @precondition(lambda self: self.connected)
    @rule()
    def settle(self) -> None:
        """Deliver everything: the client and the server must then agree."""
        while self.to_server or self.server.to_client:
            self.deliver_to_server(len(self.to_server) or 1)
            self.deliver_to_client(len(self.server.to_client) or 1)
        assert self.client.state is OPEN
        assert self.client.pending == {}
        assert self.server.current is not None
        assert self.server.current.id == self.client.session
        assert self.server.current.subscriptions == self.client.subscriptions
        # [RESUME-6] every publish was applied, at least once.
        assert self.published <= set(self.server.applied)

    @invariant()
    def events_are_contiguous_per_session(self) -> None:
        # [CLIENT-3] no duplicate, no gap, in the order of the session.
        if self.session_seen:
            start = self.session_seen[0]
            assert self.session_seen == list(range(start, start + len(self.session_seen)))

    @invariant()
    def each_operation_is_answered_once(self) -> None:
        assert len(self.acked) == len(set(self.acked))
        assert {i for i in self.acked if i in self.published} <= set(self.server.applied)


TestClientMachine = ClientMachine.TestCase
TestClientMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


class TestFrameSize:
    def test_publish_over_max_frame_bytes_is_refused_locally_limit_2(self) -> None:
        conn = opened()
        with pytest.raises(FrameTooLarge) as caught:
            conn.publish("conformance.a", "x" * 70000)
        assert caught.value.limit == 65536
        assert caught.value.size > 65536
        assert conn.pending == {}
        assert sent(conn) == []

    def test_oversized_operation_queued_before_welcome_is_dropped_limit_2(self) -> None:
        conn = ClientConnection()
        big = conn.publish("conformance.a", "é" * 40000)  # 80000 bytes in UTF-8
        small = conn.publish("conformance.a", "ok")
        conn.connection_made(0.0)
        conn.data_to_send()
        conn.receive_text(welcome(), 0.0)
        assert [f["id"] for f in sent(conn)] == [small]
        dropped = [e for e in conn.events_received() if isinstance(e, Dropped)]
        assert [d.id for d in dropped] == [big]
        assert isinstance(dropped[0].error, FrameTooLarge)
