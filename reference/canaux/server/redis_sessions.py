"""Detached sessions shared through Redis (spec "Clusters"; see :mod:`canaux.server.session_store`).

A detached session is one key, ``<prefix>session:<id>``, holding its snapshot and the stream
position it had its events up to, with the resume window as its time to live [RESUME-7]. The
events it is given while it waits are the stream's: :meth:`RedisSessionStore.replay` reads them
back, so a session keeps "buffering" while no process holds it. Claiming deletes the key only
if it still holds what was loaded (a script), so two processes never both resume one session.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from canaux.protocol.frames import dumps
from canaux.server.session_store import Join, StoredSession

if TYPE_CHECKING:
    from canaux.server.redis_broker import RedisBroker

__all__ = ["RedisSessionStore"]

# KEYS: the session key. Returns {value or false, milliseconds left}.
_LOAD = """
return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}
"""

# KEYS: the session key. ARGV: the value loaded. Returns 1 if it was deleted.
_CLAIM = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisSessionStore:
    """The :class:`~canaux.server.session_store.SessionStore` of a :class:`RedisBroker`."""

    def __init__(self, broker: RedisBroker) -> None:
        self._broker = broker
        redis = broker.client
        self._load = redis.register_script(_LOAD)
        self._claim = redis.register_script(_CLAIM)

    def _key(self, session_id: str) -> str:
        return f"{self._broker.prefix}session:{session_id}"

    def position(self) -> str:
        return self._broker.position()

    async def save(
        self, session_id: str, snapshot: dict[str, Any], position: str, ttl_ms: int
    ) -> None:
        value = dumps({"snapshot": snapshot, "position": position, "ttl_ms": ttl_ms})
        await self._broker.client.set(self._key(session_id), value, px=max(1, ttl_ms))

    async def load(self, session_id: str) -> StoredSession | None:
        raw, left_ms = await self._load(keys=[self._key(session_id)])
        if raw is None:
            return None
        stored = json.loads(raw)
        ttl_ms = int(stored["ttl_ms"])
        detached_for = max(0, ttl_ms - max(0, int(left_ms))) / 1000.0
        return StoredSession(stored["snapshot"], str(raw), str(stored["position"]), detached_for)

    async def claim(self, session_id: str, raw: str) -> bool:
        return bool(await self._claim(keys=[self._key(session_id)], args=[raw]))

    async def replay(
        self,
        channels: Collection[str],
        after: str,
        deliver: Callable[[str, str], None],
        joined: Join,
    ) -> bool:
        return await self._broker.replay(channels, after, deliver, joined)
