"""The hub: which local subscriber gets which channel, and the fan-out (spec delivery.md).

The hub is this process's end of the broker. Each event the broker delivers is encoded once
(``BrokerMessage.encoded``) and handed to every local subscriber of its channel, in the order
the broker delivers them [DELIVERY-3]; subscribers splice the encoded data into their own frame
(a session adds its own ``seq``). Delivery never waits: a subscriber queues the frame or, if
its queue is full, cuts its own connection [LIMIT-4, SECURITY-4].
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from canaux.server.broker import Broker, BrokerMessage

__all__ = ["Hub", "Subscriber"]

logger = logging.getLogger("canaux.server.hub")


class Subscriber(Protocol):
    """Anything that receives channel events: a session, a legacy connection."""

    def deliver(self, channel: str, data_json: str) -> None:
        """Take one event without waiting; ``data_json`` is its data as compact JSON."""


class Hub:
    """Channel → local subscribers, fed by the broker."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        # dict as an ordered set: fan-out order is subscription order, which keeps runs
        # reproducible (no correctness depends on it).
        self._subscribers: dict[str, dict[Subscriber, None]] = {}
        self._lock = asyncio.Lock()
        self._joining: dict[str, int] = {}
        """Channels a :meth:`subscribe_from` is about to join: not released meanwhile."""
        broker.attach(self._on_message)

    def channels(self, subscriber: Subscriber) -> list[str]:
        """The channels ``subscriber`` receives here."""
        return [name for name, subs in self._subscribers.items() if subscriber in subs]

    def is_subscribed(self, channel: str, subscriber: Subscriber) -> bool:
        return subscriber in self._subscribers.get(channel, {})

    def subscriber_count(self, channel: str) -> int:
        return len(self._subscribers.get(channel, {}))

    async def subscribe(self, channel: str, subscriber: Subscriber) -> None:
        """Deliver ``channel`` to ``subscriber`` from now on [OPS-6].

        When this returns, the broker delivers the channel to this process, so every event
        published afterwards reaches the subscriber.
        """
        async with self._lock:
            # Every time, not only for the channel's first local subscriber: a networked
            # broker returns once the events published before are behind it (none of them
            # reaches the new subscriber) [OPS-6].
            await self._broker.subscribe(channel)
            subscribers = self._subscribers.setdefault(channel, {})
            subscribers[subscriber] = None

    async def subscribe_from(
        self,
        subscriber: Subscriber,
        channels: list[str],
        replay: Callable[[Callable[[], None]], Awaitable[bool]],
    ) -> bool:
        """Deliver ``channels`` to ``subscriber`` from a past point: ``replay`` hands it what it
        missed, then calls the join function it is given, which adds it here with no event in
        between (a session adopted from another process, spec "Clusters"); what ``replay``
        returns (``False``: the past is gone, the subscriber was not added).

        Only the broker's joining of the channels is under the hub's lock: many sessions
        adopted at once (a reconnect storm) replay side by side. A broker with ``join``
        (the Redis one) delivers the channel from where its reader is, which the replay
        starts from; the channels are not released until the replay ends."""
        join_now = getattr(self._broker, "join", None)
        async with self._lock:
            for channel in channels:
                if callable(join_now):
                    join_now(channel)
                else:
                    await self._broker.subscribe(channel)
                self._joining[channel] = self._joining.get(channel, 0) + 1

        def join() -> None:
            for channel in channels:
                self._subscribers.setdefault(channel, {})[subscriber] = None

        try:
            return await replay(join)
        finally:
            for channel in channels:
                left = self._joining[channel] - 1
                if left:
                    self._joining[channel] = left
                else:
                    del self._joining[channel]
                # Seen by release_unused() if nobody joined it (a replay that failed).
                self._subscribers.setdefault(channel, {})

    async def unsubscribe(self, channel: str, subscriber: Subscriber) -> None:
        """Deliver nothing more of ``channel`` to ``subscriber`` [OPS-6]."""
        self._remove(channel, subscriber)
        await self._release(channel)

    def drop_channel(self, channel: str, subscriber: Subscriber) -> None:
        """Remove ``subscriber`` from ``channel`` without waiting (an aborted subscribe)."""
        self._remove(channel, subscriber)

    def drop(self, subscriber: Subscriber) -> None:
        """Remove ``subscriber`` from every channel at once (session discarded, legacy close)."""
        for channel in self.channels(subscriber):
            self._remove(channel, subscriber)

    def _remove(self, channel: str, subscriber: Subscriber) -> None:
        subscribers = self._subscribers.get(channel)
        if subscribers is not None:
            subscribers.pop(subscriber, None)

    async def _release(self, channel: str) -> None:
        async with self._lock:
            if self._subscribers.get(channel) == {} and channel not in self._joining:
                del self._subscribers[channel]
                await self._broker.unsubscribe(channel)

    async def release_unused(self) -> None:
        """Tell the broker to stop delivering channels nobody here listens to any more."""
        for channel in [name for name, subs in self._subscribers.items() if not subs]:
            await self._release(channel)

    def _on_message(self, message: BrokerMessage) -> None:
        subscribers = self._subscribers.get(message.channel)
        if not subscribers:
            return
        # A copy: a subscriber may drop itself (slow consumer) while we iterate.
        for subscriber in list(subscribers):
            try:
                subscriber.deliver(message.channel, message.encoded)
            except Exception:
                # One broken subscriber must not cost the others their event [SECURITY-4].
                logger.exception("delivery to a subscriber failed")
