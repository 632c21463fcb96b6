"""The Canaux reference server: asyncio, Starlette and uvicorn
(spec sse.md, legacy.md, http-publish.md, index.md).

One process, one port: the Canaux WebSocket (``/ws``), the SSE binding (``/events``), the
legacy sockets (``/ws/chat``, ``/api/ws``), HTTP publish and health. Protocol rules live in the
sans-I/O core :mod:`canaux.protocol`; this package is the I/O around it, the hub, and the
channels: the app declares its own with :class:`Channel` (``ServerConfig(channels=[...])``),
the standard ones are declared the same way, and the app publishes in-process with
``await runtime_of(app).publish(channel, data)``. Authentication is one setting:
``ServerConfig(authenticate=JWTAuthenticator(secret=...))``, or any async callable returning
the identity or a :class:`Principal` (its expiry and channel :class:`Grants`).

Standalone: ``canaux serve`` or :func:`serve`. Inside an application:
``fastapi_app.mount("/canaux", create_app(ServerConfig()))``.
"""

from __future__ import annotations

from canaux.server.app import create_app, runtime_of
from canaux.server.broker import Broker, BrokerMessage, MemoryBroker, StateChange
from canaux.server.channels import (
    Access,
    Channel,
    Publication,
    Refused,
    Requester,
    Subscription,
)
from canaux.server.channels.chat import Agent, EchoAgent
from canaux.server.config import Authenticator, ServerConfig, Unauthorized
from canaux.server.jwt import JWTAuthenticator
from canaux.server.principal import Grants, Principal
from canaux.server.run import serve, serve_async
from canaux.server.runtime import ServerRuntime

__all__ = [
    "Access",
    "Agent",
    "Authenticator",
    "Broker",
    "BrokerMessage",
    "Channel",
    "EchoAgent",
    "Grants",
    "JWTAuthenticator",
    "MemoryBroker",
    "Principal",
    "Publication",
    "Refused",
    "Requester",
    "ServerConfig",
    "ServerRuntime",
    "StateChange",
    "Subscription",
    "Unauthorized",
    "create_app",
    "runtime_of",
    "serve",
    "serve_async",
]
