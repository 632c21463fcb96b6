"""A connection's principal and what its credentials grant (spec security.md, CHANNEL-13).

An authenticator (:class:`~canaux.server.config.ServerConfig` ``authenticate``) returns a
:class:`Principal`, or just its identity as a ``str``. :class:`Grants` are the channel
permissions a token carries (the built-in JWT authenticator reads them from the ``caps`` claim,
as Centrifugo does); they narrow what the connection may subscribe to and publish on, on top of
the channel's own access policy (both must allow).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard

__all__ = ["Action", "Grant", "Grants", "Principal", "grants_of"]

Action = Literal["subscribe", "publish"]

# A grant's "allow" list: Centrifugo's short names and the long ones.
_ACTIONS: Mapping[str, Action] = {
    "sub": "subscribe",
    "subscribe": "subscribe",
    "pub": "publish",
    "publish": "publish",
}


@dataclass(frozen=True, slots=True)
class Grant:
    """Some channels (names, or ``fnmatch`` patterns such as ``team.*``) and what is allowed."""

    channels: tuple[str, ...]
    allow: frozenset[Action]

    def matches(self, channel: str) -> bool:
        return any(fnmatch.fnmatchcase(channel, pattern) for pattern in self.channels)


@dataclass(frozen=True, slots=True)
class Grants:
    """What a token lets its connection do, channel by channel.

    As Centrifugo's ``caps``: the FIRST grant whose patterns match the channel decides; a
    channel that no grant matches is forbidden (``forbidden``, CHANNEL-13).
    """

    entries: tuple[Grant, ...]

    def allows(self, action: Action, channel: str) -> bool:
        for grant in self.entries:
            if grant.matches(channel):
                return action in grant.allow
        return False

    @classmethod
    def from_claim(cls, claim: object) -> Grants:
        """Grants from a claim ``[{"channels": [...], "allow": ["sub", "pub"]}, ...]``.

        ``ValueError`` names what is wrong with a claim of another shape: a malformed grant
        must not silently open (or close) channels.
        """
        if not isinstance(claim, list):
            raise ValueError("must be a list of {channels, allow} objects")
        entries: list[Grant] = []
        for index, item in enumerate(claim):
            where = f"[{index}]"
            if not isinstance(item, dict) or set(item) - {"channels", "allow"}:
                raise ValueError(f"{where} must be an object with 'channels' and 'allow'")
            channels, allow = item.get("channels"), item.get("allow")
            if not _strings(channels) or not channels:
                raise ValueError(f"{where}.channels must be a non-empty list of strings")
            if not _strings(allow) or not set(allow) <= set(_ACTIONS):
                raise ValueError(f"{where}.allow must list some of {sorted(_ACTIONS)}")
            entries.append(Grant(tuple(channels), frozenset(_ACTIONS[a] for a in allow)))
        return cls(tuple(entries))


def _strings(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a connection is, as an authenticator established it [SECURITY-2]."""

    identity: str
    """The session identity: a resume is accepted only under the same identity."""
    expires_at: float | None = None
    """When the credentials stop being valid (POSIX seconds, a JWT's ``exp``) [SECURITY-10]."""
    grants: Grants | None = None
    """What the credentials allow; ``None``: they restrict no channel."""
    claims: Mapping[str, Any] = field(default_factory=dict)
    """Everything else the authenticator learnt (a JWT's claims), for access policies."""

    def permits(self, action: Action, channel: str) -> bool:
        return self.grants is None or self.grants.allows(action, channel)


def grants_of(claims: Mapping[str, Any], claim: str) -> Grants | None:
    """The :class:`Grants` in ``claims[claim]``; ``None`` when the claim is absent.

    ``ValueError`` (naming the claim) when it is present but malformed.
    """
    if claim not in claims:
        return None
    try:
        return Grants.from_claim(claims[claim])
    except ValueError as exc:
        raise ValueError(f"claim {claim!r} {exc}") from None
