"""Declaring a channel: its name, schema, publishers, access policy and hooks
(spec channels.md, standard-channels.md).

A :class:`Channel` is everything a server needs to offer one catalogue entry: an exact name
(``library``) or a family (``team.*``) [CHANNEL-1, CHANNEL-2], the schema of its data, who may
publish on it, who may subscribe or publish (the access policy, CHANNEL-13) and what happens on
a publish and on a subscribe. The standard channels (chat, playqueue, system, progress) and the
``conformance.*`` family are declared with this same class (see :mod:`canaux.server.channels`)::

    class Scan(BaseModel):
        root: str
        files: int

    library = Channel("library", schema=Scan, publish="server", retain_last=True)
    app = create_app(ServerConfig(channels=[library]))

Who may publish (``publish``):

* ``"server"``: only the server (``server.publish``, ``POST /publish``, its own logic); a client
  publish is ``forbidden`` [CHANNEL-4]. The catalogue says ``"server"``.
* ``"client"``: clients publish; the channel's hook answers them (chat, playqueue). The
  server's own publish path (``server.publish``, ``POST /publish``) is ``forbidden`` because
  such a publish has no requester [HTTP-1]. The catalogue says ``"client"``.
* ``"both"``: clients and the server publish the same data (plain pub/sub, like
  ``conformance.*``). The catalogue says ``"client"``.

Hooks (all optional; each is called with the concrete channel name, also for a family):

* ``access(Access) -> bool``: may this identity subscribe / publish; ``False`` is answered
  with ``forbidden`` [CHANNEL-13], checked after ``unknown_channel`` and before the schema
  [CHANNEL-14]. It is called once per subscribe and per publish: keep it a quick, pure check.
* ``on_publish(Publication) -> Awaitable[None]``: handles a publish that passed every check.
  Without it the data is delivered to every subscriber (:meth:`Publication.broadcast`). It may
  transform the data (``broadcast(other)``), keep state in the broker
  (:meth:`Publication.update_state`), answer the requester only (:meth:`Publication.reply`),
  start work that outlives the request (:meth:`Publication.spawn`), or refuse by raising
  :class:`Refused`: the publisher gets that error and nothing is delivered [CHANNEL-7].
* ``snapshot(Subscription) -> Awaitable[data | None]``: an event sent to the new subscriber
  only, right after its subscribe ``ack`` (the play queue's state [QUEUE-1]); ``None`` sends
  nothing. With ``retain_last=True`` and no hook, the snapshot is the last event published.

State that several server processes must share lives in the broker
(:meth:`Publication.update_state`, :meth:`Subscription.get_state`), never in the hook's closure.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from canaux.protocol.codes import ErrorCode
from canaux.protocol.errors import ServerError
from canaux.server.broker import Broker, StateChange

__all__ = [
    "Access",
    "AccessPolicy",
    "Action",
    "Channel",
    "Publication",
    "PublishHook",
    "Publishers",
    "Refused",
    "Requester",
    "SchemaSource",
    "SnapshotHook",
    "Subscription",
]

Publishers = Literal["client", "server", "both"]
Action = Literal["subscribe", "publish"]


class Refused(ServerError):
    """A publish (or request) refused with an error code of the registry [CHANNEL-7].

    ``pointer`` locates the offending value in the publish frame (``/data/index``) when there is
    one. Raised by an ``on_publish`` hook, and by ``server.publish`` for data the channel does
    not take (``unknown_channel``, ``forbidden``, ``invalid_payload``).
    """

    def __init__(self, code: ErrorCode, message: str, pointer: str | None = None) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
        self.pointer = pointer


@dataclass(frozen=True, slots=True)
class Access:
    """What an access policy decides on: who asks to do what on which channel [CHANNEL-13]."""

    identity: str | None
    """The session identity [SECURITY-2]: the authenticator's principal, or the token itself."""
    channel: str
    """The concrete channel name (``team.7`` for the family ``team.*``)."""
    action: Action
    principal: object = None
    """Whatever the authenticator returned beyond the identity (claims…), when it does."""


AccessPolicy = Callable[[Access], bool]


class Requester(Protocol):
    """The session (or legacy socket) that sent a client publish."""

    @property
    def identity(self) -> str | None: ...

    def send(self, channel: str, data: Any) -> None:
        """Deliver an event to this requester only [CHAT-2, SECURITY-3]; never waits."""

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``work`` in the background for as long as the requester lives."""


@dataclass(slots=True)
class Publication:
    """One publish that passed the catalogue checks, as an ``on_publish`` hook sees it."""

    channel: str
    """The concrete channel name."""
    data: Any
    broker: Broker
    requester: Requester | None = None
    """The publishing session; ``None`` when the server publishes (in-process, HTTP)."""
    request_id: str | None = None
    """The ``id`` of the client's ``publish`` frame (correlates replies, like chat's
    ``request``); ``None`` for a server publish."""
    _state_key: str | None = None
    _check: Callable[[str, Any], None] | None = None
    """Checks an event the hook makes against the event schema [CHANNEL-12] (app channels)."""
    _work: list[tuple[Coroutine[Any, Any, None], str]] | None = None

    @property
    def identity(self) -> str | None:
        return self.requester.identity if self.requester is not None else None

    async def broadcast(self, data: Any = None, /) -> None:
        """Deliver ``data`` (default: the published data) to every subscriber of the channel,
        in the channel's one order [DELIVERY-3]; with ``retain_last`` it is also kept."""
        event = self.data if data is None else data
        if data is not None and self._check is not None:
            self._check(self.channel, event)
        if self._state_key is None:
            await self.broker.publish(self.channel, event)
        else:
            await self.broker.update_state(
                self._state_key, self.channel, lambda _old: StateChange(event, event)
            )

    async def update_state(self, key: str, change: Callable[[Any], StateChange]) -> StateChange:
        """Change the broker state ``key`` and publish ``StateChange.event`` on this channel in
        one atomic step (see :meth:`canaux.server.broker.Broker.update_state`); ``change``
        may raise :class:`Refused` to refuse the publish."""
        return await self.broker.update_state(key, self.channel, change)

    def reply(self, data: Any) -> None:
        """An event on this channel to the requester only [CHAT-2]."""
        if self.requester is None:
            raise Refused(ErrorCode.FORBIDDEN, f"{self.channel}: a reply needs a requester")
        if self._check is not None:
            self._check(self.channel, data)
        self.requester.send(self.channel, data)

    def spawn(self, work: Coroutine[Any, Any, None], name: str | None = None) -> None:
        """Run ``work`` once the publish is acknowledged (after the ``ack``, so what it
        replies follows the ack [CHAT-1]), for as long as the requester lives."""
        if self.requester is None:
            work.close()
            raise Refused(ErrorCode.FORBIDDEN, f"{self.channel}: background work needs a requester")
        if self._work is None:
            self._work = []
        self._work.append((work, name or f"canaux {self.channel} {self.request_id}"))

    def _start(self) -> None:
        work, self._work = self._work, None
        if work and self.requester is not None:
            for coroutine, name in work:
                self.requester.spawn(coroutine, name)

    def _abandon(self) -> None:
        work, self._work = self._work, None
        for coroutine, _ in work or ():
            coroutine.close()


@dataclass(frozen=True, slots=True)
class Subscription:
    """A new subscription, as a ``snapshot`` hook sees it."""

    channel: str
    identity: str | None
    broker: Broker

    async def get_state(self, key: str) -> Any:
        """The broker state stored under ``key`` (``None`` when there is none)."""
        return await self.broker.get_state(key)


PublishHook = Callable[[Publication], Awaitable[None]]
SnapshotHook = Callable[[Subscription], Awaitable[Any]]

SchemaSource = Mapping[str, Any] | type | str
"""A JSON Schema (a dict), a pydantic model class (its ``model_json_schema()``), or the
``$id`` of a schema already in the registry that has ``$defs/event`` (the standard channels)."""


@dataclass(frozen=True, slots=True, eq=False)
class Channel:
    """One channel (or family ``prefix.*``) a server offers, and how it behaves."""

    name: str
    schema: SchemaSource
    """The data of every event [CHANNEL-11, CHANNEL-12]; also what clients publish, unless
    ``publish_schema`` says otherwise."""
    publish: Publishers = "server"
    publish_schema: Mapping[str, Any] | type | None = None
    """What clients may publish, when it differs from ``schema`` (a hook turns it into events)."""
    access: AccessPolicy | None = None
    on_publish: PublishHook | None = None
    snapshot: SnapshotHook | None = None
    retain_last: bool = False
    """Keep the last event in the broker and send it to each new subscriber (when there is no
    ``snapshot`` hook): "the latest scan", "the current status"."""
    title: str | None = None
    description: str | None = None
    schema_id: str | None = None
    """The ``$id`` the catalogue announces for an app schema [CHANNEL-11]; by default
    ``urn:canaux:channel:<name>``."""

    def __post_init__(self) -> None:
        if self.publish not in ("client", "server", "both"):
            raise ValueError(f"{self.name!r}: publish must be 'client', 'server' or 'both'")
        if self.publish == "client" and self.on_publish is None:
            raise ValueError(
                f"{self.name!r}: a channel only clients publish on needs an on_publish hook "
                "(publish='both' is plain pub/sub)"
            )
        if self.publish == "server" and self.publish_schema is not None:
            raise ValueError(f"{self.name!r}: publish_schema is for channels clients publish on")
        if isinstance(self.schema, str) and self.publish_schema is not None:
            raise ValueError(f"{self.name!r}: a schema $id already holds its publish schema")
        if self.snapshot is not None and self.retain_last:
            raise ValueError(f"{self.name!r}: retain_last is the default snapshot; give one")
        if self.on_publish is not None and self.retain_last:
            # A hook decides what is delivered; it keeps state with update_state itself.
            raise ValueError(f"{self.name!r}: retain_last applies to the default delivery only")

    @property
    def is_family(self) -> bool:
        return self.name.endswith(".*")

    @property
    def catalogue_publish(self) -> Literal["client", "server"]:
        """The ``publish`` member of the catalogue entry [CHANNEL-4]."""
        return "server" if self.publish == "server" else "client"

    @property
    def clients_publish(self) -> bool:
        return self.publish != "server"

    @property
    def server_publishes(self) -> bool:
        """Whether ``server.publish`` and ``POST /publish`` serve this channel [HTTP-1]."""
        return self.publish != "client"

    def permits(self, access: Access) -> bool:
        return self.access is None or bool(self.access(access))

    def retained_key(self, channel: str) -> str | None:
        """The broker key of the retained last event of ``channel``, if it retains one."""
        return f"canaux.retained:{channel}" if self.retain_last else None

    async def deliver(self, publication: Publication) -> None:
        """Run the publish: the hook, or the default delivery (broadcast)."""
        if self.on_publish is not None:
            await self.on_publish(publication)
        else:
            await publication.broadcast()

    async def first_event(self, subscription: Subscription) -> Any:
        """The event a new subscriber gets after its ``ack``, or ``None``."""
        if self.snapshot is not None:
            return await self.snapshot(subscription)
        key = self.retained_key(subscription.channel)
        if key is not None:
            return await subscription.get_state(key)
        return None
