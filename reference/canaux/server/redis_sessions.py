"""Sessions shared through Redis (spec "Clusters"; see :mod:`canaux.server.session_store`).

A detached session is one key, ``<prefix>session:<id>``, holding its snapshot and the stream
position it had its events up to, with the resume window as its time to live [RESUME-7]; each
identity's detached sessions are also in a sorted set by time, so that beyond
``max_detached_sessions`` the one detached longest ago is discarded [LIMIT-12], and so are
the deployment's (``<prefix>detached-all``), beyond ``max_detached_total`` [LIMIT-13]. The
events it is given while it waits are the stream's: :meth:`RedisSessionStore.replay` reads them
back, so a session keeps "buffering" while no process holds it. Claiming deletes the key only
if it still holds what was loaded (a script), so two processes never both resume one session.

An attached session has a *checkpoint*, the hash ``<prefix>live:<id>``: the process holding
it, its snapshot and the stream position the snapshot is up to. Everything the session gets
after that position is in the stream too (channel events, its own events, the replies to its
publishes), so the checkpoint is rewritten only when what it follows changes (a subscription)
and any process can rebuild the session as it is now. Each process keeps
``<prefix>alive:<node>`` alive while it runs; once that key is gone, the sessions it held are
rebuilt from their checkpoints by whichever process they resume on (a process killed with
SIGKILL loses none of them).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from canaux.protocol.frames import dumps
from canaux.server.session_store import Join, StoredSession

if TYPE_CHECKING:
    from canaux.server.redis_broker import RedisBroker

__all__ = ["RedisSessionStore"]

_OWNER_TTL_S = 86_400
"""How long a checkpoint is kept at most (a node that dies leaves its checkpoints behind: they
are rebuilt from, or expire)."""

ALIVE_TTL_MS = 2_000
"""How long a process counts as alive after its last heartbeat."""

BEAT_INTERVAL_S = 0.5
"""How often a process renews its heartbeat (well within :data:`ALIVE_TTL_MS`)."""

_HOLDER_POLL_S = 0.25
"""How often a resume waiting for a hand-over checks whether the session is stored, and
whether the holder is still alive (it does not wait for the holder's answer to arrive)."""

# KEYS: the session key, the holder's alive key, the checkpoint. ARGV: the holder.
# Returns {stored (0/1), holder alive (0/1), holder still holds it (0/1)}.
_HANDOVER_STATE = """
local holds = redis.call('HGET', KEYS[3], 'node') == ARGV[1]
return {redis.call('EXISTS', KEYS[1]), redis.call('EXISTS', KEYS[2]), holds and 1 or 0}
"""

# KEYS: the process's alive key, the hash of last beats. ARGV: ttl (ms), node.
_BEAT = """
local now = redis.call('TIME')
local ms = now[1] * 1000 + math.floor(now[2] / 1000)
redis.call('SET', KEYS[1], ms, 'PX', ARGV[1])
redis.call('HSET', KEYS[2], ARGV[2], ms)
return ms
"""

# KEYS: the checkpoint. ARGV: node, snapshot, position, ttl (s). Written only by the process
# that holds the session (or for a session no process holds yet): 0 when another one does.
_CHECKPOINT = """
local node = redis.call('HGET', KEYS[1], 'node')
if node and node ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'snapshot', ARGV[2], 'position', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS: the checkpoint. ARGV: node. Deleted only by the process that holds the session.
_FORGET = """
if redis.call('HGET', KEYS[1], 'node') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: the checkpoint, the hash of last beats. ARGV: the alive key prefix.
# Returns {node, snapshot, position, alive (0/1), last beat (ms) or false, now (ms)} or false.
_LOAD_LIVE = """
local live = redis.call('HMGET', KEYS[1], 'node', 'snapshot', 'position')
if not live[1] then return false end
local now = redis.call('TIME')
local ms = now[1] * 1000 + math.floor(now[2] / 1000)
local alive = redis.call('EXISTS', ARGV[1] .. live[1])
return {live[1], live[2], live[3], alive, redis.call('HGET', KEYS[2], live[1]), ms}
"""

# KEYS: the checkpoint. ARGV: the snapshot loaded, the claiming node. The claimer holds the
# session from now on (a process wrongly thought dead can no longer write it): 1 if claimed.
_CLAIM_LIVE = """
if redis.call('HGET', KEYS[1], 'snapshot') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'node', ARGV[2])
  return 1
end
return 0
"""

# KEYS: the session key. Returns {value or false, milliseconds left}.
_LOAD = """
return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}
"""

# KEYS: the session key, the identity's set of detached sessions, the deployment's. ARGV: the
# value loaded, the session id, its member of the deployment's set. Returns 1 if deleted.
_CLAIM = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('ZREM', KEYS[3], ARGV[3])
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: the session key, its holder key, the identity's set of detached sessions, the
# deployment's set of them. ARGV: the value, its time to live (ms), the session id,
# max_detached_sessions, the key prefix, the identity's digest, max_detached_total.
# Members of the deployment's set are '<digest>/<id>'; both sets are scored by the time of
# the detach (microseconds), so the first members are the sessions detached longest ago.
# [LIMIT-12] beyond the identity's bound, its sessions detached longest ago are discarded;
# [LIMIT-13] beyond the deployment's, those of any identity.
_SAVE = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('DEL', KEYS[2])
local now = redis.call('TIME')
local at = now[1] * 1000000 + now[2]
local prefix = ARGV[5]
redis.call('ZADD', KEYS[3], at, ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
redis.call('ZADD', KEYS[4], at, ARGV[6] .. '/' .. ARGV[3])
-- Sessions whose window is over have expired by themselves: not counted.
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. (at - tonumber(ARGV[2]) * 1000))
local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[4])
if over > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, over - 1)) do
    redis.call('DEL', prefix .. 'session:' .. id)
    redis.call('ZREM', KEYS[3], id)
    redis.call('ZREM', KEYS[4], ARGV[6] .. '/' .. id)
  end
end
over = redis.call('ZCARD', KEYS[4]) - tonumber(ARGV[7])
if over > 0 then
  for _, member in ipairs(redis.call('ZRANGE', KEYS[4], 0, over - 1)) do
    local slash = string.find(member, '/', 1, true)
    local digest, id = string.sub(member, 1, slash - 1), string.sub(member, slash + 1)
    redis.call('DEL', prefix .. 'session:' .. id)
    redis.call('ZREM', prefix .. 'detached:' .. digest, id)
    redis.call('ZREM', KEYS[4], member)
  end
end
return 1
"""


T = TypeVar("T")


async def _once_more(call: Callable[[], Awaitable[T]]) -> T:
    """``call()``, again once if the connection failed: after Redis restarted, the first
    command on each pooled connection fails. Only for commands that may run twice."""
    try:
        return await call()
    except (RedisConnectionError, RedisTimeoutError):
        return await call()


class RedisSessionStore:
    """The :class:`~canaux.server.session_store.SessionStore` of a :class:`RedisBroker`."""

    def __init__(self, broker: RedisBroker) -> None:
        self._broker = broker
        redis = broker.client
        self._load = redis.register_script(_LOAD)
        self._claim = redis.register_script(_CLAIM)
        self._save = redis.register_script(_SAVE)
        self._beat = redis.register_script(_BEAT)
        self._checkpoint = redis.register_script(_CHECKPOINT)
        self._forget = redis.register_script(_FORGET)
        self._load_live = redis.register_script(_LOAD_LIVE)
        self._claim_live = redis.register_script(_CLAIM_LIVE)
        self._handover_state = redis.register_script(_HANDOVER_STATE)
        self.node = secrets.token_hex(8)
        """This process's name in the deployment (who holds an attached session)."""
        self._handover: Callable[[str], None] | None = None
        self._stored: dict[str, list[asyncio.Future[None]]] = {}
        self._saving: set[asyncio.Future[None]] = set()
        """One future per :meth:`save` under way: :meth:`load` waits for them [LIMIT-12]."""

    # Attached sessions: who holds them, and handing them over [RESUME-4] ----------------------

    async def start(
        self,
        handover: Callable[[str], None],
        direct: Callable[[str, str, str], None],
        epoch_changed: Callable[[], None],
    ) -> None:
        self._handover = handover
        self._broker.on_control(self._on_control)
        self._broker.on_direct(direct)
        self._broker.on_epoch_change(epoch_changed)
        await self._broker.start()
        await self._heartbeat()

    async def _heartbeat(self) -> None:
        """Keep this process alive in the deployment's eyes while it runs."""
        keys = [self._alive_key(self.node), f"{self._broker.prefix}beats"]
        while True:
            with contextlib.suppress(RedisError, OSError):
                await self._beat(keys=keys, args=[ALIVE_TTL_MS, self.node])
            await asyncio.sleep(BEAT_INTERVAL_S)

    async def stop(self) -> None:
        """This process leaves: it holds nothing any more (its sessions are stored)."""
        with contextlib.suppress(RedisError, OSError):
            await self._broker.client.delete(self._alive_key(self.node))

    def send_direct(self, session_id: str, channel: str, data_json: str) -> None:
        self._broker.send_direct(session_id, channel, data_json)

    def _alive_key(self, node: str) -> str:
        return f"{self._broker.prefix}alive:{node}"

    def _on_control(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        session_id = str(message.get("session"))
        if message.get("op") == "handover" and message.get("node") == self.node:
            if self._handover is not None:
                self._handover(session_id)
        elif message.get("op") == "stored":
            for waiter in self._stored.pop(session_id, []):
                if not waiter.done():
                    waiter.set_result(None)

    async def checkpoint(self, session_id: str, snapshot: dict[str, Any], position: str) -> bool:
        keys = [self._owner_key(session_id)]
        args: list[str | int] = [self.node, dumps(snapshot), position, _OWNER_TTL_S]
        return bool(await _once_more(lambda: self._checkpoint(keys=keys, args=args)))

    async def forget(self, session_id: str) -> None:
        keys = [self._owner_key(session_id)]
        await _once_more(lambda: self._forget(keys=keys, args=[self.node]))

    async def holder(self, session_id: str) -> str | None:
        key = self._owner_key(session_id)
        node = await _once_more(lambda: self._broker.client.hget(key, "node"))
        return None if node is None else str(node)

    async def alive(self, node: str) -> bool:
        key = self._alive_key(node)
        return bool(await _once_more(lambda: self._broker.client.exists(key)))

    async def load_live(self, session_id: str) -> StoredSession | None:
        keys = [self._owner_key(session_id), f"{self._broker.prefix}beats"]
        answer = await _once_more(lambda: self._load_live(keys=keys, args=[self._alive_key("")]))
        if not answer:
            return None
        node, raw, position, alive, beat, now = answer
        if int(alive) or node == self.node or raw is None:
            return None  # its process is alive: it hands the session over, or has let it go
        # Detached since that process's last heartbeat, as far as anyone can tell [RESUME-7].
        detached_for = max(0, int(now) - int(beat or now)) / 1000.0
        snapshot = json.loads(raw)
        return StoredSession(snapshot, str(raw), str(position), detached_for, live=True)

    async def request_handover(self, session_id: str, node: str, timeout_s: float) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._stored.setdefault(session_id, []).append(waiter)
        try:
            message = {"op": "handover", "session": session_id, "node": node}
            await self._broker.publish_control(message)
            keys = [self._key(session_id), self._alive_key(node), self._owner_key(session_id)]
            async with asyncio.timeout(timeout_s):
                # Until it answers, or the session is stored (its answer may lag behind: a
                # busy node reads its requests late), or it is found dead or no longer
                # holding the session (then what the store has is the answer).
                while not waiter.done():
                    await asyncio.wait({waiter}, timeout=_HOLDER_POLL_S)
                    if waiter.done():
                        break
                    stored, alive, holds = await _once_more(
                        lambda: self._handover_state(keys=keys, args=[node])
                    )
                    if int(stored) or not int(alive) or not int(holds):
                        break
        except TimeoutError:
            pass  # the holder is silent: what the store has is the answer
        finally:
            waiters = self._stored.get(session_id, [])
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self._stored.pop(session_id, None)

    async def handed_over(self, session_id: str) -> None:
        await self._broker.publish_control({"op": "stored", "session": session_id})

    def _owner_key(self, session_id: str) -> str:
        return f"{self._broker.prefix}live:{session_id}"

    def _key(self, session_id: str) -> str:
        return f"{self._broker.prefix}session:{session_id}"

    def position(self) -> str:
        return self._broker.position()

    @staticmethod
    def _digest(identity: Any) -> str:
        return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:32]

    def _detached_key(self, identity: Any) -> str:
        return f"{self._broker.prefix}detached:{self._digest(identity)}"

    @property
    def _all_detached_key(self) -> str:
        """The deployment's detached sessions, oldest first [LIMIT-13]."""
        return f"{self._broker.prefix}detached-all"

    async def save(
        self,
        session_id: str,
        snapshot: dict[str, Any],
        position: str,
        ttl_ms: int,
        max_detached: int,
        max_detached_total: int | None = None,
    ) -> None:
        value = dumps({"snapshot": snapshot, "position": position, "ttl_ms": ttl_ms})
        identity = snapshot.get("identity")
        keys = [
            self._key(session_id),
            self._owner_key(session_id),
            self._detached_key(identity),
            self._all_detached_key,
        ]
        total = max_detached if max_detached_total is None else max_detached_total
        args: list[str | int] = [
            value,
            max(1, ttl_ms),
            session_id,
            max_detached,
            self._broker.prefix,
            self._digest(identity),
            total,
        ]
        done = asyncio.get_running_loop().create_future()
        self._saving.add(done)
        try:
            await _once_more(lambda: self._save(keys=keys, args=args))
        finally:
            self._saving.discard(done)
            done.set_result(None)

    async def load(self, session_id: str) -> StoredSession | None:
        # [LIMIT-12] a save under way may discard this very session (its identity's oldest,
        # beyond max_detached_sessions): a resume sees every detach this process already took,
        # though the client's close handshake ended before its save reached Redis.
        if self._saving:
            await asyncio.wait(list(self._saving))
        raw, left_ms = await _once_more(lambda: self._load(keys=[self._key(session_id)]))
        if raw is None:
            return None
        stored = json.loads(raw)
        ttl_ms = int(stored["ttl_ms"])
        detached_for = max(0, ttl_ms - max(0, int(left_ms))) / 1000.0
        return StoredSession(stored["snapshot"], str(raw), str(stored["position"]), detached_for)

    async def claim(self, session_id: str, stored: StoredSession) -> bool:
        raw = stored.raw
        if stored.live:
            keys = [self._owner_key(session_id)]
            return bool(await self._claim_live(keys=keys, args=[raw, self.node]))
        identity = json.loads(raw)["snapshot"].get("identity")
        keys = [self._key(session_id), self._detached_key(identity), self._all_detached_key]
        member = f"{self._digest(identity)}/{session_id}"
        return bool(await self._claim(keys=keys, args=[raw, session_id, member]))

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
        return await self._broker.replay(
            channels, after, deliver, joined, session_id=session_id, remember=remember
        )
