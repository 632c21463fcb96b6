"""The suite's own model of the ``playqueue`` channel (standard-channels.md, QUEUE-1..3).

The conformance suite never trusts the server's arithmetic: every ``state`` event the
server broadcasts is compared with what this model computes from the same commands.
The model is pure (no I/O, no clock) and immutable: :func:`apply` takes a
:class:`QueueState` and a command (the ``data`` of a ``playqueue`` publish) and returns
either the next state (version + 1, QUEUE-2) or a :class:`Refusal` naming the error codes a
conforming server may answer (QUEUE-3); a refused command leaves the state unchanged.

Interpretations where the contract is silent (each chosen so that ``current`` keeps
pointing at the same track, which is what a listener expects):

* ``add`` at an index at or before ``current`` shifts ``current`` by one;
* ``clear`` and ``pause`` are always applicable (they are idempotent requests);
* when a command both names a stale ``if_version`` and is inapplicable, either
  ``version_conflict`` or ``invalid_command`` is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "INVALID_COMMAND",
    "VERSION_CONFLICT",
    "QueueState",
    "Refusal",
    "apply",
]

INVALID_COMMAND = "invalid_command"
VERSION_CONFLICT = "version_conflict"


@dataclass(frozen=True)
class QueueState:
    """One playqueue snapshot, as carried by a ``state`` event."""

    version: int = 0
    items: tuple[Mapping[str, Any], ...] = ()
    current: int | None = None
    playing: bool = False

    @classmethod
    def from_event(cls, data: Mapping[str, Any]) -> QueueState:
        """Read the ``data`` of a ``state`` event (the snapshot sent on subscribe, QUEUE-1)."""
        return cls(
            version=int(data["version"]),
            items=tuple(dict(item) for item in data["items"]),
            current=data["current"],
            playing=bool(data["playing"]),
        )

    def to_event(self) -> dict[str, Any]:
        """The ``data`` of the ``state`` event a conforming server broadcasts for this state."""
        return {
            "type": "state",
            "version": self.version,
            "items": [dict(item) for item in self.items],
            "current": self.current,
            "playing": self.playing,
        }

    def differences(self, data: Mapping[str, Any]) -> list[str]:
        """Human-readable differences between this state and a received ``state`` ``data``."""
        expected = self.to_event()
        found: list[str] = []
        for key in ("version", "current", "playing"):
            if data.get(key) != expected[key]:
                found.append(f"{key}: expected {expected[key]!r}, got {data.get(key)!r}")
        got_items = data.get("items")
        if not isinstance(got_items, list):
            found.append(f"items: expected a list, got {got_items!r}")
        elif [_track_id(i) for i in got_items] != [_track_id(i) for i in expected["items"]]:
            found.append(
                "items: expected ids "
                f"{[_track_id(i) for i in expected['items']]}, "
                f"got {[_track_id(i) for i in got_items]}"
            )
        else:
            for position, (got, want) in enumerate(zip(got_items, expected["items"], strict=True)):
                # A state item carries the track as added; members the server adds are allowed
                # (TRANSPORT-7 spirit), members the client gave must come back unchanged.
                missing = {
                    k: v for k, v in want.items() if not isinstance(got, Mapping) or got.get(k) != v
                }
                if missing:
                    found.append(
                        f"items[{position}]: members {sorted(missing)} differ from the track added"
                    )
        return found


@dataclass(frozen=True)
class Refusal:
    """A command a conforming server must refuse, and the error codes it may answer."""

    codes: frozenset[str]
    reason: str


def _track_id(item: Any) -> Any:
    return item.get("id") if isinstance(item, Mapping) else item


def _in_range(value: Any, length: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < length


def _inapplicable(state: QueueState, command: Mapping[str, Any]) -> str | None:
    """Why ``command`` cannot be applied to ``state`` (QUEUE-3), or None when it can."""
    op = command.get("op")
    length = len(state.items)
    if op == "add":
        index = command.get("index", length)
        if not (_in_range(index, length + 1)):
            return f"add: index {index!r} outside 0..{length}"
    elif op == "remove":
        if not _in_range(command.get("index"), length):
            return f"remove: index {command.get('index')!r} outside 0..{length - 1}"
    elif op == "move":
        for key in ("from", "to"):
            if not _in_range(command.get(key), length):
                return f"move: {key} {command.get(key)!r} outside 0..{length - 1}"
    elif op == "play":
        if "index" in command:
            if not _in_range(command["index"], length):
                return f"play: index {command['index']!r} outside 0..{length - 1}"
        elif length == 0:
            return "play: the queue is empty"
    elif op == "next":
        if state.current is None:
            return "next: nothing is current"
        if state.current + 1 >= length:
            return "next: already at the last item"
    elif op == "previous":
        if state.current is None:
            return "previous: nothing is current"
        if state.current - 1 < 0:
            return "previous: already at the first item"
    elif op not in ("clear", "pause"):
        return f"unknown op {op!r}"
    return None


def _applied(state: QueueState, command: Mapping[str, Any]) -> QueueState:
    op = command["op"]
    items = list(state.items)
    current = state.current
    playing = state.playing
    if op == "add":
        index = command.get("index", len(items))
        items.insert(index, dict(command["track"]))
        # The current track stays current: an insertion before it shifts its index.
        if current is not None and index <= current:
            current += 1
    elif op == "remove":
        index = command["index"]
        del items[index]
        if current is not None:
            if index < current:
                current -= 1
            elif index == current:
                current = None if not items else min(index, len(items) - 1)
        if not items:
            playing = False
    elif op == "move":
        source, target = command["from"], command["to"]
        items.insert(target, items.pop(source))
        if current is not None:
            if current == source:
                current = target
            elif source < current <= target:
                current -= 1
            elif target <= current < source:
                current += 1
    elif op == "clear":
        items, current, playing = [], None, False
    elif op == "play":
        if "index" in command:
            current = command["index"]
        elif current is None:
            current = 0
        playing = True
    elif op == "pause":
        playing = False
    elif op == "next":
        assert current is not None
        current += 1
    elif op == "previous":
        assert current is not None
        current -= 1
    return QueueState(
        version=state.version + 1, items=tuple(items), current=current, playing=playing
    )


def apply(state: QueueState, command: Mapping[str, Any]) -> QueueState | Refusal:
    """The state after ``command`` (QUEUE-2: version + 1), or the refusal QUEUE-3 demands."""
    stale = "if_version" in command and command["if_version"] != state.version
    why = _inapplicable(state, command)
    if stale:
        codes = {VERSION_CONFLICT}
        if why is not None:
            codes.add(INVALID_COMMAND)
        return Refusal(
            frozenset(codes), f"if_version {command['if_version']} != version {state.version}"
        )
    if why is not None:
        return Refusal(frozenset({INVALID_COMMAND}), why)
    return _applied(state, command)
