"""The running state of one server app: every shared part, built once (spec index.md).

:class:`ServerRuntime` ties the parts together: the broker and the hub, the session registry,
the channels (standard and the app's, :class:`~canaux.server.channels.table.ChannelTable`) and
their catalogue, the standard channel services, and the open connections. Endpoints receive it
when the app is built; :meth:`ServerRuntime.start` runs on the first request or at startup, and
:meth:`ServerRuntime.aclose` is the graceful shutdown: every connection is closed with 1001.

The application publishes through it: ``await runtime.publish(channel, data)`` in the server's
event loop, :meth:`ServerRuntime.publish_threadsafe` from any other thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from typing import Any, Protocol

from canaux.protocol.channels import Catalogue
from canaux.protocol.codes import CloseCode
from canaux.server.broker import Broker, MemoryBroker, open_broker
from canaux.server.channels.channel import Channel
from canaux.server.channels.chat import Agent, EchoAgent
from canaux.server.channels.playqueue import PlayQueue
from canaux.server.channels.progress import TaskRunner
from canaux.server.channels.standard import standard_channels
from canaux.server.channels.system import SystemNotices
from canaux.server.channels.table import ChannelTable
from canaux.server.config import ServerConfig
from canaux.server.hub import Hub
from canaux.server.session_store import session_store_of
from canaux.server.sessions import SessionRegistry

__all__ = ["CloseListener", "Connection", "ServerRuntime"]

logger = logging.getLogger("canaux.server")


class Connection(Protocol):
    """An open client connection (WebSocket, SSE stream or legacy socket)."""

    def go_away(self, code: int, reason: str) -> None:
        """Start closing with ``code`` (the server is stopping); do not wait."""

    async def wait_closed(self) -> None:
        """Return once the connection is fully closed."""


CloseListener = Callable[[str, int], None]
"""Called with (kind, close code) each time the server closes a connection; for tests/metrics."""


class ServerRuntime:
    """Everything one server app shares between its endpoints."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.limits = config.limits
        broker = config.broker
        if broker is None:
            self.broker: Broker = MemoryBroker()
        elif isinstance(broker, str):
            self.broker = open_broker(broker)
        else:
            self.broker = broker
        # A broker passed in the config belongs to the application (it may serve several
        # apps); only the one made here is closed with the app.
        self._owns_broker = broker is None or isinstance(broker, str)
        self.hub = Hub(self.broker)
        self.registry = SessionRegistry(self.limits, self.hub, store=session_store_of(self.broker))
        self.agent: Agent = config.agent if config.agent is not None else EchoAgent()
        self.channels = ChannelTable(self._declared_channels(config), self.broker)
        self.catalogue: Catalogue = self.channels.catalogue
        self.notices = SystemNotices(self.broker)
        self.playqueue = PlayQueue(self.broker)
        self.tasks = TaskRunner(self.broker, self.notices)
        self.connections: set[Connection] = set()
        self._close_listeners: list[CloseListener] = []
        self._started = False
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def _declared_channels(self, config: ServerConfig) -> list[Channel]:
        by_name: dict[str, Channel] = {
            channel.name: channel
            for channel in standard_channels(
                self.agent,
                chat_timeout_s=config.chat_timeout_s,
                standard=config.standard_channels,
                conformance=config.conformance,
            )
        }
        for channel in config.channels:
            # An app channel with a standard name takes that channel's place in the order.
            by_name[channel.name] = channel
        return list(by_name.values())

    @property
    def closing(self) -> bool:
        return self._closing

    async def publish(self, channel: str, data: Any) -> None:
        """Publish ``data`` on ``channel`` from the application, in this server's event loop.

        ``data`` is a JSON value or a pydantic model instance (published as its JSON form).
        The same path as ``POST /publish`` [HTTP-1, HTTP-3, HTTP-4]: ``data`` is checked
        against the channel's schema and its hook runs (progress stays monotonic…); when this
        returns, the event has its place in the channel's order and reaches every subscriber
        like any other, with its ``seq``, replayed on resume [DELIVERY-3, RESUME-3]. Raises
        :class:`~canaux.server.channels.Refused` (``unknown_channel``, ``forbidden`` on a
        channel only clients publish on, ``invalid_payload`` for data that fails the schema or
        is not I-JSON [TRANSPORT-20], or the hook's own refusal);
        then nothing is delivered.
        """
        self._remember_loop()
        dump = getattr(data, "model_dump", None)
        if callable(dump):  # a pydantic model instance: its JSON form
            data = dump(mode="json")
        await self.channels.server_publish(channel, data)

    def publish_threadsafe(self, channel: str, data: Any) -> concurrent.futures.Future[None]:
        """:meth:`publish` from another thread (a sync FastAPI route, a worker thread).

        Returns a :class:`concurrent.futures.Future`: ``.result(timeout)`` waits for the
        publish and raises its :class:`~canaux.server.channels.Refused`. The server must be
        running (its loop is the one it started in, or first served a request in); calling
        this from that loop's own thread raises :class:`RuntimeError`: ``await publish()``.
        """
        loop = self._loop
        if loop is None or loop.is_closed():
            raise RuntimeError("the Canaux server is not running: no event loop to publish in")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError("publish_threadsafe() called in the server's loop: await publish()")
        return asyncio.run_coroutine_threadsafe(self.publish(channel, data), loop)

    def _remember_loop(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()

    async def start(self, *, announce: bool = False) -> None:
        """Start the background parts (idempotent); ``announce`` posts a ``server.start`` notice."""
        if self._started:
            return
        self._started = True
        self._remember_loop()
        self.registry.start()
        if announce:
            await self.notices.publish("info", "Canaux server started", "server.start")

    def ensure_started(self) -> None:
        """Start on first use: a sub-app mounted in FastAPI gets no lifespan events."""
        if not self._started:
            self._started = True
            self._remember_loop()
            self.registry.start()

    def add_close_listener(self, listener: CloseListener) -> None:
        self._close_listeners.append(listener)

    def closed(self, kind: str, code: int) -> None:
        """Record that the server closed a ``kind`` connection with ``code``."""
        for listener in list(self._close_listeners):
            try:
                listener(kind, code)
            except Exception:
                logger.exception("close listener failed")

    async def aclose(self, *, announce: bool = True) -> None:
        """Graceful shutdown: notice, close every connection with 1001, stop tasks, drop state.

        Sessions are detached, not discarded, until the very end, so a process that stays up
        (an app mounted elsewhere) keeps them resumable within the window.
        """
        if self._closing:
            return
        self._closing = True
        if announce and self._started:
            try:
                await self.notices.publish("info", "Canaux server stopping", "server.stop")
            except Exception:
                logger.exception("could not publish the stop notice")
        await self.close_connections(CloseCode.GOING_AWAY, "server shutting down")
        await self.tasks.aclose()
        await self.registry.aclose()
        if self._owns_broker:
            await self.broker.aclose()

    async def close_connections(self, code: int, reason: str) -> None:
        """Close every open connection with ``code`` and wait (bounded) until they are gone."""
        connections = list(self.connections)
        for connection in connections:
            connection.go_away(code, reason)
        if not connections:
            return
        waiting = [asyncio.ensure_future(c.wait_closed()) for c in connections]
        _, pending = await asyncio.wait(waiting, timeout=self.config.shutdown_timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            logger.warning("%d connection(s) did not close in time", len(pending))
