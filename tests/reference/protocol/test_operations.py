"""Tests of canaux.protocol.operations: subscribe, unsubscribe, publish rules
(spec channels.md, operations.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from canaux.protocol import frames
from canaux.protocol.channels import Catalogue
from canaux.protocol.codes import ErrorCode
from canaux.protocol.limits import Limits
from canaux.protocol.operations import (
    Effect,
    Outcome,
    check_stream_channels,
    commit,
    decide_publish,
    decide_subscribe,
    decide_unsubscribe,
    refuse,
)
from canaux.protocol.session import SessionState

CATALOGUE = Catalogue.standard(conformance=True)


# Each helper decides, then commits: what a server does once the effect happened.


def subscribe(session: SessionState, channel: str, id: str = "s1") -> Outcome:
    frame = frames.Subscribe(id=id, channel=channel)
    return commit(session, decide_subscribe(session, CATALOGUE, frame))


def unsubscribe(session: SessionState, channel: str, id: str = "u1") -> Outcome:
    return commit(session, decide_unsubscribe(session, frames.Unsubscribe(id=id, channel=channel)))


def publish(session: SessionState, channel: str, data: Any, id: str = "p1") -> Outcome:
    frame = frames.Publish(id=id, channel=channel, data=data)
    return commit(session, decide_publish(session, CATALOGUE, frame))


def reply(outcome: Outcome) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(outcome.reply)
    return value


@pytest.fixture
def session() -> SessionState:
    return SessionState(None, Limits())


class TestSubscribe:
    def test_subscribe_to_a_catalogue_channel_is_acked_and_recorded(
        self, session: SessionState
    ) -> None:
        """[OPS-1] [OPS-6]"""
        outcome = subscribe(session, "conformance.demo")
        assert (outcome.effect, outcome.ok) == (Effect.SUBSCRIBE, True)
        assert reply(outcome) == {"type": "ack", "id": "s1"}
        assert "conformance.demo" in session.subscriptions

    def test_unknown_channel_is_refused_and_nothing_changes(self, session: SessionState) -> None:
        """[CHANNEL-3]"""
        outcome = subscribe(session, "nowhere")
        assert outcome.error is ErrorCode.UNKNOWN_CHANNEL
        assert reply(outcome)["pointer"] == "/channel"
        assert session.subscriptions == {}

    def test_second_subscribe_is_already_subscribed(self, session: SessionState) -> None:
        """[OPS-3]"""
        subscribe(session, "chat", id="s1")
        outcome = subscribe(session, "chat", id="s2")
        assert (outcome.effect, outcome.error) == (Effect.NONE, ErrorCode.ALREADY_SUBSCRIBED)
        assert list(session.subscriptions) == ["chat"]

    def test_subscribe_beyond_the_limit_is_too_many_subscriptions(self) -> None:
        """[OPS-5] [LIMIT-9] exactly max_subscriptions are accepted."""
        session = SessionState(None, Limits(max_subscriptions=8))
        for n in range(8):
            assert subscribe(session, f"conformance.c{n}", id=f"s{n}").ok
        outcome = subscribe(session, "conformance.c8", id="s8")
        assert outcome.error is ErrorCode.TOO_MANY_SUBSCRIPTIONS
        assert len(session.subscriptions) == 8


class TestUnsubscribe:
    def test_unsubscribe_removes_the_subscription(self, session: SessionState) -> None:
        subscribe(session, "chat")
        outcome = unsubscribe(session, "chat")
        assert (outcome.effect, reply(outcome)) == (Effect.UNSUBSCRIBE, {"type": "ack", "id": "u1"})
        assert session.subscriptions == {}

    @pytest.mark.parametrize("channel", ["chat", "nowhere"])
    def test_unsubscribe_when_not_subscribed_is_not_subscribed(
        self, session: SessionState, channel: str
    ) -> None:
        """[OPS-4] [OPS-14] even for a channel not in the catalogue."""
        assert unsubscribe(session, channel).error is ErrorCode.NOT_SUBSCRIBED


class TestPublish:
    def test_valid_publish_is_to_be_delivered_then_acked(self, session: SessionState) -> None:
        """[OPS-7]"""
        outcome = publish(session, "conformance.demo", {"mark": "m-1"})
        assert (outcome.effect, reply(outcome)) == (Effect.PUBLISH, {"type": "ack", "id": "p1"})

    def test_publish_on_unknown_channel(self, session: SessionState) -> None:
        """[CHANNEL-3]"""
        assert publish(session, "nowhere", {}).error is ErrorCode.UNKNOWN_CHANNEL

    def test_publish_on_a_server_channel_is_forbidden(self, session: SessionState) -> None:
        """[CHANNEL-4] checked before the payload [CHANNEL-14]."""
        outcome = publish(session, "system", "not even an object")
        assert (outcome.effect, outcome.error) == (Effect.NONE, ErrorCode.FORBIDDEN)

    def test_invalid_payload_names_the_pointer(self, session: SessionState) -> None:
        """[CHANNEL-5]"""
        outcome = publish(session, "conformance.demo", {"mark": ""})
        assert reply(outcome) == {
            "type": "error",
            "code": "invalid_payload",
            "message": "data/mark: too short",
            "id": "p1",
            "channel": "conformance.demo",
            "pointer": "/data/mark",
        }

    def test_every_reply_is_a_valid_server_frame(self, session: SessionState) -> None:
        for outcome in (
            publish(session, "nowhere", {}, id="a"),
            publish(session, "system", {}, id="b"),
            publish(session, "chat", {}, id="c"),
            publish(session, "chat", {"type": "message", "text": "hi"}, id="d"),
        ):
            frames.parse_server_frame(json.loads(outcome.reply))


class TestIdempotency:
    """[OPS-9] [OPS-16] an answered id is not applied again and gets the same reply."""

    def test_repeated_publish_is_not_delivered_again(self, session: SessionState) -> None:
        first = publish(session, "conformance.demo", {"mark": "m"})
        again = publish(session, "conformance.demo", {"mark": "different"})
        assert (again.effect, again.replayed, again.reply) == (Effect.NONE, True, first.reply)

    def test_repeated_refusal_gives_the_same_error(self, session: SessionState) -> None:
        first = publish(session, "system", {})
        again = publish(session, "system", {})
        assert (again.reply, again.error, again.replayed) == (
            first.reply,
            ErrorCode.FORBIDDEN,
            True,
        )

    def test_repeated_subscribe_is_acked_again_not_already_subscribed(
        self, session: SessionState
    ) -> None:
        subscribe(session, "chat", id="s1")
        again = subscribe(session, "chat", id="s1")
        assert (again.ok, again.replayed, again.effect) == (True, True, Effect.NONE)

    def test_repeated_unsubscribe_does_not_unsubscribe_a_later_subscription(
        self, session: SessionState
    ) -> None:
        subscribe(session, "chat", id="s1")
        unsubscribe(session, "chat", id="u1")
        subscribe(session, "chat", id="s2")
        again = unsubscribe(session, "chat", id="u1")
        assert (again.ok, again.effect) == (True, Effect.NONE)
        assert "chat" in session.subscriptions

    def test_an_internal_error_is_not_remembered_so_a_retry_is_applied(
        self, session: SessionState
    ) -> None:
        """[OPS-17] the failed frame took no effect: the same id sent again is processed."""
        publish(session, "conformance.demo", {"mark": "m"})
        refuse(session, "p1", ErrorCode.INTERNAL_ERROR, "the server failed on this frame")
        assert session.reply_for("p1") is None
        retry = publish(session, "conformance.demo", {"mark": "m"})
        assert (retry.effect, retry.replayed) == (Effect.PUBLISH, False)

    def test_a_refusal_decided_by_the_server_replaces_the_ack(self, session: SessionState) -> None:
        """[QUEUE-3] the channel handler refuses after the generic checks passed."""
        publish(session, "playqueue", {"op": "next"})
        text = refuse(session, "p1", ErrorCode.INVALID_COMMAND, "no next track", pointer="/data")
        again = publish(session, "playqueue", {"op": "next"})
        assert (again.reply, again.error) == (text, ErrorCode.INVALID_COMMAND)


class TestDecideThenCommit:
    def test_a_decision_changes_nothing_until_it_is_committed(self, session: SessionState) -> None:
        """Decide, then commit: a subscribe whose effect failed needs no rollback."""
        decided = decide_subscribe(session, CATALOGUE, frames.Subscribe(id="s1", channel="chat"))
        assert (decided.effect, decided.committed) == (Effect.SUBSCRIBE, False)
        assert "chat" not in session.subscriptions
        assert session.reply_for("s1") is None
        committed = commit(session, decided)
        assert committed.committed
        assert list(session.subscriptions) == ["chat"]
        assert session.reply_for("s1") == committed.reply  # [OPS-9]

    def test_an_unsubscribe_takes_effect_on_commit_only(self, session: SessionState) -> None:
        subscribe(session, "chat")
        decided = decide_unsubscribe(session, frames.Unsubscribe(id="u1", channel="chat"))
        assert "chat" in session.subscriptions
        commit(session, decided)
        assert "chat" not in session.subscriptions

    def test_a_refusal_is_remembered_when_committed(self, session: SessionState) -> None:
        """[OPS-9] the same error again, even once the channel exists for the session."""
        decided = decide_unsubscribe(session, frames.Unsubscribe(id="u1", channel="chat"))
        assert decided.error is ErrorCode.NOT_SUBSCRIBED
        commit(session, decided)
        subscribe(session, "chat", id="s1")
        again = unsubscribe(session, "chat", id="u1")
        assert (again.replayed, again.error) == (True, ErrorCode.NOT_SUBSCRIBED)
        assert "chat" in session.subscriptions

    def test_committing_twice_records_once(self, session: SessionState) -> None:
        committed = subscribe(session, "chat")
        assert commit(session, committed) is committed


class TestStreamChannels:
    """[SSE-3] the channels of a new SSE stream, by the rules of a subscribe frame."""

    @pytest.mark.parametrize(
        ("names", "code"),
        [
            ([], ErrorCode.BAD_FRAME),
            (["chat", "bad name"], ErrorCode.BAD_FRAME),
            (["chat", "nope"], ErrorCode.UNKNOWN_CHANNEL),
            ([f"conformance.c{n}" for n in range(9)], ErrorCode.TOO_MANY_SUBSCRIPTIONS),
        ],
    )
    def test_refused(self, names: list[str], code: ErrorCode) -> None:
        refusal = check_stream_channels(CATALOGUE, Limits(max_subscriptions=8), names)
        assert refusal is not None
        assert refusal.code is code

    def test_accepted(self) -> None:
        assert (
            check_stream_channels(CATALOGUE, Limits(max_subscriptions=8), ["chat", "system"])
            is None
        )


class TestReplyMemoryCountsFirstAnswers:
    """[OPS-9] the remembered ids are those of the last ``resume_buffer`` frames answered for
    the first time: a copy answered again from memory neither refreshes its id nor pushes
    another out."""

    @pytest.fixture
    def tight(self) -> SessionState:
        # The spec's least memory: exactly the resume buffer.
        return SessionState(None, Limits(resume_buffer=3, dedup_ids=3))

    def test_a_replay_does_not_make_its_id_newer(self, tight: SessionState) -> None:
        subscribe(tight, "conformance.c", id="s0")
        unsubscribe(tight, "conformance.f", id="x1")  # not_subscribed: answered, remembered
        unsubscribe(tight, "conformance.c", id="t")
        unsubscribe(tight, "conformance.f", id="x2")
        assert unsubscribe(tight, "conformance.f", id="x1").replayed
        subscribe(tight, "conformance.c", id="s2")
        # The last three first answers are t, x2, s2: x1 is the one to go, not t.
        assert tight.reply_for("x1") is None
        again = unsubscribe(tight, "conformance.c", id="t")
        assert (again.replayed, again.effect) == (True, Effect.NONE)
        assert "conformance.c" in tight.subscriptions

    def test_replays_push_no_id_out(self, tight: SessionState) -> None:
        for frame_id in ("a", "b", "c"):
            unsubscribe(tight, "conformance.f", id=frame_id)
        for _ in range(5):
            assert unsubscribe(tight, "conformance.f", id="a").replayed
        assert all(tight.reply_for(i) is not None for i in ("a", "b", "c"))
