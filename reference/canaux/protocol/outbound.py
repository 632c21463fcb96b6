"""The outbound queue of one connection, sans I/O
(operations.md [OPS-2], limits.md [LIMIT-4], [SECURITY-4]).

:class:`OutboundQueue` is the one queue type of every connection (WebSocket, SSE, legacy):
frames wait in it, in order, until the I/O layer takes them for the socket. It holds two kinds
of entries:

- **frames** ready to go (events, pongs, the welcome), queued with :meth:`~OutboundQueue.put`;
- **reply slots** (:meth:`~OutboundQueue.expect`): the replies to client requests leave in the
  order the requests arrived, whatever order the server decides them in [OPS-2]. A slot not
  yet filled holds back the replies behind it; a frame queued while a decided reply waits
  behind an undecided one waits too, so a chat chunk never overtakes its ack [CHAT-1].

The queue is bounded in frames AND in bytes [LIMIT-4]: an entry beyond ``limit``, or a frame
that would take the queued bytes over ``max_bytes`` (UTF-8, as announced in
``welcome.limits.outbound_queue_bytes``), overflows it; it is emptied and refuses everything
from then on; the connection is a slow consumer, to be closed with 4503 while every other
connection carries on. A frame that finds no bytes queued always fits, so one event larger than
the bound never cuts a client that reads. What a stream sends before its live events (the
welcome, the resume replay: ``bounded=False``) is bounded by the resume buffer already and does
not count against the live events that follow it. Fan-out only ever appends: it never waits.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from canaux.protocol.frames import text_bytes

__all__ = ["OutboundQueue"]


@dataclass(slots=True)
class _Slot:
    """A place in the reply order: ``text`` is ``None`` until the reply is decided."""

    frame_id: str | None
    text: str | None = field(default=None)
    size: int = field(default=0)
    """UTF-8 bytes of ``text`` (0 until decided)."""


class OutboundQueue:
    """Frames waiting to be written to one connection: at most ``limit`` entries and
    ``max_bytes`` bytes of UTF-8 (``None``: no byte bound)."""

    __slots__ = (
        "_exempt_bytes",
        "_exempt_count",
        "_held",
        "_held_bytes",
        "_ready",
        "_ready_bytes",
        "closed",
        "hold_replies",
        "limit",
        "max_bytes",
        "overflowed",
    )

    def __init__(self, limit: int, max_bytes: int | None = None) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.limit = limit
        self.max_bytes = max_bytes
        self._ready: list[str] = []
        self._ready_bytes = 0
        # Made at the first reply slot: an idle connection holds no empty deque (760 B).
        self._held: deque[_Slot] | None = None
        self._held_bytes = 0
        # What was queued with bounded=False and not yet taken (the welcome, the replay):
        # bounded by the resume buffer already, it does not count against live events.
        self._exempt_count = 0
        self._exempt_bytes = 0
        self.overflowed = False
        """Set once an entry did not fit: the connection must be cut [LIMIT-4]."""
        self.closed = False
        """Set by :meth:`close`: nothing more is queued."""
        self.hold_replies = False
        """While set, decided replies stay in their slots (before the welcome [HANDSHAKE-2])."""

    def __len__(self) -> int:
        return len(self._ready) + (len(self._held) if self._held is not None else 0)

    def __bool__(self) -> bool:
        return bool(self._ready) or bool(self._held)

    @property
    def queued_bytes(self) -> int:
        """UTF-8 bytes of the frames queued (decided replies included), not yet taken."""
        return self._ready_bytes + self._held_bytes

    # Inputs -------------------------------------------------------------------------------

    def put(self, text: str, *, bounded: bool = True, after_replies: bool = False) -> bool:
        """Queue frame ``text``; ``False`` when it was dropped (closed or overflowed).

        ``bounded=False`` is for what a stream sends before it takes live events (the welcome
        and the resume replay, bounded by ``resume_buffer`` already). ``after_replies`` is for
        an event: it does not overtake a reply decided before it [CHAT-1]; other frames (the
        welcome, pongs, pings) go straight to the socket.
        """
        if self.closed or self.overflowed:
            return False
        size = text_bytes(text)
        if bounded and not self._fits(size):
            return False
        held = self._held
        if after_replies and held and any(slot.text is not None for slot in held):
            # A reply is already decided but waits for an earlier one: a frame sent after it
            # (a chat chunk after its ack [CHAT-1]) must not overtake it.
            held.append(_Slot(None, text, size))
            self._held_bytes += size
        else:
            self._ready.append(text)
            self._ready_bytes += size
            if not bounded:
                self._exempt_count += 1
                self._exempt_bytes += size
        return True

    def expect(self, frame_id: str | None, text: str | None = None) -> bool:
        """Keep the place of the reply to request ``frame_id`` [OPS-2]; ``text`` if decided.

        ``False`` when the queue overflowed (or is closed).
        """
        size = 0 if text is None else text_bytes(text)
        if self.closed or self.overflowed or not self._fits(size):
            return False
        if self._held is None:
            self._held = deque()
        self._held.append(_Slot(frame_id, text, size))
        self._held_bytes += size
        self._release()
        return True

    def fill(self, frame_id: str, text: str) -> bool:
        """Decide the reply of request ``frame_id``; ``False`` if no such reply is awaited."""
        for slot in self._held or ():
            if slot.text is None and slot.frame_id == frame_id:
                # A reply is never refused once its place is kept: its bytes count from now.
                slot.text = text
                slot.size = text_bytes(text)
                self._held_bytes += slot.size
                self._release()
                return True
        return False

    def release(self) -> None:
        """Stop holding replies back (the welcome went out) and move the decided ones on."""
        self.hold_replies = False
        self._release()

    def drop_replies(self) -> None:
        """Forget every reply slot (the connection is closing: no reply will be decided)."""
        self._held = None
        self._held_bytes = 0

    def close(self) -> None:
        """Queue nothing more; what is queued can still be taken."""
        self.closed = True

    def clear(self) -> None:
        """Drop everything queued."""
        self._ready.clear()
        self._held = None
        self._ready_bytes = self._held_bytes = 0
        self._exempt_count = self._exempt_bytes = 0

    # Outputs ------------------------------------------------------------------------------

    @property
    def pending_replies(self) -> list[str | None]:
        """Ids of the requests still waiting for a reply, oldest first (``None``: no id)."""
        return [slot.frame_id for slot in self._held or () if slot.text is None]

    def take(self) -> list[str]:
        """Every frame ready to go, oldest first; each is handed over once."""
        out, self._ready = self._ready, []
        self._ready_bytes = 0
        self._exempt_count = self._exempt_bytes = 0
        return out

    # Internals ----------------------------------------------------------------------------

    def _fits(self, size: int) -> bool:
        count = len(self) - self._exempt_count
        if count < self.limit:
            queued = self._ready_bytes + self._held_bytes - self._exempt_bytes
            # [LIMIT-4] bytes too; a frame that finds none queued always fits.
            if self.max_bytes is None or queued == 0 or queued + size <= self.max_bytes:
                return True
        # [LIMIT-4] the consumer does not keep up: nothing more will be written to it.
        self.overflowed = True
        self.clear()
        return False

    def _release(self) -> None:
        if self.hold_replies:
            return
        held, ready = self._held, self._ready
        if held is None:
            return
        while held and held[0].text is not None:
            slot = held.popleft()
            assert slot.text is not None
            ready.append(slot.text)
            self._held_bytes -= slot.size
            self._ready_bytes += slot.size
        if not held:
            self._held = None
