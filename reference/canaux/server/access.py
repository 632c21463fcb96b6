"""Who may connect, and what their credentials let them do (spec security.md, handshake.md, sse.md).

- The ``Origin`` check [SECURITY-8] (:class:`~canaux.server.config.ServerConfig`
  ``allowed_origins``).
- Authentication: the ``authenticate`` hook turns a token into a :class:`Principal` (or just
  its identity, a ``str``). Without an authenticator, a token is only the connection's identity
  [HANDSHAKE-7, SECURITY-2]; with one, the identity is the principal it returns. Credentials
  that have already expired are rejected [SECURITY-10]; the front doors close a connection when
  its credentials expire (:func:`seconds_left`).
- Token grants: a principal may carry :class:`Grants` (the built-in JWT authenticator reads
  them from the token's ``caps`` claim, as Centrifugo does). They narrow what the connection may
  subscribe to and publish on; the channel's own access policy still applies (both must allow).
"""

from __future__ import annotations

import hmac
import time

from starlette.datastructures import Headers

from canaux.server.config import ServerConfig, Unauthorized
from canaux.server.principal import Action, Grant, Grants, Principal

__all__ = [
    "BACKEND",
    "Action",
    "Grant",
    "Grants",
    "Principal",
    "authenticate",
    "http_may_publish",
    "http_publisher",
    "identity_of",
    "origin_allowed",
    "seconds_left",
    "token_permits",
]


def origin_allowed(config: ServerConfig, headers: Headers) -> bool:
    """[SECURITY-8] a browser request from an origin the server does not serve is refused."""
    if config.allowed_origins is None:
        return True
    origin = headers.get("origin")
    return origin is None or origin in config.allowed_origins


async def authenticate(
    config: ServerConfig, token: str | None, *, now: float | None = None
) -> Principal | None:
    """The principal for ``token``; :class:`Unauthorized` refuses it.

    ``None`` only on a server without authenticator when there is no token (the identity of
    "no token"); there the token itself is the identity and restricts nothing.
    """
    if config.authenticate is None:
        return None if token is None else Principal(token)
    result = await config.authenticate(token)
    if isinstance(result, str):
        return Principal(result)
    if not isinstance(result, Principal):
        raise Unauthorized("the authenticator returned no principal")
    if result.expires_at is not None and result.expires_at <= (time.time() if now is None else now):
        # [SECURITY-10] credentials already expired at hello are rejected credentials.
        raise Unauthorized("credentials expired")
    return result


async def identity_of(config: ServerConfig, token: str | None) -> str | None:
    """The session identity for ``token``; raise :class:`Unauthorized` to refuse it."""
    principal = await authenticate(config, token)
    return None if principal is None else principal.identity


BACKEND = Principal("canaux:publish-token")
"""The holder of the configured publish token: a backend job, with every HTTP publish right."""


async def http_publisher(config: ServerConfig, token: str | None) -> Principal | None:
    """Who ``POST /publish`` serves for bearer ``token``; ``None`` is a 401 [HTTP-2].

    The configured publish token is the backend's (:data:`BACKEND`). With an authenticator, a
    token it accepts is a publisher too, limited by its grants (:func:`http_may_publish`).
    """
    if token is None:
        return None
    expected = config.publish_token
    if expected is not None and hmac.compare_digest(token.encode(), expected.encode()):
        return BACKEND
    if config.authenticate is None:
        return None
    try:
        return await authenticate(config, token)
    except Unauthorized:
        return None


def http_may_publish(publisher: Principal, channel: str) -> bool:
    """Whether ``publisher`` may publish on ``channel`` over HTTP: the backend everywhere, a
    token only where its grants EXPLICITLY allow it (a token without grants restricts nothing on
    its own connection, but HTTP publish on server channels is a backend's right)."""
    if publisher is BACKEND:
        return True
    return publisher.grants is not None and publisher.grants.allows("publish", channel)


def token_permits(principal: Principal | None, action: Action, channel: str) -> bool:
    """Whether the connection's credentials allow ``action`` on ``channel`` (no grants: yes)."""
    return principal is None or principal.permits(action, channel)


def seconds_left(principal: Principal | None, *, now: float | None = None) -> float | None:
    """Seconds until the credentials expire (``None``: never) [SECURITY-10]."""
    if principal is None or principal.expires_at is None:
        return None
    return max(0.0, principal.expires_at - (time.time() if now is None else now))
