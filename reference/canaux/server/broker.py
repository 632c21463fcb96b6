"""The broker: what several server processes must share
(spec delivery.md, standard-channels.md, clusters.md).

A Canaux server process keeps its connections and sessions to itself, but three things must be
the same for every process serving one deployment:

* the order of each channel [DELIVERY-3]: a broker fixes the place of each published event;
* channel state that commands change, such as the play queue [QUEUE-2]: it is read, changed
  and published in one atomic step, so two processes never both apply a command to the same
  version;
* the published events themselves, which every process must see to fan them out locally.

:class:`Broker` is that interface; :class:`MemoryBroker` is the embedded default, good for one
process; :class:`canaux.server.redis_broker.RedisBroker` is shared by every process on one
Redis (:func:`open_broker` makes either from a URL). Sessions are not the broker's: a broker
that shares them offers a :class:`~canaux.server.session_store.SessionStore` (its
``session_store()``), as the Redis broker does.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from canaux.protocol.frames import dumps

__all__ = [
    "BROKER_SCHEMES",
    "Broker",
    "BrokerMessage",
    "Deliver",
    "MemoryBroker",
    "PublishOrigin",
    "StateChange",
    "check_broker_url",
    "open_broker",
    "publish_origin",
]


@dataclass(frozen=True, slots=True)
class BrokerMessage:
    """One published event as the broker hands it to every process."""

    channel: str
    data: Any
    encoded: str
    """``data`` as compact JSON, serialized once for the whole fan-out."""
    position: int
    """Place of the event in its channel's order (1, 2, 3… per channel) [DELIVERY-3]."""


@dataclass(frozen=True, slots=True)
class StateChange:
    """What a state update produced: the new state and, optionally, an event to publish with it."""

    state: Any
    event: Any = None
    publish: bool = True
    """Whether :attr:`event` is published (``False`` when the update is a no-op read)."""


@dataclass(slots=True)
class PublishOrigin:
    """The client request a publish answers: a broker that shares sessions stores its reply
    with the event, so a process that rebuilds the session remembers it [OPS-9]."""

    session: str
    frame_id: str
    reply: str
    """The encoded reply (the ``ack``) the session remembers once the publish took effect."""
    used: bool = False
    """Set by the first broker write that carried it (a request is one event at most)."""


publish_origin: ContextVar[PublishOrigin | None] = ContextVar("canaux_publish_origin", default=None)
"""The request the publishes of the current task answer (set around a client publish)."""


Deliver = Callable[[BrokerMessage], None]
"""The local hub's inbox: called once per event, in channel order, never concurrently."""


class Broker(Protocol):
    """What a server process shares with the other processes of a deployment."""

    def attach(self, deliver: Deliver) -> None:
        """Register the local hub; every event of a subscribed channel is passed to ``deliver``."""

    async def subscribe(self, channel: str) -> None:
        """Start delivering ``channel``'s events to this process.

        Called for each new local subscriber (again while the channel is delivered): when it
        returns, every event published afterwards will be delivered, and every event published
        before has already been delivered (so none of those reaches the new subscriber).
        """

    async def unsubscribe(self, channel: str) -> None:
        """Stop delivering ``channel``'s events to this process."""

    async def publish(self, channel: str, data: Any) -> int:
        """Fix the place of an event in its channel's order and deliver it; return the position."""

    async def update_state(
        self, key: str, channel: str, change: Callable[[Any], StateChange]
    ) -> StateChange:
        """Apply ``change`` to the state stored under ``key`` atomically.

        ``change`` receives the current state (``None`` when there is none) and may raise to
        refuse: nothing is stored or published then. Otherwise the new state is stored and,
        in the same atomic step, ``StateChange.event`` is published on ``channel``, so the
        order of the channel is the order of the state versions. ``change`` must be pure: a
        networked broker may call it again after a conflicting write.
        """

    async def get_state(self, key: str) -> Any:
        """The state stored under ``key`` (``None`` when there is none)."""

    async def aclose(self) -> None:
        """Release the broker's resources."""


class MemoryBroker:
    """The in-process broker: one event loop, every step synchronous, so atomic by construction."""

    def __init__(self) -> None:
        self._deliver: list[Deliver] = []
        self._channels: set[str] = set()
        self._positions: dict[str, int] = {}
        self._states: dict[str, Any] = {}

    def attach(self, deliver: Deliver) -> None:
        self._deliver.append(deliver)

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def publish(self, channel: str, data: Any) -> int:
        return self._publish(channel, data)

    def _publish(self, channel: str, data: Any) -> int:
        # No await between numbering and delivery: the position order IS the delivery order.
        position = self._positions.get(channel, 0) + 1
        self._positions[channel] = position
        if channel in self._channels:
            message = BrokerMessage(channel, data, dumps(data), position)
            for deliver in self._deliver:
                deliver(message)
        return position

    async def update_state(
        self, key: str, channel: str, change: Callable[[Any], StateChange]
    ) -> StateChange:
        result = change(self._states.get(key))
        self._states[key] = result.state
        if result.publish:
            self._publish(channel, result.event)
        return result

    async def get_state(self, key: str) -> Any:
        return self._states.get(key)

    async def aclose(self) -> None:
        self._deliver.clear()
        self._channels.clear()


BROKER_SCHEMES = ("memory", "redis", "rediss", "unix")
"""URL schemes :func:`open_broker` knows: ``memory:`` and redis-py's own."""


def open_broker(url: str) -> Broker:
    """The broker ``url`` names: ``memory:`` (in-process) or a Redis URL such as
    ``redis://127.0.0.1:6379/0`` (every process given that URL shares one deployment);
    ``ValueError`` for any other."""
    if check_broker_url(url) == "memory":
        return MemoryBroker()
    try:
        from canaux.server.redis_broker import RedisBroker
    except ImportError as exc:  # pragma: no cover - redis is in the server extra
        raise ValueError(f"broker {url!r} needs redis-py: pip install 'canaux[server]'") from exc
    return RedisBroker(url)


def check_broker_url(url: str) -> str:
    """The scheme of the broker URL ``url``; ``ValueError`` unless :func:`open_broker` knows it."""
    scheme, colon, _ = url.partition(":")
    if not colon or scheme.lower() not in BROKER_SCHEMES:
        raise ValueError(f"broker {url!r}: expected memory: or redis://HOST:PORT/DB")
    return scheme.lower()
