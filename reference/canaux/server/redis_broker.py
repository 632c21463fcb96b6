"""The Redis broker: several server processes, one order per channel (spec "Clusters").

Every event of every channel is appended, by one Lua script, to ONE Redis stream of the
deployment (``<prefix>events``), with its channel's position taken from a per-channel counter
in the same atomic step. Redis runs scripts one at a time, so the stream's order is a total
order of the deployment's events, and each channel's order is the stream order restricted to
that channel [DELIVERY-3, DELIVERY-4]. Every process reads the stream from where it joined
(one blocking ``XREAD`` loop) and hands the events of the channels it serves to its hub in
stream order: two subscribers on two processes see one channel in the same order.

Why one stream rather than one per channel (Centrifugo keeps one per channel) or Redis
pub/sub (Socket.IO's first adapter): a blocking ``XREAD`` cannot add a key while it waits, so a
stream per channel would need a reader per channel or a restart on each new channel; pub/sub
drops what a process misses while its connection to Redis is down, where a stream keeps it, so
the reader resumes from the last id it handled. The cost: every process reads every event,
including those of channels it does not serve (it skips them without decoding).

State changes (the play queue, progress tasks, retained events) are optimistic: the process
reads the state, applies the pure ``change``, and a script stores the new state and appends
its event only if the stored state is still the one read; otherwise it reads again
[QUEUE-2]. So a state's versions and its channel's events are in one order.

Detached sessions are shared through :mod:`canaux.server.redis_sessions`, which replays from
this stream the events a session was given while it waited (:meth:`RedisBroker.replay`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from canaux.protocol.frames import dumps
from canaux.server.broker import BrokerMessage, Deliver, StateChange, publish_origin

if TYPE_CHECKING:
    from canaux.server.redis_sessions import RedisSessionStore

__all__ = ["CONTROL", "DEFAULT_PREFIX", "DIRECT", "RedisBroker"]

logger = logging.getLogger("canaux.server.redis")

DEFAULT_PREFIX = "canaux:"
"""Prefix of every key the broker uses: ``events`` (the stream), ``pos:<channel>``,
``state:<key>``. Deployments sharing one Redis database use different prefixes."""

_STREAM_MAX_LEN = 100_000
"""Approximate length the stream is trimmed to (``XADD MAXLEN ~``): a process whose reader is
this far behind has lost events; at the measured few thousand events a second that is tens of
seconds of Redis being unreachable for one process while the others keep publishing."""

_READ_COUNT = 512
"""Entries one ``XREAD`` returns at most: bounds the work between two awaits of the reader."""

_READ_BLOCK_MS = 1000
"""How long one ``XREAD`` waits for new entries before the reader loops (and sees a close)."""

_DELIVERED_TIMEOUT_S = 10.0
"""Longest :meth:`RedisBroker.publish` waits for the local reader to hand its event to the hub."""

CONTROL = "\x00control"
"""The stream's "channel" of messages between processes (session hand-overs); no channel name
can be it, the grammar has no control characters."""

_CAS_ATTEMPTS = 64
"""State updates retried on conflict at most this many times before giving up (an error)."""

# KEYS: stream, position key of the channel. ARGV: channel, data JSON, stream max length,
# then optional field/value pairs (the request the event answers: s, r, a).
_PUBLISH = """
local position = redis.call('INCR', KEYS[2])
local fields = {'c', ARGV[1], 'd', ARGV[2], 'p', position}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', unpack(fields))
return {id, position}
"""

# KEYS: state key, stream, position key. ARGV: expected state JSON ('' for none), new state
# JSON, '1' to publish, channel, event JSON, stream max length, then optional field/value
# pairs as for _PUBLISH. Returns false on conflict, else {id or '', position or 0}.
_UPDATE_STATE = """
local current = redis.call('GET', KEYS[1])
if current == false then current = '' end
if current ~= ARGV[1] then return false end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[3] ~= '1' then return {'', 0} end
local position = redis.call('INCR', KEYS[3])
local fields = {'c', ARGV[4], 'd', ARGV[5], 'p', position}
for i = 7, #ARGV do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', unpack(fields))
return {id, position}
"""

# KEYS: the epoch key. ARGV: a fresh epoch. The deployment's epoch: made once, by the first
# process; a Redis that lost its state (restarted without persistence) has none, and the next
# process to ask makes a new one.
_EPOCH = """
local epoch = redis.call('GET', KEYS[1])
if epoch then return epoch end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""

DIRECT = "\x00direct"
"""The stream's "channel" of events for one session only (snapshots, chat replies): they take
their place in the stream like channel events, so a session rebuilt from the stream numbers
them alike (spec "Clusters")."""

_OUTBOX_BATCH = 256
"""Session events appended in one round trip at most."""

StreamId = tuple[int, int]
_XReadAnswer = list[tuple[str, list[tuple[str, dict[str, str]]]]] | None


POOL_CONNECTIONS = 100
"""Redis connections of one client at most (redis-py's default)."""
POOL_WAIT_S = 5.0
"""How long a command waits for a free connection; then it fails like Redis unreachable."""


def _connect(url: str) -> Redis:
    """A client whose commands wait for a free connection of its pool. (redis-py's default
    pool raises at once past ``POOL_CONNECTIONS`` commands under way: a node with more clients
    subscribing at once answered some of them ``internal_error``.)"""
    pool = BlockingConnectionPool.from_url(
        url, decode_responses=True, max_connections=POOL_CONNECTIONS, timeout=POOL_WAIT_S
    )
    return Redis.from_pool(pool)  # closed with the client


def _stream_id(text: str) -> StreamId:
    milliseconds, _, sequence = text.partition("-")
    return int(milliseconds), int(sequence or 0)


def _origin_fields() -> list[str]:
    """The fields naming the request the event being published answers, if any [OPS-9]."""
    origin = publish_origin.get()
    if origin is None or origin.used:
        return []
    origin.used = True
    return ["s", origin.session, "r", origin.frame_id, "a", origin.reply]


class RedisBroker:
    """A :class:`~canaux.server.broker.Broker` shared by every process on one Redis.

    ``url`` is a redis-py URL (``redis://127.0.0.1:6379/0``); connections open on first use,
    in the event loop that uses the broker.
    """

    def __init__(
        self, url: str, *, prefix: str = DEFAULT_PREFIX, stream_max_len: int = _STREAM_MAX_LEN
    ) -> None:
        self.url = url
        self.prefix = prefix
        self._stream = f"{prefix}events"
        self._max_len = stream_max_len
        # Two clients: the reader's XREAD BLOCK holds its connection while it waits.
        self._redis: Redis = _connect(url)
        self._reader_redis: Redis = _connect(url)
        self._publish_script = self._redis.register_script(_PUBLISH)
        self._update_script = self._redis.register_script(_UPDATE_STATE)
        self._epoch_script = self._redis.register_script(_EPOCH)
        self._deliver: list[Deliver] = []
        self._channels: dict[str, StreamId] = {}
        """Channel → the stream id after which its entries are delivered (where it joined)."""
        self._reader: asyncio.Task[None] | None = None
        self._read_up_to: StreamId | None = None
        """The id of the last stream entry the reader handled (``None``: not started)."""
        self._waiters: list[tuple[StreamId, asyncio.Future[None]]] = []
        self._closed = False
        # Held while the reader hands a batch over and while a replay catches a session up:
        # the reader's position does not move during a replay [RESUME-3].
        self._handling = asyncio.Lock()
        self._control: list[Callable[[Any], None]] = []
        self._direct: list[Callable[[str, str, str], None]] = []
        self._epoch_changed: list[Callable[[], None]] = []
        self._epoch: str | None = None
        """The deployment's epoch this process reads the stream in (see :meth:`position`)."""
        self._outbox: deque[tuple[str, str, str]] = deque()
        self._outbox_wake = asyncio.Event()
        self._appender: asyncio.Task[None] | None = None

    @property
    def client(self) -> Redis:
        """The Redis client of this broker (for the session store)."""
        return self._redis

    def session_store(self) -> RedisSessionStore:
        """Detached sessions shared through this broker's Redis (spec "Clusters")."""
        from canaux.server.redis_sessions import RedisSessionStore

        return RedisSessionStore(self)

    def on_control(self, receive: Callable[[Any], None]) -> None:
        """Pass every message :meth:`publish_control` appends (by any process) to ``receive``."""
        self._control.append(receive)

    def on_direct(self, receive: Callable[[str, str, str], None]) -> None:
        """Pass every event :meth:`send_direct` appends (by any process) to ``receive(session
        id, channel, data JSON)``, in stream order with the channel events."""
        self._direct.append(receive)

    def on_epoch_change(self, receive: Callable[[], None]) -> None:
        """Call ``receive`` when the reader finds that Redis lost the deployment's state."""
        self._epoch_changed.append(receive)

    def send_direct(self, session_id: str, channel: str, data_json: str) -> None:
        """Append an event for session ``session_id`` only, after every one sent before."""
        self._outbox.append((session_id, channel, data_json))
        self._outbox_wake.set()
        if self._appender is None and not self._closed:
            self._appender = asyncio.get_running_loop().create_task(
                self._append(), name="canaux redis session events"
            )

    async def _append(self) -> None:
        failures = 0
        while not self._closed:
            if not self._outbox:
                self._outbox_wake.clear()
                await self._outbox_wake.wait()
                continue
            batch = [self._outbox[n] for n in range(min(len(self._outbox), _OUTBOX_BATCH))]
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for session_id, channel, data_json in batch:
                        pipe.xadd(
                            self._stream,
                            {"c": DIRECT, "t": session_id, "ch": channel, "d": data_json},
                            maxlen=self._max_len,
                            approximate=True,
                        )
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                # Kept, in order, until Redis takes them (a retry delay: bounded backoff).
                failures += 1
                logger.warning("appending session events failed (%s); retrying", exc)
                await asyncio.sleep(min(2.0, 0.05 * 2 ** min(failures, 6)))
                continue
            failures = 0
            for _ in batch:
                self._outbox.popleft()

    async def start(self) -> None:
        """Start reading the stream now (control messages flow before any subscription)."""
        await self._start_reader()

    async def publish_control(self, data: Any) -> None:
        """Append a message for the processes' :meth:`on_control` receivers."""
        await self._publish_script(
            keys=[self._stream, self._key("pos", CONTROL)],
            args=[CONTROL, dumps(data), self._max_len],
        )

    def position(self) -> str:
        """Where the hub has had every event up to: ``<epoch>/<stream id>`` ("0-0" before
        any). A position of another epoch (Redis lost its state since) replays nothing."""
        return "{}/{}-{}".format(self._epoch or "", *(self._read_up_to or (0, 0)))

    @property
    def epoch(self) -> str | None:
        return self._epoch

    async def replay(
        self,
        channels: Collection[str],
        after: str,
        deliver: Callable[[str, str], None],
        joined: Callable[[], None],
        *,
        session_id: str | None = None,
        remember: Callable[[str, str], None] | None = None,
    ) -> bool:
        """Pass the events of ``channels`` between ``after`` and :meth:`position` to
        ``deliver`` in stream order, then call ``joined`` with the reader held, so that the
        next event of those channels the hub gets is the one after the last replayed.

        With ``session_id``, the events sent to that session only are passed too, in their
        place, and the replies to its publishes to ``remember`` [OPS-9]. ``False`` when some
        of those events are gone: trimmed, or of another epoch."""
        wanted = set(channels)
        await self._start_reader()
        epoch, slash, after = after.rpartition("/")
        if slash and epoch != self._epoch:
            return False  # Redis lost the state since: what followed is gone
        if after != "0-0":
            try:
                kept = await self._redis.xrange(self._stream, after, after, count=1)
            except (RedisConnectionError, RedisTimeoutError):
                # A pooled connection that died with a Redis restart: once more (a read).
                kept = await self._redis.xrange(self._stream, after, after, count=1)
            if not kept:  # trimmed away: events after it may be gone too
                return False

        def hand(batch: list[tuple[str, dict[str, str]]]) -> None:
            for _entry, fields in batch:
                channel = fields.get("c")
                if channel in wanted:
                    deliver(fields["c"], fields["d"])
                elif channel == DIRECT and fields.get("t") == session_id:
                    deliver(fields["ch"], fields["d"])
                if remember is not None and fields.get("s") == session_id:
                    remember(fields["r"], fields["a"])

        async def read(start: str, end: StreamId) -> None:
            last = "{}-{}".format(*end)
            while True:
                batch = cast(
                    "list[tuple[str, dict[str, str]]]",
                    await self._redis.xrange(self._stream, start, last, count=_READ_COUNT),
                )
                hand(batch)
                if len(batch) < _READ_COUNT:
                    return
                start = "(" + batch[-1][0]

        # Most of the past is read without holding the reader (many sessions replay side by
        # side in a reconnect storm): up to where the reader is now. The rest, what it read
        # meanwhile, is read with it held, and the session joins before it reads on.
        upto = self._read_up_to or (0, 0)
        await read("(" + after, upto)
        async with self._handling:
            if epoch != self._epoch and slash:
                return False
            now = self._read_up_to or (0, 0)
            if now > upto:
                await read("({}-{}".format(*upto), now)
            joined()
            return True

    def join(self, channel: str) -> None:
        """Deliver ``channel`` to the hub from the entry after the one the reader handled
        last; what came before is for :meth:`replay` to give (its ``joined`` is then called
        with the reader held, so nothing falls between the two)."""
        self._channels.setdefault(channel, self._read_up_to or (0, 0))

    def _key(self, kind: str, name: str) -> str:
        return f"{self.prefix}{kind}:{name}"

    def attach(self, deliver: Deliver) -> None:
        self._deliver.append(deliver)

    async def subscribe(self, channel: str) -> None:
        # [OPS-6] when this returns, every event appended afterwards reaches the hub: the
        # reader reads everything; waiting until it has read the stream's current end means
        # the events appended BEFORE are behind it (a hub adds its subscriber after this).
        await self._start_reader()
        end = await self._stream_end()
        self._channels.setdefault(channel, end)
        await self._delivered(end)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.pop(channel, None)

    async def publish(self, channel: str, data: Any) -> int:
        encoded = dumps(data)
        entry_id, position = await self._publish_script(
            keys=[self._stream, self._key("pos", channel)],
            args=[channel, encoded, self._max_len, *_origin_fields()],
        )
        await self._delivered(_stream_id(str(entry_id)))
        return int(position)

    async def update_state(
        self, key: str, channel: str, change: Callable[[Any], StateChange]
    ) -> StateChange:
        state_key = self._key("state", key)
        origin = _origin_fields()
        for _ in range(_CAS_ATTEMPTS):
            stored = await self._redis.get(state_key)
            result = change(None if stored is None else json.loads(stored))
            outcome = await self._update_script(
                keys=[state_key, self._stream, self._key("pos", channel)],
                args=[
                    "" if stored is None else stored,
                    dumps(result.state),
                    "1" if result.publish else "0",
                    channel,
                    dumps(result.event),
                    self._max_len,
                    *(origin if result.publish else ()),
                ],
            )
            if outcome is None:  # another process changed the state: read it again
                continue
            entry_id = str(outcome[0])
            if entry_id:
                await self._delivered(_stream_id(entry_id))
            return result
        raise RedisError(f"state {key!r} kept changing: gave up after {_CAS_ATTEMPTS} attempts")

    async def get_state(self, key: str) -> Any:
        stored = await self._redis.get(self._key("state", key))
        return None if stored is None else json.loads(stored)

    async def aclose(self) -> None:
        self._closed = True
        appender, self._appender = self._appender, None
        if appender is not None:
            appender.cancel()
            with contextlib.suppress(asyncio.CancelledError, RedisError, OSError):
                await appender
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            # redis-py lets a blocking XREAD finish before the cancellation lands; dropping
            # its connection ends it at once.
            await self._reader_redis.connection_pool.disconnect(inuse_connections=True)
            with contextlib.suppress(asyncio.CancelledError, RedisError, OSError):
                await reader
        for _, waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()
        self._deliver.clear()
        self._channels.clear()
        await self._redis.aclose()
        await self._reader_redis.aclose()

    # ---- the reader ------------------------------------------------------------------------

    async def _stream_end(self) -> StreamId:
        """The id of the stream's last entry, ``(0, 0)`` when it has none."""
        last = cast(
            "list[tuple[str, dict[str, str]]]",
            await self._redis.xrevrange(self._stream, "+", "-", count=1),
        )
        return _stream_id(last[0][0]) if last else (0, 0)

    async def _join_epoch(self) -> str:
        epoch = await self._epoch_script(keys=[self._key("epoch", "")], args=[secrets.token_hex(8)])
        return str(epoch)

    async def _start_reader(self) -> None:
        if self._reader is not None or self._closed:
            return
        epoch = await self._join_epoch()
        end = await self._stream_end()
        if self._reader is not None:  # started while we asked
            return
        self._epoch = epoch
        self._read_up_to = end
        self._reader = asyncio.create_task(self._read(), name="canaux redis reader")

    async def _delivered(self, entry: StreamId) -> None:
        """Return once the reader has handled ``entry`` (at once if it serves no channel)."""
        if self._reader is None or self._read_up_to is None or entry <= self._read_up_to:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((entry, waiter))
        try:
            await asyncio.wait_for(asyncio.shield(waiter), _DELIVERED_TIMEOUT_S)
        except TimeoutError:
            # The event is stored and the reader hands it over when it gets there; the
            # publisher is not held up longer than this.
            logger.warning("the reader is %.0f s behind the stream", _DELIVERED_TIMEOUT_S)

    def _release_waiters(self) -> None:
        assert self._read_up_to is not None
        read_up_to = self._read_up_to
        still: list[tuple[StreamId, asyncio.Future[None]]] = []
        for entry, waiter in self._waiters:
            if entry <= read_up_to:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                still.append((entry, waiter))
        self._waiters = still

    async def _read(self) -> None:
        failures = 0
        while not self._closed:
            assert self._read_up_to is not None
            last = "{}-{}".format(*self._read_up_to)
            try:
                answer = cast(
                    "_XReadAnswer",
                    await self._reader_redis.xread(
                        {self._stream: last}, count=_READ_COUNT, block=_READ_BLOCK_MS
                    ),
                )
            except (RedisError, OSError) as exc:
                if self._closed:
                    return
                failures += 1
                logger.warning("reading the Redis stream failed (%s); retrying", exc)
                # A retry delay, not synchronisation: bounded exponential backoff.
                await asyncio.sleep(min(2.0, 0.05 * 2 ** min(failures, 6)))
                continue
            if failures:
                lost = await self._epoch_lost()
                if lost is None:
                    continue  # not asked yet: read again, and ask again
                failures = 0
                if lost:
                    continue
            async with self._handling:
                for _stream, entries in answer or ():
                    for entry_id, fields in entries:
                        entry = _stream_id(entry_id)
                        if entry <= self._read_up_to:  # read before a replay moved on
                            continue
                        self._read_up_to = entry
                        channel = fields.get("c", "")
                        if channel == CONTROL:
                            self._hand_over_control(fields["d"])
                            continue
                        if channel == DIRECT:
                            self._hand_over_direct(fields)
                            continue
                        joined = self._channels.get(channel)
                        if joined is not None and entry > joined:
                            self._hand_over(channel, fields)
                self._release_waiters()

    async def _epoch_lost(self) -> bool | None:
        """After Redis was unreachable: whether it lost the deployment's state meanwhile (a
        restart without persistence). Then the stream is a new one: it is read from its start,
        every channel joined from there, and the sessions are told [CLUSTER-7]. ``None``
        when Redis could not be asked."""
        try:
            epoch = await self._join_epoch()
        except (RedisError, OSError):
            return None
        if epoch == self._epoch:
            return False
        logger.warning("Redis lost the deployment's state: new epoch %s", epoch)
        async with self._handling:
            self._epoch = epoch
            self._read_up_to = (0, 0)
            for channel in self._channels:
                self._channels[channel] = (0, 0)
        for receive in list(self._epoch_changed):
            try:
                receive()
            except Exception:
                logger.exception("an epoch change could not be handled")
        return True

    def _hand_over_control(self, encoded: str) -> None:
        data = json.loads(encoded)
        for receive in list(self._control):
            try:
                receive(data)
            except Exception:
                logger.exception("a control message could not be handled")

    def _hand_over_direct(self, fields: dict[str, str]) -> None:
        for receive in list(self._direct):
            try:
                receive(fields["t"], fields["ch"], fields["d"])
            except Exception:
                logger.exception("delivery of a session's own event failed")

    def _hand_over(self, channel: str, fields: dict[str, str]) -> None:
        encoded = fields["d"]
        message = BrokerMessage(channel, json.loads(encoded), encoded, int(fields["p"]))
        for deliver in list(self._deliver):
            try:
                deliver(message)
            except Exception:
                logger.exception("delivery of a %s event failed", channel)
