"""The play queue model (standard-channels.md, playqueue, QUEUE-2, QUEUE-3)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canaux.protocol.codes import ErrorCode
from canaux.server.broker import MemoryBroker
from canaux.server.channels.playqueue import CommandRefused, PlayQueue, QueueState


def track(n: int) -> dict[str, Any]:
    return {"id": f"t{n}", "title": f"Track {n}"}


def queue(size: int, current: int | None = None, playing: bool = False) -> QueueState:
    return QueueState(
        version=5, items=tuple(track(i) for i in range(size)), current=current, playing=playing
    )


def ids(state: QueueState) -> list[str]:
    return [item["id"] for item in state.items]


def refused(state: QueueState, command: dict[str, Any]) -> CommandRefused:
    with pytest.raises(CommandRefused) as info:
        state.apply(command)
    return info.value


class TestAdd:
    def test_add_appends_by_default_and_keeps_current_null_on_empty_queue(self) -> None:
        after = QueueState().apply({"op": "add", "track": track(1)})
        assert ids(after) == ["t1"]
        assert after.current is None
        assert after.version == 1

    def test_add_at_index_inserts_there(self) -> None:
        after = queue(3).apply({"op": "add", "track": track(9), "index": 1})
        assert ids(after) == ["t0", "t9", "t1", "t2"]

    def test_add_at_len_is_allowed(self) -> None:
        assert ids(queue(2).apply({"op": "add", "track": track(9), "index": 2}))[-1] == "t9"

    def test_add_before_current_keeps_current_on_same_track(self) -> None:
        after = queue(3, current=1).apply({"op": "add", "track": track(9), "index": 0})
        assert after.current == 2
        assert after.items[after.current]["id"] == "t1"

    def test_add_after_current_leaves_current(self) -> None:
        assert queue(3, current=1).apply({"op": "add", "track": track(9)}).current == 1

    @pytest.mark.parametrize("index", [-1, 4, 100])
    def test_add_out_of_range_is_invalid_command(self, index: int) -> None:
        error = refused(queue(3), {"op": "add", "track": track(9), "index": index})
        assert error.code is ErrorCode.INVALID_COMMAND
        assert error.pointer == "/data/index"


class TestRemove:
    def test_remove_before_current_shifts_current(self) -> None:
        after = queue(4, current=2).apply({"op": "remove", "index": 0})
        assert ids(after) == ["t1", "t2", "t3"]
        assert after.current == 1

    def test_remove_after_current_leaves_current(self) -> None:
        assert queue(4, current=1).apply({"op": "remove", "index": 3}).current == 1

    def test_remove_current_keeps_index_when_a_track_follows(self) -> None:
        after = queue(4, current=1, playing=True).apply({"op": "remove", "index": 1})
        assert after.current == 1
        assert after.items[1]["id"] == "t2"
        assert after.playing

    def test_remove_current_last_moves_to_new_last(self) -> None:
        after = queue(3, current=2).apply({"op": "remove", "index": 2})
        assert after.current == 1

    def test_remove_last_item_empties_and_stops(self) -> None:
        after = queue(1, current=0, playing=True).apply({"op": "remove", "index": 0})
        assert after.items == ()
        assert after.current is None
        assert after.playing is False

    @pytest.mark.parametrize("index", [-1, 3])
    def test_remove_out_of_range(self, index: int) -> None:
        assert refused(queue(3), {"op": "remove", "index": index}).pointer == "/data/index"

    def test_remove_on_empty_queue(self) -> None:
        assert refused(QueueState(), {"op": "remove", "index": 0}).code is ErrorCode.INVALID_COMMAND


class TestMove:
    def test_move_forward(self) -> None:
        after = queue(4).apply({"op": "move", "from": 0, "to": 3})
        assert ids(after) == ["t1", "t2", "t3", "t0"]

    def test_move_backward(self) -> None:
        after = queue(4).apply({"op": "move", "from": 3, "to": 1})
        assert ids(after) == ["t0", "t3", "t1", "t2"]

    @pytest.mark.parametrize(
        ("source", "target", "current"),
        [(0, 3, 1), (3, 0, 1), (1, 3, 1), (2, 0, 0), (0, 1, 3), (2, 2, 2)],
    )
    def test_current_follows_its_track(self, source: int, target: int, current: int) -> None:
        before = queue(4, current=current)
        after = before.apply({"op": "move", "from": source, "to": target})
        assert after.current is not None
        assert after.items[after.current]["id"] == before.items[current]["id"]

    @pytest.mark.parametrize(
        ("source", "target", "pointer"), [(4, 0, "/data/from"), (0, 4, "/data/to")]
    )
    def test_move_out_of_range(self, source: int, target: int, pointer: str) -> None:
        assert refused(queue(4), {"op": "move", "from": source, "to": target}).pointer == pointer


class TestPlayback:
    def test_clear_empties_and_stops(self) -> None:
        after = queue(3, current=1, playing=True).apply({"op": "clear"})
        assert (after.items, after.current, after.playing) == ((), None, False)
        assert after.version == 6

    def test_play_index_selects_and_plays(self) -> None:
        after = queue(3).apply({"op": "play", "index": 2})
        assert (after.current, after.playing) == (2, True)

    def test_play_without_index_starts_at_zero(self) -> None:
        assert queue(3).apply({"op": "play"}).current == 0

    def test_play_without_index_resumes_current(self) -> None:
        after = queue(3, current=2).apply({"op": "play"})
        assert (after.current, after.playing) == (2, True)

    def test_play_on_empty_queue_is_invalid(self) -> None:
        assert refused(QueueState(), {"op": "play"}).code is ErrorCode.INVALID_COMMAND

    def test_play_out_of_range(self) -> None:
        assert refused(queue(2), {"op": "play", "index": 2}).pointer == "/data/index"

    def test_pause(self) -> None:
        after = queue(2, current=0, playing=True).apply({"op": "pause"})
        assert (after.current, after.playing) == (0, False)

    def test_next_and_previous(self) -> None:
        middle = queue(3, current=1)
        assert middle.apply({"op": "next"}).current == 2
        assert middle.apply({"op": "previous"}).current == 0

    @pytest.mark.parametrize(
        ("state", "op"),
        [
            (queue(3, current=2), "next"),
            (queue(3, current=0), "previous"),
            (queue(3), "next"),
            (queue(3), "previous"),
            (QueueState(), "next"),
        ],
    )
    def test_next_previous_at_the_edges_are_invalid(self, state: QueueState, op: str) -> None:
        assert refused(state, {"op": op}).code is ErrorCode.INVALID_COMMAND


class TestVersions:
    def test_if_version_matching_applies(self) -> None:
        assert queue(1).apply({"op": "pause", "if_version": 5}).version == 6

    def test_if_version_mismatch_is_version_conflict(self) -> None:
        error = refused(queue(1), {"op": "pause", "if_version": 4})
        assert error.code is ErrorCode.VERSION_CONFLICT
        assert error.pointer == "/data/if_version"

    def test_unknown_op_is_invalid(self) -> None:
        assert refused(queue(1), {"op": "shuffle"}).pointer == "/data/op"

    def test_event_round_trip(self) -> None:
        state = queue(2, current=1, playing=True)
        event = state.to_event()
        assert event["type"] == "state"
        assert QueueState.from_event(event) == state


_commands = st.one_of(
    st.builds(
        lambda n, i: {"op": "add", "track": track(n), "index": i},
        st.integers(100, 10_000),
        st.one_of(st.none(), st.integers(-1, 6)),
    ),
    st.builds(lambda i: {"op": "remove", "index": i}, st.integers(-1, 6)),
    st.builds(
        lambda a, b: {"op": "move", "from": a, "to": b}, st.integers(-1, 6), st.integers(-1, 6)
    ),
    st.builds(lambda i: {"op": "play", "index": i}, st.one_of(st.none(), st.integers(-1, 6))),
    st.sampled_from([{"op": "clear"}, {"op": "pause"}, {"op": "next"}, {"op": "previous"}]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_commands, max_size=30))
def test_invariants_hold_for_any_command_sequence(commands: list[dict[str, Any]]) -> None:
    """QUEUE-2: applied → version + 1; refused → unchanged; current is always a valid index."""
    state = QueueState()
    for command in commands:
        try:
            after = state.apply(command)
        except CommandRefused:
            continue
        assert after.version == state.version + 1
        if not after.items:
            assert after.current is None
            assert after.playing is False
        else:
            assert after.current is None or 0 <= after.current < len(after.items)
        # The current track stays the same track unless it was removed or the queue cleared.
        if state.current is not None and command["op"] in ("add", "move"):
            assert after.current is not None
            assert after.items[after.current] == state.items[state.current]
        state = after


@pytest.mark.anyio
async def test_refused_command_changes_nothing_and_broadcasts_nothing() -> None:
    """QUEUE-2, QUEUE-3 through the broker: one atomic step per applied command."""
    broker = MemoryBroker()
    seen: list[Any] = []
    broker.attach(lambda message: seen.append(message.data))
    await broker.subscribe("playqueue")
    queue_ = PlayQueue(broker)
    first = await queue_.command({"op": "add", "track": track(1)})
    assert first.version == 1
    with pytest.raises(CommandRefused):
        await queue_.command({"op": "remove", "index": 5})
    assert (await queue_.snapshot()) == first
    assert [event["version"] for event in seen] == [1]
