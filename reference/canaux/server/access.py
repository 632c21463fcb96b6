"""Who may connect: the ``Origin`` check and authentication (spec §9 "Security", §3, §13).

Both are optional (:class:`~canaux.server.config.ServerConfig` ``allowed_origins`` and
``authenticate``). Without an authenticator, a token is only the connection's identity
[HANDSHAKE-7, SECURITY-2]; with one, the identity is the principal it returns.
"""

from __future__ import annotations

from starlette.datastructures import Headers

from canaux.server.config import ServerConfig, Unauthorized

__all__ = ["identity_of", "origin_allowed"]


def origin_allowed(config: ServerConfig, headers: Headers) -> bool:
    """[SECURITY-8] a browser request from an origin the server does not serve is refused."""
    if config.allowed_origins is None:
        return True
    origin = headers.get("origin")
    return origin is None or origin in config.allowed_origins


async def identity_of(config: ServerConfig, token: str | None) -> str | None:
    """The session identity for ``token``; raise :class:`Unauthorized` to refuse it."""
    if config.authenticate is None:
        return token
    principal = await config.authenticate(token)
    if not isinstance(principal, str):
        raise Unauthorized("the authenticator returned no principal")
    return principal
