"""Credentials for each connection: a fixed token or a token provider (spec client.md, CLIENT-10).

A provider is a callable, plain or async, that returns the token to present (or ``None``). The
client calls it before EVERY connection it opens, so a reconnection (after a drop, a server
restart, or the ``4440`` close when the token expired, SECURITY-10) presents a fresh token and
resumes the session under the same identity::

    async def token() -> str:
        return (await http.post("/auth/realtime-token")).json()["token"]

    client = Client("ws://api:8001/ws", token=token)
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TypeAlias

__all__ = ["TokenProvider", "TokenSource", "resolve_token"]

TokenProvider: TypeAlias = Callable[[], str | Awaitable[str | None] | None]
"""Returns the token for the next connection (a coroutine function is awaited)."""

TokenSource: TypeAlias = str | TokenProvider | None
"""What a client takes as ``token=``: a fixed token, a provider, or none."""


async def resolve_token(source: TokenSource) -> str | None:
    """The token to present now; ``TypeError`` when a provider returns something else."""
    if source is None or isinstance(source, str):
        return source
    value = source()
    if inspect.isawaitable(value):
        value = await value
    if value is not None and not isinstance(value, str):
        raise TypeError(f"the token provider returned {type(value).__name__}, not str or None")
    return value
