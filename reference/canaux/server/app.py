"""The ASGI app of the reference server (spec §13-§15, §17 "canaux.server").

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
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from canaux.server.config import ServerConfig
from canaux.server.description import asyncapi_endpoint, schema_endpoint
from canaux.server.http_api import health_endpoint, publish_endpoint, scan_endpoint
from canaux.server.legacy import api_ws_endpoint, chat_ws_endpoint
from canaux.server.runtime import ServerRuntime
from canaux.server.sse import events_endpoint
from canaux.server.websocket import WebSocketDoor

__all__ = ["create_app", "runtime_of"]


def _bind(
    handler: Callable[[ServerRuntime, WebSocket], Awaitable[None]], runtime: ServerRuntime
) -> Callable[[WebSocket], Awaitable[None]]:
    bound: Callable[[WebSocket], Awaitable[None]] = partial(handler, runtime)
    return bound


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

    app = Starlette(
        routes=[
            WebSocketRoute("/ws", WebSocketDoor(runtime)),
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
