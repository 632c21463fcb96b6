"""The channels one server offers, and the calls every front door makes on them
(channels.md, standard-channels.md).

:class:`ChannelTable` is built once per server from its :class:`Channel` declarations. It owns
the :class:`~canaux.protocol.channels.Catalogue` (names, families, schemas, with the app
channels' schema documents in its registry) and answers, for any concrete channel name:

* :meth:`permits`: the access policy [CHANNEL-13];
* :meth:`client_publish`: run a client publish the core accepted (hook or broadcast);
* :meth:`server_publish`: validate and run a publish by the server (in-process, HTTP) [HTTP-1];
* :meth:`subscribed`: the snapshot a new subscriber gets after its ack [QUEUE-1].

No front door branches on a channel name: each calls these. Finding a channel is a dict hit
(exact names, and family members seen before), not a walk over the channels.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from typing import Any

from referencing import Resource
from referencing.jsonschema import DRAFT202012

import canaux_schemas
from canaux.protocol import ijson
from canaux.protocol.channels import Catalogue, ChannelSpec, PayloadProblem
from canaux.protocol.codes import ErrorCode
from canaux.server.broker import Broker
from canaux.server.channels.channel import (
    Access,
    Action,
    Channel,
    Publication,
    Refused,
    Requester,
    Subscription,
)
from canaux.server.channels.schema import channel_document
from canaux.server.principal import Principal
from canaux.server.sessions import Session

__all__ = ["ChannelTable", "SessionRequester"]

logger = logging.getLogger("canaux.server.channels")

_MEMO_LIMIT = 4096
"""Family members remembered by name; past this the memo restarts (names are client-chosen,
so an unbounded memo would be a way to fill the server's memory)."""


def _check_known(name: str, schema_id: str) -> None:
    """A schema named by ``$id`` must be one this server can validate against."""
    try:
        document = canaux_schemas.registry().contents(schema_id)
    except LookupError:
        document = None
    if not isinstance(document, Mapping) or "event" not in document.get("$defs", {}):
        raise ValueError(
            f"{name!r}: {schema_id!r} is not a channel schema of canaux_schemas "
            "(with $defs/event); pass the schema itself (a dict or a pydantic model)"
        )


class SessionRequester:
    """A session as the requester of a client publish: replies go to it only [CHAT-2]."""

    __slots__ = ("_session",)

    def __init__(self, session: Session) -> None:
        self._session = session

    @property
    def identity(self) -> str | None:
        return self._session.identity

    def send(self, channel: str, data: Any) -> None:
        self._session.emit(channel, data)

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        # Tracked by the session: cancelled when the session is discarded [RESUME-7].
        self._session.track(asyncio.create_task(work, name=name))


class ChannelTable:
    """The channels of one server: catalogue, access policy and hooks, by channel name."""

    def __init__(self, channels: Iterable[Channel], broker: Broker) -> None:
        self._broker = broker
        declared = list(channels)
        specs: list[ChannelSpec] = []
        documents: dict[str, dict[str, Any]] = {}
        for channel in declared:
            schema_id, document = channel_document(channel)
            specs.append(ChannelSpec(channel.name, channel.catalogue_publish, schema_id))
            if document is not None:
                if schema_id in documents or schema_id in canaux_schemas.CHANNEL_SCHEMAS.values():
                    raise ValueError(f"{channel.name!r}: schema $id {schema_id!r} is taken")
                documents[schema_id] = document
            elif schema_id not in canaux_schemas.CHANNEL_SCHEMAS.values():
                _check_known(channel.name, schema_id)
        registry = None
        if documents:
            resources = [
                (sid, Resource.from_contents(doc, default_specification=DRAFT202012))
                for sid, doc in documents.items()
            ]
            registry = canaux_schemas.registry().with_resources(resources).crawl()
        # Raises ValueError for a bad name, a duplicate, a reserved or misused standard name.
        self.catalogue = Catalogue(specs, registry=registry)
        self._documents = documents
        self._by_entry: dict[str, Channel] = {channel.name: channel for channel in declared}
        self._exact = {name: c for name, c in self._by_entry.items() if not c.is_family}
        self._memo: dict[str, Channel] = dict(self._exact)
        # [CHANNEL-12] what an app channel's hooks make (replies, snapshots, transformed data)
        # is checked against its event schema; the standard channels make valid data by
        # construction (their tests say so), and chat's per-chunk replies stay unchecked.
        self._checks: dict[str, Callable[[str, Any], None]] = {
            channel.name: self._check_event
            for channel in declared
            if not isinstance(channel.schema, str)
        }
        self.has_policies = any(channel.access is not None for channel in declared)
        """Whether any channel has an access policy (doors skip the check when none has)."""

    def _check_event(self, name: str, data: Any) -> None:
        problem = self.catalogue.validate_event(name, data)
        if problem is not None:
            # A bug of the app's hook, not of the client: the door answers internal_error
            # [OPS-17] and logs this; nothing invalid goes out.
            raise ValueError(
                f"{name}: the hook made an event that fails its schema at "
                f"{problem.pointer}: {problem.message} [CHANNEL-12]"
            )

    def __iter__(self) -> Iterator[Channel]:
        return iter(self._by_entry.values())

    def __len__(self) -> int:
        return len(self._by_entry)

    @property
    def documents(self) -> Mapping[str, Mapping[str, Any]]:
        """The schema documents of the app channels, by ``$id`` [CHANNEL-11]."""
        return self._documents

    def schema_document(self, channel: Channel) -> Mapping[str, Any]:
        """The schema document announced for ``channel`` (standard or app)."""
        schema_id, document = channel_document(channel)
        if document is not None:
            return document
        found = canaux_schemas.registry().contents(schema_id)
        if not isinstance(found, Mapping):  # pragma: no cover - the shipped schemas are objects
            raise LookupError(schema_id)
        return found

    def resolve(self, name: str) -> Channel | None:
        """The channel declaration covering ``name`` [CHANNEL-2, CHANNEL-9], or ``None``."""
        found = self._memo.get(name)
        if found is not None:
            return found
        spec = self.catalogue.lookup(name)
        if spec is None:
            return None
        channel = self._by_entry[spec.name]
        if len(self._memo) >= _MEMO_LIMIT + len(self._exact):
            self._memo = dict(self._exact)
        self._memo[name] = channel
        return channel

    def permits(
        self, identity: str | None, action: Action, name: str, principal: object = None
    ) -> bool:
        """Whether ``identity`` may ``action`` on channel ``name`` [CHANNEL-13].

        An unknown channel is not permitted (the core answers ``unknown_channel`` before it
        asks). A policy that raises denies: a bug in a policy must not open a channel.
        """
        channel = self.resolve(name)
        if channel is None:
            return False
        if isinstance(principal, Principal) and not principal.permits(action, name):
            return False  # the token's own grants (a JWT's caps) AND the channel's policy
        if channel.access is None:
            return True
        try:
            return channel.permits(Access(identity, name, action, principal))
        except Exception:
            logger.exception("access policy of %s failed; denied", channel.name)
            return False

    async def client_publish(
        self,
        name: str,
        data: Any,
        request_id: str,
        requester: Requester,
        accepted: Callable[[], None],
    ) -> Refused | None:
        """Run a client publish that passed the core's checks [CHANNEL-14].

        On success ``accepted()`` sends the ack, then the work the hook spawned starts (so a
        streamed reply follows its ack [CHAT-1]). A refusal is returned, not raised: nothing
        was delivered and the caller answers with that error.
        """
        channel = self.resolve(name)
        if channel is None:  # pragma: no cover - the core answered unknown_channel already
            return Refused(ErrorCode.UNKNOWN_CHANNEL, f"no channel {name} in the catalogue")
        if channel.on_publish is None and not channel.retain_last:
            # Plain pub/sub (conformance.*): the hot path, no hook to prepare for [CONF-1].
            await self._broker.publish(name, data)
            accepted()
            return None
        publication = Publication(
            name,
            data,
            self._broker,
            requester,
            request_id,
            channel.retained_key(name),
            self._checks.get(channel.name),
        )
        try:
            await channel.deliver(publication)
        except Refused as refused:
            publication._abandon()
            return refused
        except BaseException:
            publication._abandon()
            raise
        accepted()
        publication._start()
        return None

    def check_server_publish(self, name: str, data: Any) -> Channel:
        """The channel a server publish goes to, or :class:`Refused` with the first failed
        check, in the order of CHANNEL-14 / HTTP-1 / HTTP-3; pointers point into
        ``{"channel": …, "data": …}``."""
        channel = self.resolve(name)
        if channel is None:
            raise Refused(ErrorCode.UNKNOWN_CHANNEL, f"unknown channel {name!r}", "/channel")
        if not channel.server_publishes:
            # [HTTP-1] a publish whose meaning needs a requesting session (chat, playqueue).
            raise Refused(
                ErrorCode.FORBIDDEN, f"{name} cannot be published by the server", "/channel"
            )
        try:
            # [TRANSPORT-20] data from the server's own code is refused where it enters when
            # no receiver could read it back as it is (a noncharacter, an integer past 2**53).
            ijson.encode_value(data)
        except ijson.IJsonError as exc:
            pointer = "/data" + (exc.pointer or "")
            raise Refused(ErrorCode.INVALID_PAYLOAD, exc.message, pointer) from None
        problem: PayloadProblem | None
        if channel.publish == "server":
            problem = self.catalogue.validate_event(name, data)
        else:
            problem = self.catalogue.validate_publish(name, data)
        if problem is not None:
            raise Refused(
                ErrorCode.INVALID_PAYLOAD, f"{problem.pointer}: {problem.message}", problem.pointer
            )
        return channel

    async def server_publish(self, name: str, data: Any) -> None:
        """Validate ``data`` and publish it on ``name`` as the server [HTTP-1, HTTP-3, HTTP-4];
        raise :class:`Refused` when the channel does not take it (nothing is delivered)."""
        channel = self.check_server_publish(name, data)
        await channel.deliver(
            Publication(
                name,
                data,
                self._broker,
                None,
                None,
                channel.retained_key(name),
                self._checks.get(channel.name),
            )
        )

    async def subscribed(
        self, name: str, identity: str | None, send: Callable[[str, Any], None]
    ) -> None:
        """Send the channel's snapshot, if it has one, to a subscriber that was just acked
        [QUEUE-1]; ``send`` delivers to that subscriber only."""
        channel = self.resolve(name)
        if channel is None or (channel.snapshot is None and not channel.retain_last):
            return
        event = await channel.first_event(Subscription(name, identity, self._broker))
        if event is not None:
            # A retained event was checked when it was published.
            check = self._checks.get(channel.name) if channel.snapshot is not None else None
            try:
                if check is not None:
                    check(name, event)
            except ValueError:
                # The ack is out and the subscription stands; the bad snapshot is not sent.
                logger.exception("snapshot of %s not sent", name)
                return
            send(name, event)
