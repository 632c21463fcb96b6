"""The ASGI app of the reference server (spec sse.md, legacy.md, http-publish.md, index.md).

:func:`create_app` builds a Starlette app with every front door on one port::

    /ws          Canaux WebSocket, subprotocol canaux.v1
    /events      SSE binding (also at /api/events, the design note's SSE_URL)
    /ws/chat     legacy chat socket
    /api/ws      legacy system/progress socket
    /publish     POST: backend publish (bearer token)
    /tasks/scan  POST: start a library scan below the scan root (bearer token)
    /health      GET: liveness and counts
    /asyncapi.json  GET: the AsyncAPI document of this server's catalogue (app channels too)
    /schemas/…   GET: the schema files that document references

It mounts into FastAPI or Starlette as it is: ``app.mount("/canaux", create_app(config))``.
A mounted app gets no lifespan events from its parent, so it starts its background parts on
the first request; call ``await canaux_app.state.canaux.aclose()`` when the parent stops to
close clients with 1001 (standalone, :func:`canaux.server.serve` does it).

Its ``/ws`` connections go straight to the door, ahead of Starlette's middleware stack (its
error and exception middlewares, the router, the route): Starlette adds nothing to a
WebSocket the door accepts itself, and each of its layers is a coroutine that stays suspended
for the whole life of an idle connection (issue #14). An app given middleware of its own
(``app.add_middleware``) serves ``/ws`` through it, as any Starlette app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from canaux.server.config import ServerConfig
from canaux.server.description import asyncapi_endpoint, schema_endpoint
from canaux.server.http_api import health_endpoint, publish_endpoint, scan_endpoint
from canaux.server.legacy import api_ws_endpoint, chat_ws_endpoint
from canaux.server.runtime import ServerRuntime
from canaux.server.sse import events_endpoint
from canaux.server.websocket import WebSocketDoor, websocket_endpoint

__all__ = ["create_app", "runtime_of"]


def _bind(
    handler: Callable[[ServerRuntime, WebSocket], Awaitable[None]], runtime: ServerRuntime
) -> Callable[[WebSocket], Awaitable[None]]:
    bound: Callable[[WebSocket], Awaitable[None]] = partial(handler, runtime)
    return bound


WS_PATH = "/ws"
"""The Canaux WebSocket's route path, below the app's mount point."""


def _route_path(scope: Scope) -> str:
    """The path below the app's mount point, as Starlette's router matches it (``path`` minus
    ``root_path`` when it starts with it: a Mount extends ``root_path`` and keeps ``path``;
    the Starlette of before 0.33 cut ``path`` itself)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    rest = path[len(root_path) :]
    if not rest or rest[0] == "/":
        return rest
    return path


class _CanauxApp(Starlette):
    """Starlette, serving ``/ws`` ahead of its middleware stack (see the module docstring)."""

    def __init__(self, runtime: ServerRuntime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "websocket"
            and not self.user_middleware
            and _route_path(scope) == WS_PATH
        ):
            scope["app"] = self
            await websocket_endpoint(self._runtime, WebSocket(scope, receive, send), send)
            return
        await super().__call__(scope, receive, send)


def create_app(config: ServerConfig | None = None) -> Starlette:
    """A new server app; ``app.state.canaux`` is its :class:`ServerRuntime`."""
    runtime = ServerRuntime(config if config is not None else ServerConfig())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start(announce=True)
        try:
            yield
        finally:
            await runtime.aclose()

    app = _CanauxApp(
        runtime,
        routes=[
            # Served ahead of the router (_CanauxApp) unless the app has middleware of its own.
            WebSocketRoute(WS_PATH, WebSocketDoor(runtime)),
            Route("/events", events_endpoint(runtime), methods=["GET"]),
            # The design note's SSE_URL (http://api:8001/api/events), kept working.
            Route("/api/events", events_endpoint(runtime), methods=["GET"]),
            WebSocketRoute("/ws/chat", _bind(chat_ws_endpoint, runtime)),
            WebSocketRoute("/api/ws", _bind(api_ws_endpoint, runtime)),
            Route("/publish", publish_endpoint(runtime), methods=["POST"]),
            Route("/tasks/scan", scan_endpoint(runtime), methods=["POST"]),
            Route("/health", health_endpoint(runtime), methods=["GET"]),
            Route("/asyncapi.json", asyncapi_endpoint(runtime), methods=["GET"]),
            Route("/schemas/{path:path}", schema_endpoint(runtime), methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.canaux = runtime
    return app


def runtime_of(app: Starlette) -> ServerRuntime:
    """The :class:`ServerRuntime` of an app made by :func:`create_app`."""
    runtime = app.state.canaux
    if not isinstance(runtime, ServerRuntime):
        raise TypeError("not an app made by canaux.server.create_app")
    return runtime
