"""The play queue (standard-channels.md): a pure queue model and the commands that change it.

:class:`QueueState` is immutable; :meth:`QueueState.apply` returns the next state or raises
:class:`CommandRefused`, which carries the error code and the JSON pointer of the offending
member, relative to the publish frame (``/data/index``…) [QUEUE-3]. A refused command leaves
the state untouched [QUEUE-2]. The server stores the state in the broker so that every process
applies commands to the same version (see :mod:`canaux.server.broker`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import canaux_schemas
from canaux.protocol.codes import ErrorCode
from canaux.server.broker import Broker, StateChange
from canaux.server.channels.channel import Channel, Publication, Refused, Subscription

__all__ = [
    "CHANNEL",
    "STATE_KEY",
    "CommandRefused",
    "PlayQueue",
    "QueueState",
    "playqueue_channel",
]

CHANNEL = "playqueue"

STATE_KEY = "playqueue"
"""Key of the queue state in the broker."""


class CommandRefused(Refused):
    """A command that cannot be applied: ``invalid_command`` or ``version_conflict`` [QUEUE-3]."""

    pointer: str

    def __init__(self, code: ErrorCode, message: str, pointer: str) -> None:
        super().__init__(code, message, pointer)


def _invalid(message: str, pointer: str) -> CommandRefused:
    return CommandRefused(ErrorCode.INVALID_COMMAND, message, pointer)


def _index(command: Mapping[str, Any], name: str, upper: int) -> int:
    """Read ``command[name]`` as an index in ``0 ≤ value < upper``, or refuse the command."""
    value = command.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(f"{name} must be an integer", f"/data/{name}")
    if not 0 <= value < upper:
        raise _invalid(f"{name} {value} is out of range 0..{upper - 1}", f"/data/{name}")
    return value


@dataclass(frozen=True, slots=True)
class QueueState:
    """One version of the queue: the tracks, the current index (or ``None``), playing or not."""

    version: int = 0
    items: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)
    current: int | None = None
    playing: bool = False

    def to_event(self) -> dict[str, Any]:
        """The ``state`` event data sent on subscribe and after every applied command."""
        return {
            "type": "state",
            "version": self.version,
            "items": [dict(item) for item in self.items],
            "current": self.current,
            "playing": self.playing,
        }

    @classmethod
    def from_event(cls, data: Mapping[str, Any]) -> QueueState:
        """Rebuild a state from its ``state`` event data (how the broker stores it)."""
        return cls(
            version=int(data["version"]),
            items=tuple(dict(item) for item in data["items"]),
            current=data["current"],
            playing=bool(data["playing"]),
        )

    def apply(self, command: Mapping[str, Any]) -> QueueState:
        """The state after ``command`` (version + 1) [QUEUE-2]; raise :class:`CommandRefused`."""
        expected = command.get("if_version")
        if expected is not None and expected != self.version:
            # [QUEUE-3] optimistic concurrency: the client acted on a state that is gone.
            raise CommandRefused(
                ErrorCode.VERSION_CONFLICT,
                f"queue is at version {self.version}, not {expected}",
                "/data/if_version",
            )
        op = command.get("op")
        handler = _OPS.get(op) if isinstance(op, str) else None
        if handler is None:
            raise _invalid(f"unknown op {op!r}", "/data/op")
        changed = handler(self, command)
        return replace(changed, version=self.version + 1)

    def _add(self, command: Mapping[str, Any]) -> QueueState:
        track = command.get("track")
        if not isinstance(track, Mapping):
            raise _invalid("track must be an object", "/data/track")
        size = len(self.items)
        index = size if command.get("index") is None else _index(command, "index", size + 1)
        items = (*self.items[:index], dict(track), *self.items[index:])
        current = self.current
        # The current track stays the same track: it shifts when something is inserted
        # before it. An empty queue keeps current null (nothing was chosen to play).
        if current is not None and index <= current:
            current += 1
        return replace(self, items=items, current=current)

    def _remove(self, command: Mapping[str, Any]) -> QueueState:
        index = _index(command, "index", len(self.items))
        items = self.items[:index] + self.items[index + 1 :]
        current, playing = self.current, self.playing
        if current is not None:
            if index < current:
                current -= 1
            elif index == current:
                # The next track takes the place of the removed one; past the end, the last.
                current = min(index, len(items) - 1) if items else None
        if not items:
            current, playing = None, False
        return replace(self, items=items, current=current, playing=playing)

    def _move(self, command: Mapping[str, Any]) -> QueueState:
        size = len(self.items)
        source = _index(command, "from", size)
        target = _index(command, "to", size)
        items = list(self.items)
        items.insert(target, items.pop(source))
        current = self.current
        # The current index follows the track it pointed at.
        if current is not None:
            if current == source:
                current = target
            elif source < current <= target:
                current -= 1
            elif target <= current < source:
                current += 1
        return replace(self, items=tuple(items), current=current)

    def _clear(self, command: Mapping[str, Any]) -> QueueState:
        return replace(self, items=(), current=None, playing=False)

    def _play(self, command: Mapping[str, Any]) -> QueueState:
        if command.get("index") is not None:
            current: int | None = _index(command, "index", len(self.items))
        elif not self.items:
            raise _invalid("the queue is empty", "/data/op")
        else:
            current = 0 if self.current is None else self.current
        return replace(self, current=current, playing=True)

    def _pause(self, command: Mapping[str, Any]) -> QueueState:
        return replace(self, playing=False)

    def _next(self, command: Mapping[str, Any]) -> QueueState:
        if self.current is None:
            raise _invalid("no current track", "/data/op")
        if self.current + 1 >= len(self.items):
            raise _invalid("already at the last track", "/data/op")
        return replace(self, current=self.current + 1)

    def _previous(self, command: Mapping[str, Any]) -> QueueState:
        if self.current is None:
            raise _invalid("no current track", "/data/op")
        if self.current == 0:
            raise _invalid("already at the first track", "/data/op")
        return replace(self, current=self.current - 1)


_OPS = {
    "add": QueueState._add,
    "remove": QueueState._remove,
    "move": QueueState._move,
    "clear": QueueState._clear,
    "play": QueueState._play,
    "pause": QueueState._pause,
    "next": QueueState._next,
    "previous": QueueState._previous,
}


class PlayQueue:
    """The shared queue of a deployment: commands and snapshots, stored in the broker."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    async def snapshot(self) -> QueueState:
        """The current state, sent to a session right after its subscribe ``ack`` [QUEUE-1]."""
        stored = await self._broker.get_state(STATE_KEY)
        return QueueState() if stored is None else QueueState.from_event(stored)

    async def command(self, command: Mapping[str, Any]) -> QueueState:
        """Apply a command and broadcast the new state atomically [QUEUE-2].

        Raises :class:`CommandRefused` when the command does not apply; then nothing changed
        and nothing was broadcast.
        """

        def change(stored: Any) -> StateChange:
            state = QueueState() if stored is None else QueueState.from_event(stored)
            event = state.apply(command).to_event()
            return StateChange(state=event, event=event)

        result = await self._broker.update_state(STATE_KEY, CHANNEL, change)
        return QueueState.from_event(result.state)


def playqueue_channel() -> Channel:
    """The ``playqueue`` channel: client commands applied to the shared queue, each applied one
    broadcast as the new ``state`` [QUEUE-2], a refused one answered with its error to the
    publisher only [QUEUE-3], and a snapshot for every new subscriber [QUEUE-1].

    A command needs a publisher to answer, so the server's publish path is ``forbidden`` on it
    (``publish="client"``) [HTTP-1].
    """

    async def on_publish(publication: Publication) -> None:
        # CommandRefused is a Refused: the publisher gets it, nothing is broadcast.
        await PlayQueue(publication.broker).command(publication.data)

    async def snapshot(subscription: Subscription) -> Any:
        return (await PlayQueue(subscription.broker).snapshot()).to_event()

    return Channel(
        CHANNEL,
        schema=canaux_schemas.CHANNEL_SCHEMAS[CHANNEL],
        publish="client",
        on_publish=on_publish,
        snapshot=snapshot,
    )
