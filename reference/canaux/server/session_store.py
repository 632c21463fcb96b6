"""Where detached sessions wait when several processes share them (spec "Clusters").

The session lifecycle stays with :class:`~canaux.protocol.sessions.ServerSessions`; a
:class:`SessionStore` is only its storage seam. When a WebSocket session detaches, its process
exports it (:meth:`ServerSessions.export`) and saves the snapshot here, with the broker
:meth:`~SessionStore.position` up to which the session had its events. A resume on any process
loads it, adopts it (:meth:`ServerSessions.adopt`), gives it every event of its channels
published since that position (:meth:`~SessionStore.replay`: what it would have buffered
while detached), lets the core decide on the resume as usual [RESUME-2], and only then claims
it, so a refused resume leaves the stored session as it was [RESUME-12]. The store expires a
session when its resume window is over [RESUME-7].

A session still attached has a *checkpoint* in the store (:meth:`~SessionStore.checkpoint`):
its process, its snapshot and the position the snapshot is up to, rewritten when it attaches
and whenever what it receives changes (a subscription, before the ack goes out). Everything
else it gets after that position comes through the broker, so the checkpoint and the broker
together are the session as it is now. A resume elsewhere asks the holding process to hand
it over (:meth:`~SessionStore.request_handover`): it closes its connection with 4411 and
stores the session (:meth:`ServerSessions.hand_over`) [RESUME-4]; a process that is gone (its
heartbeat expired: killed, or cut off) cannot, and the session is rebuilt from its checkpoint
(:meth:`~SessionStore.load_live`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Join", "Replay", "SessionStore", "StoredSession", "session_store_of"]

Join = Callable[[], None]
"""Adds the adopted session to the hub; called when the replay has caught up, with no await
between the last replayed event and the first live one [RESUME-3]."""

Replay = Callable[[Join], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class StoredSession:
    """A session as a store holds it."""

    snapshot: dict[str, Any]
    raw: str
    """The stored text, compared when the session is claimed."""
    position: str
    """The broker position up to which the session had its channels' events."""
    detached_for: float
    """Seconds since it was saved (it was saved when it detached)."""
    live: bool = False
    """A checkpoint of a session whose process is gone, not a session stored on detach."""


class SessionStore(Protocol):
    """Detached sessions shared by every process of a deployment."""

    def position(self) -> str:
        """The broker position this process has delivered every event up to, now."""

    async def save(
        self,
        session_id: str,
        snapshot: dict[str, Any],
        position: str,
        ttl_ms: int,
        max_detached: int,
        max_detached_total: int | None = None,
    ) -> None:
        """Keep ``snapshot`` for ``ttl_ms`` milliseconds (the resume window); of its
        identity's stored sessions, only the ``max_detached`` detached last stay [LIMIT-12],
        and of the deployment's, the ``max_detached_total`` detached last [LIMIT-13]."""

    async def load(self, session_id: str) -> StoredSession | None:
        """The stored session, or ``None`` (never stored, expired or claimed)."""

    async def claim(self, session_id: str, stored: StoredSession) -> bool:
        """Take the session out of the store if it is still ``stored.raw``; whether it was."""

    node: str
    """This process's name in the deployment."""

    async def start(
        self,
        handover: Callable[[str], None],
        direct: Callable[[str, str, str], None],
        epoch_changed: Callable[[], None],
    ) -> None:
        """Start listening (runs until cancelled): ``handover(session_id)`` is called when
        another process resumes a session this one holds attached [RESUME-4];
        ``direct(session_id, channel, data JSON)`` for each event sent to one session only
        (:meth:`send_direct`), in order with the channel events; ``epoch_changed()`` when the
        broker lost its state (every checkpoint with it)."""

    async def stop(self) -> None:
        """This process leaves the deployment (after storing its sessions)."""

    def send_direct(self, session_id: str, channel: str, data_json: str) -> None:
        """Send an event to one session only, through the broker (see :meth:`start`)."""

    async def checkpoint(self, session_id: str, snapshot: dict[str, Any], position: str) -> bool:
        """Record that this process holds ``session_id``, as ``snapshot`` up to ``position``;
        ``False`` if another process holds it now."""

    async def forget(self, session_id: str) -> None:
        """Drop the checkpoint of a session this process discarded."""

    async def holder(self, session_id: str) -> str | None:
        """The process that holds ``session_id`` attached, if one does."""

    async def load_live(self, session_id: str) -> StoredSession | None:
        """The checkpoint of ``session_id`` if the process that held it is gone."""

    async def request_handover(self, session_id: str, node: str, timeout_s: float) -> None:
        """Ask process ``node`` to store ``session_id``; return once it says it did (or
        after ``timeout_s``)."""

    async def handed_over(self, session_id: str) -> None:
        """Tell the process that asked that ``session_id`` is stored (or is not coming)."""

    async def replay(
        self,
        channels: Collection[str],
        after: str,
        deliver: Callable[[str, str], None],
        joined: Join,
        *,
        session_id: str | None = None,
        remember: Callable[[str, str], None] | None = None,
    ) -> bool:
        """Pass every event of ``channels`` after ``after`` to ``deliver`` (channel, data as
        JSON) in order, with those sent to ``session_id`` only, then call ``joined``; the
        replies to that session's publishes go to ``remember`` [OPS-9]; ``False`` if some of
        them are gone."""


def session_store_of(broker: object) -> SessionStore | None:
    """The session store a broker shares, if it shares one (``broker.session_store()``)."""
    make = getattr(broker, "session_store", None)
    if not callable(make):
        return None
    store: SessionStore = make()
    return store
