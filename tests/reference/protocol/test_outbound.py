"""Tests of canaux.protocol.outbound: the one queue type of every connection
(operations.md, limits.md)."""

from __future__ import annotations

import pytest

from canaux.protocol.outbound import OutboundQueue


class TestOrder:
    def test_frames_leave_in_order(self) -> None:
        queue = OutboundQueue(8)
        for text in ("a", "b", "c"):
            assert queue.put(text)
        assert queue.take() == ["a", "b", "c"]
        assert queue.take() == []

    def test_replies_leave_in_request_order_whatever_order_they_are_decided_in(self) -> None:
        """[OPS-2]"""
        queue = OutboundQueue(8)
        queue.expect("r1")
        queue.expect("r2")
        assert queue.fill("r2", "ack r2")
        assert queue.take() == []
        assert queue.pending_replies == ["r1"]
        assert queue.fill("r1", "ack r1")
        assert queue.take() == ["ack r1", "ack r2"]

    def test_an_event_does_not_overtake_a_decided_reply_that_waits(self) -> None:
        """[CHAT-1] the chunk goes after its ack, which waits for an earlier reply."""
        queue = OutboundQueue(8)
        queue.expect("p1")
        queue.expect("p2")
        queue.put("early", after_replies=True)  # nothing decided yet: out at once
        queue.fill("p2", "ack p2")
        queue.put("chunk", after_replies=True)
        queue.put("pong")  # not an event: never held back
        assert queue.take() == ["early", "pong"]
        queue.fill("p1", "error p1")
        assert queue.take() == ["error p1", "ack p2", "chunk"]

    def test_replies_are_held_back_until_released(self) -> None:
        """[HANDSHAKE-2] nothing before the welcome."""
        queue = OutboundQueue(8)
        queue.hold_replies = True
        queue.expect(None, "bad_frame")
        queue.put("welcome")
        assert queue.take() == ["welcome"]
        queue.release()
        assert queue.take() == ["bad_frame"]

    def test_filling_an_unknown_reply_is_refused(self) -> None:
        queue = OutboundQueue(8)
        assert queue.fill("never", "ack") is False


class TestBound:
    def test_an_entry_beyond_the_limit_overflows_and_empties_the_queue(self) -> None:
        """[LIMIT-4]"""
        queue = OutboundQueue(2)
        assert queue.put("a")
        assert queue.put("b")
        assert not queue.put("c")
        assert queue.overflowed
        assert queue.take() == []
        assert not queue.put("d")

    def test_reply_slots_count_towards_the_limit(self) -> None:
        queue = OutboundQueue(2)
        queue.expect("r1")
        queue.put("a")
        assert not queue.expect("r2")
        assert queue.overflowed

    def test_an_unbounded_put_always_fits(self) -> None:
        """The welcome and the replay of a stream are bounded by resume_buffer already."""
        queue = OutboundQueue(1)
        assert queue.put("welcome", bounded=False)
        assert queue.put("replay", bounded=False)
        assert queue.take() == ["welcome", "replay"]

    def test_a_closed_queue_takes_nothing_more_but_keeps_what_it_has(self) -> None:
        queue = OutboundQueue(4)
        queue.put("a")
        queue.close()
        assert not queue.put("b")
        assert queue.take() == ["a"]

    def test_the_limit_is_at_least_one(self) -> None:
        with pytest.raises(ValueError, match="at least 1"):
            OutboundQueue(0)


class TestByteBound:
    """[LIMIT-4] the queue is bounded in UTF-8 bytes as well as in frames."""

    def test_a_frame_taking_the_queue_over_its_bytes_overflows_it(self) -> None:
        queue = OutboundQueue(100, max_bytes=10)
        assert queue.put("aaaa")
        assert queue.put("bbbbbb")  # exactly 10 bytes: fits
        assert queue.queued_bytes == 10
        assert not queue.put("c")
        assert queue.overflowed
        assert queue.take() == []

    def test_bytes_are_counted_in_utf8_not_characters(self) -> None:
        queue = OutboundQueue(100, max_bytes=10)
        assert queue.put("é" * 5)  # 5 characters, 10 bytes
        assert queue.queued_bytes == 10
        assert not queue.put("x")

    def test_a_frame_that_finds_the_queue_empty_always_fits(self) -> None:
        """One event larger than the bound never cuts a client that reads."""
        queue = OutboundQueue(100, max_bytes=10)
        assert queue.put("x" * 50)
        assert queue.take() == ["x" * 50]
        assert queue.queued_bytes == 0
        assert queue.put("y" * 50)
        assert not queue.put("z")
        assert queue.overflowed

    def test_taking_frees_the_bytes(self) -> None:
        queue = OutboundQueue(100, max_bytes=10)
        for _ in range(20):
            assert queue.put("12345678")
            assert queue.take() == ["12345678"]
        assert not queue.overflowed

    def test_decided_replies_count_and_move_with_their_bytes(self) -> None:
        queue = OutboundQueue(100, max_bytes=10)
        queue.expect("r1")
        queue.expect("r2", "ack2")
        assert queue.queued_bytes == 4
        assert queue.fill("r1", "ack1")
        assert queue.queued_bytes == 8
        assert queue.take() == ["ack1", "ack2"]
        assert queue.queued_bytes == 0

    def test_the_welcome_and_replay_do_not_count_against_live_events(self) -> None:
        """A full replay (bounded by the resume buffer) never cuts the client that asked."""
        queue = OutboundQueue(2, max_bytes=10)
        assert queue.put("w" * 8, bounded=False)
        assert queue.put("r" * 8, bounded=False)
        assert queue.put("r" * 8, bounded=False)
        assert queue.put("live1")
        assert queue.put("live2")
        assert not queue.put("live3")  # beyond 2 frames and 10 bytes of live events
        assert queue.overflowed

    def test_no_byte_bound_by_default(self) -> None:
        queue = OutboundQueue(3)
        assert queue.put("x" * 1_000_000)
        assert queue.put("y" * 1_000_000)


class TestIdle:
    def test_no_reply_deque_while_no_reply_is_awaited(self) -> None:
        queue = OutboundQueue(8)
        assert queue._held is None  # an idle connection holds no empty deque (760 B)
        queue.expect("r1")
        assert queue._held is not None
        queue.fill("r1", "ack")
        assert queue._held is None
        assert queue.take() == ["ack"]
        queue.expect("r2")
        queue.drop_replies()
        assert queue._held is None
        assert queue.pending_replies == []
