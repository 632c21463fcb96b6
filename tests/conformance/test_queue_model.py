"""The suite's playqueue model against the contract's playqueue semantics
(standard-channels.md, QUEUE-2/3)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canaux_conformance.queue_model import (
    INVALID_COMMAND,
    VERSION_CONFLICT,
    QueueState,
    Refusal,
    apply,
)


def track(n: int) -> dict[str, Any]:
    return {"id": f"t{n}", "title": f"Track {n}"}


def queue(
    n: int, current: int | None = None, playing: bool = False, version: int = 5
) -> QueueState:
    return QueueState(
        version=version, items=tuple(track(i) for i in range(n)), current=current, playing=playing
    )


def applied(state: QueueState, command: dict[str, Any]) -> QueueState:
    result = apply(state, command)
    assert isinstance(result, QueueState), result
    return result


def refused(state: QueueState, command: dict[str, Any]) -> Refusal:
    result = apply(state, command)
    assert isinstance(result, Refusal), result
    return result


def ids(state: QueueState) -> list[str]:
    return [item["id"] for item in state.items]


class TestAdd:
    def test_add_appends_by_default_and_keeps_current_null_on_empty_queue(self) -> None:
        after = applied(queue(0), {"op": "add", "track": track(9)})
        assert ids(after) == ["t9"]
        assert after.current is None
        assert after.version == 6

    def test_add_at_index_inserts_there(self) -> None:
        assert ids(applied(queue(3), {"op": "add", "track": track(9), "index": 1})) == [
            "t0",
            "t9",
            "t1",
            "t2",
        ]

    def test_add_at_length_is_allowed(self) -> None:
        assert ids(applied(queue(2), {"op": "add", "track": track(9), "index": 2}))[-1] == "t9"

    def test_add_beyond_length_is_invalid(self) -> None:
        assert refused(queue(2), {"op": "add", "track": track(9), "index": 3}).codes == {
            INVALID_COMMAND
        }

    def test_insertion_before_current_keeps_the_same_track_current(self) -> None:
        after = applied(queue(3, current=1), {"op": "add", "track": track(9), "index": 1})
        assert after.current == 2
        assert after.items[2]["id"] == "t1"

    def test_insertion_after_current_leaves_current(self) -> None:
        assert (
            applied(queue(3, current=1), {"op": "add", "track": track(9), "index": 2}).current == 1
        )


class TestRemove:
    def test_remove_requires_an_index_in_range(self) -> None:
        assert refused(queue(2), {"op": "remove", "index": 2}).codes == {INVALID_COMMAND}
        assert refused(queue(0), {"op": "remove", "index": 0}).codes == {INVALID_COMMAND}

    def test_remove_before_current_decrements_current(self) -> None:
        assert applied(queue(3, current=2), {"op": "remove", "index": 0}).current == 1

    def test_remove_after_current_leaves_current(self) -> None:
        assert applied(queue(3, current=0), {"op": "remove", "index": 2}).current == 0

    def test_remove_current_keeps_the_index_when_still_in_range(self) -> None:
        after = applied(queue(3, current=1, playing=True), {"op": "remove", "index": 1})
        assert (after.current, after.playing, ids(after)) == (1, True, ["t0", "t2"])

    def test_remove_current_last_item_moves_current_to_new_last(self) -> None:
        assert applied(queue(3, current=2), {"op": "remove", "index": 2}).current == 1

    def test_remove_last_remaining_item_empties_current_and_stops_playing(self) -> None:
        after = applied(queue(1, current=0, playing=True), {"op": "remove", "index": 0})
        assert (after.items, after.current, after.playing) == ((), None, False)

    def test_remove_with_no_current_keeps_none(self) -> None:
        assert applied(queue(2), {"op": "remove", "index": 0}).current is None


class TestMove:
    @pytest.mark.parametrize(("source", "target", "expected"), [(0, 2, 2), (2, 0, 0), (1, 1, 1)])
    def test_current_follows_the_moved_item(self, source: int, target: int, expected: int) -> None:
        before = queue(3, current=source)
        after = applied(before, {"op": "move", "from": source, "to": target})
        assert after.current == expected
        assert after.items[expected] == before.items[source]

    def test_moving_another_item_across_current_keeps_current_on_its_track(self) -> None:
        before = queue(4, current=1)
        after = applied(before, {"op": "move", "from": 0, "to": 3})
        assert ids(after) == ["t1", "t2", "t3", "t0"]
        assert after.current == 0
        after = applied(before, {"op": "move", "from": 3, "to": 0})
        assert after.current == 2

    @pytest.mark.parametrize(("source", "target"), [(3, 0), (0, 3)])
    def test_both_ends_must_be_in_range(self, source: int, target: int) -> None:
        assert refused(queue(3), {"op": "move", "from": source, "to": target}).codes == {
            INVALID_COMMAND
        }


class TestPlayback:
    def test_clear_empties_everything_even_when_already_empty(self) -> None:
        after = applied(queue(3, current=1, playing=True), {"op": "clear"})
        assert (after.items, after.current, after.playing, after.version) == ((), None, False, 6)
        assert applied(queue(0), {"op": "clear"}).version == 6

    def test_play_with_index_sets_current(self) -> None:
        after = applied(queue(3), {"op": "play", "index": 2})
        assert (after.current, after.playing) == (2, True)

    def test_play_with_index_out_of_range_is_invalid(self) -> None:
        assert refused(queue(3), {"op": "play", "index": 3}).codes == {INVALID_COMMAND}

    def test_play_without_index_resumes_current_or_starts_at_zero(self) -> None:
        assert applied(queue(3, current=2), {"op": "play"}).current == 2
        assert applied(queue(3), {"op": "play"}).current == 0

    def test_play_without_index_on_empty_queue_is_invalid(self) -> None:
        assert refused(queue(0), {"op": "play"}).codes == {INVALID_COMMAND}

    def test_pause_stops_and_keeps_current(self) -> None:
        after = applied(queue(3, current=1, playing=True), {"op": "pause"})
        assert (after.current, after.playing) == (1, False)

    def test_next_and_previous_move_within_range(self) -> None:
        assert applied(queue(3, current=1), {"op": "next"}).current == 2
        assert applied(queue(3, current=1), {"op": "previous"}).current == 0

    @pytest.mark.parametrize(
        ("state", "op"),
        [
            (queue(3, current=2), "next"),
            (queue(3, current=0), "previous"),
            (queue(3), "next"),
            (queue(3), "previous"),
        ],
    )
    def test_next_previous_at_the_edge_or_without_current_are_invalid(
        self, state: QueueState, op: str
    ) -> None:
        assert refused(state, {"op": op}).codes == {INVALID_COMMAND}


class TestVersioning:
    def test_matching_if_version_applies(self) -> None:
        assert applied(queue(1, version=7), {"op": "pause", "if_version": 7}).version == 8

    def test_stale_if_version_is_a_version_conflict(self) -> None:
        assert refused(queue(1, version=7), {"op": "pause", "if_version": 6}).codes == {
            VERSION_CONFLICT
        }

    def test_stale_and_inapplicable_accepts_either_code(self) -> None:
        codes = refused(queue(0, version=7), {"op": "next", "if_version": 1}).codes
        assert codes == {VERSION_CONFLICT, INVALID_COMMAND}


class TestEventForm:
    def test_round_trip_through_the_event_data(self) -> None:
        state = queue(2, current=1, playing=True)
        assert QueueState.from_event(state.to_event()) == state
        assert state.differences(state.to_event()) == []

    def test_differences_name_each_wrong_member(self) -> None:
        state = queue(2, current=1, playing=True)
        wrong = state.to_event() | {"version": 4, "playing": False}
        assert [d.split(":")[0] for d in state.differences(wrong)] == ["version", "playing"]

    def test_a_dropped_track_member_is_a_difference(self) -> None:
        state = QueueState(items=({"id": "a", "title": "A", "artist": "X"},))
        got = state.to_event()
        got["items"] = [{"id": "a", "title": "A"}]
        assert state.differences(got) == [
            "items[0]: members ['artist'] differ from the track added"
        ]

    def test_reordered_items_are_a_difference(self) -> None:
        state = queue(2)
        got = state.to_event()
        got["items"].reverse()
        assert state.differences(got)[0].startswith("items: expected ids")


# Property checks: an independent oracle that tags every item with a unique identity.

indices = st.integers(min_value=0, max_value=6)
commands = st.one_of(
    st.builds(lambda i: {"op": "add", "track": track(100 + i)}, indices),
    st.builds(lambda i, j: {"op": "add", "track": track(100 + i), "index": j}, indices, indices),
    st.builds(lambda i: {"op": "remove", "index": i}, indices),
    st.builds(lambda i, j: {"op": "move", "from": i, "to": j}, indices, indices),
    st.just({"op": "clear"}),
    st.just({"op": "play"}),
    st.builds(lambda i: {"op": "play", "index": i}, indices),
    st.just({"op": "pause"}),
    st.just({"op": "next"}),
    st.just({"op": "previous"}),
)


@settings(max_examples=300)
@given(st.lists(commands, max_size=25))
def test_invariants_hold_over_any_command_sequence(sequence: list[dict[str, Any]]) -> None:
    state = QueueState()
    for command in sequence:
        result = apply(state, command)
        if isinstance(result, Refusal):
            # QUEUE-3: refused commands leave the state untouched (apply is pure, so the
            # state we keep is the old one by construction; what matters is the verdict).
            assert result.codes == {INVALID_COMMAND}
            continue
        assert result.version == state.version + 1
        length = len(result.items)
        assert result.current is None or 0 <= result.current < length
        if length == 0:
            assert result.current is None
            assert not result.playing
        # The current track stays the same object unless the current item itself was removed.
        removed_current = command["op"] == "remove" and command["index"] == state.current
        if (
            command["op"] in ("add", "remove", "move")
            and state.current is not None
            and result.current is not None
            and not removed_current
        ):
            assert result.items[result.current] is state.items[state.current]
        state = result


@given(st.lists(commands, max_size=15), st.integers(min_value=0, max_value=30))
def test_any_stale_if_version_is_refused(sequence: list[dict[str, Any]], stale: int) -> None:
    state = QueueState()
    for command in sequence:
        result = apply(state, command)
        if isinstance(result, QueueState):
            state = result
    probe = {"op": "pause", "if_version": stale}
    outcome = apply(state, probe)
    if stale == state.version:
        assert isinstance(outcome, QueueState)
    else:
        assert isinstance(outcome, Refusal)
        assert VERSION_CONFLICT in outcome.codes
