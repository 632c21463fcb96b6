"""The names applications used before Canaux, kept working (design note; spec legacy.md).

``CentralWebSocketService`` and ``WebSocketService`` keep the API of the original design note
(``register_handler(channel, fn)``, ``await connect()``, ``await send(channel, data)``) on top
of :class:`~canaux.client.Client`. Every service of one process that points at the same URL
shares ONE connection, as the note promised ("une seule connexion WebSocket pour tous les
canaux"). ``WS_URL`` and ``SSE_URL`` are honoured as the note defines them: ``WS_URL`` may be a
base (``ws://api:8001``), and ``SSE_URL`` the old ``http://api:8001/api/events``; a server
mounted under a prefix (``app.mount("/canaux", …)``) is reached by adding the mount path
(``mount_path="/canaux"`` or ``$CANAUX_MOUNT_PATH``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from canaux.client.client import Client, ClientState, ResetCallback, StateCallback
from canaux.client.handlers import Handler
from canaux.client.sse import SSEReader
from canaux.client.tokens import TokenSource

__all__ = [
    "DEFAULT_SSE_URL",
    "DEFAULT_WS_URL",
    "MOUNT_PATH_ENV",
    "SSE_URL_ENV",
    "WS_URL_ENV",
    "CentralWebSocketService",
    "WebSocketService",
    "resolve_sse_url",
    "resolve_ws_url",
]

logger = logging.getLogger("canaux.client.compat")

WS_URL_ENV = "WS_URL"
SSE_URL_ENV = "SSE_URL"
MOUNT_PATH_ENV = "CANAUX_MOUNT_PATH"
DEFAULT_WS_URL = "ws://localhost:8001/ws"
DEFAULT_SSE_URL = "http://localhost:8001/events"

# The single-purpose endpoints of the old services (legacy.md). They speak the legacy framing, not
# canaux.v1, so a WS_URL still naming one of them is redirected to the multiplexed endpoint.
_LEGACY_WS_PATHS = ("/api/ws", "/ws/chat")
# The old SSE path of the design note's SSE_URL; the reference serves it as an alias of /events.
_LEGACY_SSE_PATHS = ("/api/events",)


def _mount(mount_path: str | None) -> str:
    """``/canaux`` from ``canaux``, ``/canaux/`` or ``$CANAUX_MOUNT_PATH``; ``""`` for none."""
    value = mount_path if mount_path is not None else os.environ.get(MOUNT_PATH_ENV, "")
    value = value.strip().strip("/")
    return f"/{value}" if value else ""


def _resolve(value: str, endpoint: str, legacy: tuple[str, ...], mount: str) -> str:
    """``value`` with its path pointing at ``endpoint`` (``/ws``, ``/events``) under ``mount``.

    No path, the mount path alone, the endpoint at the root and a legacy path all name the
    server's endpoint: it goes under the mount path. A legacy tail elsewhere (``/x/api/ws``) is
    replaced by the endpoint; any other path is the endpoint itself, as written.
    """
    parts = urlsplit(value)
    written = parts.path.rstrip("/")
    if written in ("", mount, endpoint, *legacy):
        path = mount + endpoint
    else:
        path = next(
            (written[: -len(old)] + endpoint for old in legacy if written.endswith(old)), written
        )
    if any(written.endswith(old) for old in legacy):
        logger.warning("%s names the legacy endpoint %s; using %s", value, written, path)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def resolve_ws_url(url: str | None = None, mount_path: str | None = None) -> str:
    """The WebSocket URL: ``url``, else ``$WS_URL``, else ``ws://localhost:8001/ws``.

    A base URL without a path (``ws://api:8001``), or with the path ``/ws``, gets
    ``<mount_path>/ws`` (``mount_path``, else ``$CANAUX_MOUNT_PATH``, else none); a legacy
    endpoint path (``/api/ws``, ``/ws/chat``) is replaced by ``/ws`` on the same server.
    """
    value = url or os.environ.get(WS_URL_ENV) or DEFAULT_WS_URL
    return _resolve(value, "/ws", _LEGACY_WS_PATHS, _mount(mount_path))


def resolve_sse_url(url: str | None = None, mount_path: str | None = None) -> str:
    """The SSE URL: ``url``, else ``$SSE_URL``, else ``http://localhost:8001/events``.

    A base URL without a path, or ``/events``, or the old ``/api/events`` gets
    ``<mount_path>/events`` when there is a mount path (and is kept otherwise: the reference
    serves both ``/events`` and ``/api/events``).
    """
    value = url or os.environ.get(SSE_URL_ENV) or DEFAULT_SSE_URL
    mount = _mount(mount_path)
    if not mount and urlsplit(value).path.rstrip("/") in _LEGACY_SSE_PATHS:
        return value  # served as it is by the reference (an alias of /events)
    return _resolve(value, "/events", _LEGACY_SSE_PATHS, mount)


def legacy_chat_data(data: Any) -> Any:
    """Turn the old flat chat message ``{"message": "Hi"}`` into ``{"type":"message","text":"Hi"}``.

    The design note's example sends the flat form (LEGACY-2); the chat channel's schema wants
    the typed one. Anything else passes through untouched.
    """
    if isinstance(data, dict) and "type" not in data and isinstance(data.get("message"), str):
        converted: dict[str, Any] = {"type": "message", "text": data["message"]}
        if isinstance(data.get("conversation"), str):
            converted["conversation"] = data["conversation"]
        return converted
    return data


@dataclass(eq=False)
class _Shared:
    client: Client
    users: set[CentralWebSocketService] = field(default_factory=set)


_shared: dict[tuple[str, TokenSource], _Shared] = {}


class CentralWebSocketService:
    """One connection for every channel, shared by all services pointing at the same URL.

    ::

        ws_service = CentralWebSocketService()
        ws_service.register_handler("chat", chat_handler)
        await ws_service.connect()
        await ws_service.send("chat", {"message": "Hello!"})
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        sse_url: str | None = None,
        mount_path: str | None = None,
        token: TokenSource = None,
        shared: bool = True,
        **client_options: Any,
    ) -> None:
        self.ws_url = resolve_ws_url(url, mount_path)
        self.sse_url = resolve_sse_url(sse_url, mount_path)
        self.token = token
        self._registered: list[tuple[str, Handler]] = []
        key = (self.ws_url, token)
        entry = _shared.get(key) if shared else None
        if entry is None or entry.client.state is ClientState.CLOSED:
            # A connection the server refused for good is not handed to new services.
            entry = _Shared(Client(self.ws_url, token=token, **client_options))
            if shared:
                _shared[key] = entry
        self._entry = entry
        self._key = key if shared else None
        entry.users.add(self)

    @property
    def client(self) -> Client:
        """The underlying :class:`~canaux.client.Client` (shared with the other services)."""
        return self._entry.client

    @property
    def is_connected(self) -> bool:
        return self._entry.client.connected

    def register_handler(self, channel: str, fn: Handler) -> None:
        """Call ``fn(data)`` for each message of ``channel``."""
        self._entry.client.register_handler(channel, fn)
        self._registered.append((channel, fn))

    def unregister_handler(self, channel: str, fn: Handler) -> None:
        self._entry.client.unregister_handler(channel, fn)
        if (channel, fn) in self._registered:
            self._registered.remove((channel, fn))

    def on_state(self, fn: StateCallback) -> None:
        self._entry.client.on_state(fn)

    def on_reset(self, fn: ResetCallback) -> None:
        self._entry.client.on_reset(fn)

    async def connect(self) -> None:
        """Open the shared connection (once) and wait until it is welcomed."""
        if self not in self._entry.users:
            raise RuntimeError("this service was disconnected; create a new one")
        await self._entry.client.connect()

    async def send(self, channel: str, data: Any) -> str:
        """Publish on ``channel``, wait for the ack, return the request id.

        The old flat chat form ``{"message": ...}`` is accepted.
        """
        if channel == "chat":
            data = legacy_chat_data(data)
        return await self._entry.client.send(channel, data)

    async def disconnect(self) -> None:
        """Remove this service's handlers; the last service of a connection closes it."""
        for channel, fn in self._registered:
            self._entry.client.unregister_handler(channel, fn)
        self._registered.clear()
        self._entry.users.discard(self)
        if not self._entry.users:
            if self._key is not None and _shared.get(self._key) is self._entry:
                del _shared[self._key]
            await self._entry.client.close()

    close = disconnect

    def sse_reader(self, channels: Iterable[str]) -> SSEReader:
        """A read-only SSE stream of ``channels`` from ``SSE_URL`` (for receive-only pages)."""
        return SSEReader(self.sse_url, channels, token=self.token)


class WebSocketService:
    """The old single-purpose service, now a view on the central one; ``system`` by default."""

    DEFAULT_CHANNEL = "system"

    def __init__(self, url: str | None = None, **options: Any) -> None:
        self._central_service = CentralWebSocketService(url, **options)

    @property
    def ws_url(self) -> str:
        return self._central_service.ws_url

    @property
    def central(self) -> CentralWebSocketService:
        return self._central_service

    @property
    def is_connected(self) -> bool:
        return self._central_service.is_connected

    def register_handler(self, *args: Any, **kwargs: Any) -> None:
        """Call ``fn(data)`` for each message of ``channel`` (``system`` unless told).

        Takes the central service's order, ``register_handler(channel, fn)``, and the old one,
        ``register_handler(fn)`` / ``register_handler(fn, channel="progress")``.
        """
        channel, fn = _channel_and_handler("register_handler", args, kwargs, self.DEFAULT_CHANNEL)
        self._central_service.register_handler(channel, fn)

    def unregister_handler(self, *args: Any, **kwargs: Any) -> None:
        """The reverse of :meth:`register_handler`, with the same two argument orders."""
        channel, fn = _channel_and_handler("unregister_handler", args, kwargs, self.DEFAULT_CHANNEL)
        self._central_service.unregister_handler(channel, fn)

    async def connect(self) -> None:
        await self._central_service.connect()

    async def send(self, channel: str, data: Any) -> str:
        return await self._central_service.send(channel, data)

    async def disconnect(self) -> None:
        await self._central_service.disconnect()

    close = disconnect


def _channel_and_handler(
    method: str, args: tuple[Any, ...], kwargs: dict[str, Any], default: str
) -> tuple[str, Handler]:
    """``(channel, fn)`` from either order of :class:`WebSocketService` calls; else TypeError."""
    unknown = set(kwargs) - {"channel", "fn"}
    positional = list(args)
    if unknown or len(positional) > 2:
        raise TypeError(_usage(method, f"unexpected arguments {sorted(unknown) or args!r}"))
    if positional and isinstance(positional[0], str):
        positional = positional[1:] + positional[:1]  # (channel, fn) -> (fn, channel)
    fn = kwargs.get("fn", positional[0] if positional else None)
    channel = kwargs.get("channel", positional[1] if len(positional) > 1 else default)
    if not callable(fn):
        raise TypeError(_usage(method, f"no handler function given (got {fn!r})"))
    if not isinstance(channel, str):
        raise TypeError(_usage(method, f"channel must be a str, not {type(channel).__name__}"))
    return channel, fn


def _usage(method: str, problem: str) -> str:
    return (
        f"WebSocketService.{method}: {problem}; call it as {method}(channel, fn), "
        f"{method}(fn) (channel 'system') or {method}(fn, channel='progress')"
    )
