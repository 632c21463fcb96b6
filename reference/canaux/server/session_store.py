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

A session still attached is not in the store; the store knows which process holds it
(:meth:`~SessionStore.hold`), and a resume elsewhere asks that process to hand it over
(:meth:`~SessionStore.request_handover`): it closes its connection with 4411 and stores the
session (:meth:`ServerSessions.hand_over`) [RESUME-4].
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
    ) -> None:
        """Keep ``snapshot`` for ``ttl_ms`` milliseconds (the resume window); of its
        identity's stored sessions, only the ``max_detached`` detached last stay [LIMIT-12]."""

    async def load(self, session_id: str) -> StoredSession | None:
        """The stored session, or ``None`` (never stored, expired or claimed)."""

    async def claim(self, session_id: str, raw: str) -> bool:
        """Take the session out of the store if it is still ``raw``; whether it was."""

    node: str
    """This process's name in the deployment."""

    async def start(self, handover: Callable[[str], None]) -> None:
        """Start listening: ``handover(session_id)`` is called when another process resumes
        a session this one holds attached [RESUME-4]."""

    async def hold(self, session_id: str) -> None:
        """Record that this process holds ``session_id`` attached."""

    async def holder(self, session_id: str) -> str | None:
        """The process that holds ``session_id`` attached, if one does."""

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
    ) -> bool:
        """Pass every event of ``channels`` after ``after`` to ``deliver`` (channel, data as
        JSON) in order, then call ``joined``; ``False`` if some of them are gone."""


def session_store_of(broker: object) -> SessionStore | None:
    """The session store a broker shares, if it shares one (``broker.session_store()``)."""
    make = getattr(broker, "session_store", None)
    if not callable(make):
        return None
    store: SessionStore = make()
    return store
