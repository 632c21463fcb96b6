"""Configuration of the reference server (spec limits.md, http-publish.md, index.md).

One :class:`ServerConfig` describes a server: where it listens, which limits it enforces and
announces, which channels it offers (the standard ones, the conformance family, the app's own),
the HTTP publish token, the scan root, and the pluggable parts (broker, chat agent).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from canaux.protocol.errors import ServerError
from canaux.protocol.limits import Limits
from canaux.server.broker import Broker, check_broker_url
from canaux.server.channels.channel import Channel
from canaux.server.channels.chat import Agent
from canaux.server.principal import Principal

__all__ = ["DEFAULT_PORT", "PUBLISH_TOKEN_ENV", "Authenticator", "ServerConfig", "Unauthorized"]

DEFAULT_PORT = 8001
PUBLISH_TOKEN_ENV = "CANAUX_PUBLISH_TOKEN"


class Unauthorized(ServerError):
    """Raised by an :data:`Authenticator` to refuse credentials [HANDSHAKE-7, SSE-8]."""


Authenticator = Callable[[str | None], Awaitable[str | Principal]]
"""Turns a client's token (``hello.token`` or the bearer token; ``None`` when absent) into
its principal — the session identity [SECURITY-2] as a ``str``, or a :class:`Principal` with
its expiry and grants — or raises :class:`Unauthorized`. The built-in one for JSON Web Tokens
is :class:`canaux.server.jwt.JWTAuthenticator`."""


def _token_from_env() -> str | None:
    return os.environ.get(PUBLISH_TOKEN_ENV) or None


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything a reference server needs; every field has a sensible default."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    """0 picks a free port (the real one is printed and available from the running server)."""
    conformance: bool = False
    """Offer the ``conformance.*`` family [CONF-2]; off by default, as in production."""
    channels: Sequence[Channel] = ()
    """The application's channels, announced after the standard ones; one with a standard name
    replaces that standard channel (same catalogue entry, its own hooks)."""
    standard_channels: bool = True
    """Offer chat, playqueue, system and progress; ``False`` with ``conformance=True`` is the
    core-only catalogue (``conformance.*`` alone)."""
    limits: Limits = field(default_factory=Limits)
    publish_token: str | None = field(default_factory=_token_from_env)
    """Bearer token of ``POST /publish`` and ``POST /tasks/scan``; ``None`` disables both (401)."""
    scan_root: Path | None = None
    """Directory ``POST /tasks/scan`` may walk (and nothing outside it); ``None`` disables scans."""
    broker: Broker | str | None = None
    """Shared state between processes: a broker, or the URL of one (``redis://HOST:PORT/DB``,
    ``memory:``; see :func:`~canaux.server.broker.open_broker`), which the app then opens and
    closes itself; ``None`` means a fresh in-memory broker per app."""
    agent: Agent | None = None
    """The chat agent; ``None`` means the deterministic demo :class:`EchoAgent`."""
    authenticate: Authenticator | None = None
    """``None``: no authentication, any token is accepted and is the identity [HANDSHAKE-7]."""
    allowed_origins: frozenset[str] | None = None
    """Origins (``https://app.example``) browsers may connect from [SECURITY-8]; ``None``
    accepts any. Others are refused with HTTP 403 before the upgrade [SECURITY-14]; requests
    without an ``Origin`` header (non-browser clients) always pass."""
    max_connections: int = 10000
    """Open connections (WebSocket, SSE, legacy, HTTP alike) beyond which a new one is answered
    ``503`` before its request is read [SECURITY-12]; only :func:`canaux.server.serve` and
    ``canaux serve`` enforce it (a mounted app is the host server's to bound)."""
    max_handshakes: int = 1024
    """Connections in their opening handshake (request head not complete) beyond which a new
    one is answered ``503`` [SECURITY-12]; enforced like :attr:`max_connections`."""
    handshake_timeout_s: float = 10.0
    """How long a request may take to arrive (head, then body) before it is answered ``408``
    and closed [SECURITY-13] (a slowloris), at most 30 s; enforced like :attr:`max_connections`."""
    chat_timeout_s: float = 60.0
    """Longest the chat agent may stay silent before the answer ends with ``agent_timeout``."""
    close_timeout_s: float = 5.0
    """How long closing a connection may wait for the peer before the socket is dropped."""
    shutdown_timeout_s: float = 5.0
    """How long a graceful shutdown waits for the 1001 closes to complete."""
    log_level: str = "info"

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        for channel in self.channels:
            if not isinstance(channel, Channel):
                raise TypeError(f"channels: {channel!r} is not a canaux.server.Channel")
        if isinstance(self.broker, str):
            check_broker_url(self.broker)
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, not {self.port}")
        if (
            self.chat_timeout_s <= 0
            or self.close_timeout_s <= 0
            or self.shutdown_timeout_s <= 0
            or self.handshake_timeout_s <= 0
        ):
            raise ValueError("timeouts must be positive")
        if self.handshake_timeout_s > 30:
            # [SECURITY-13] "the timeout MUST NOT exceed 30 seconds"
            raise ValueError(
                f"handshake_timeout_s must be at most 30, not {self.handshake_timeout_s}"
            )
        for name in ("max_connections", "max_handshakes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
