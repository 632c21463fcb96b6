"""Channels: the public API to declare them, and the standard ones built on it
(spec channels.md, standard-channels.md).

An application declares its channels with :class:`Channel` and passes them to
``ServerConfig(channels=[...])``; :mod:`canaux.server.channels.channel` documents the hooks.
The standard channels are declared the same way, in ``chat``, ``playqueue``, ``system``,
``progress`` and ``conformance`` (see :func:`~canaux.server.channels.standard.standard_channels`).
"""

from __future__ import annotations

from canaux.server.channels.channel import (
    Access,
    AccessPolicy,
    Action,
    Channel,
    Publication,
    Publishers,
    PublishHook,
    Refused,
    Requester,
    SchemaSource,
    SnapshotHook,
    Subscription,
)

__all__ = [
    "Access",
    "AccessPolicy",
    "Action",
    "Channel",
    "Publication",
    "PublishHook",
    "Publishers",
    "Refused",
    "Requester",
    "SchemaSource",
    "SnapshotHook",
    "Subscription",
]
