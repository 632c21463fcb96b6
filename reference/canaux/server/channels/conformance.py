"""The ``conformance.*`` family (spec standard-channels.md, profile ``core``) [CONF-1, CONF-2].

Plain pub/sub: a publish, from a client, ``server.publish`` or ``POST /publish``, is delivered to
every subscriber of that exact channel (the publisher too, if subscribed), in one order for all.
It is declared like any app channel, with no hook: the default delivery is the whole behaviour.

Two exact entries inside the family [CONF-4] let a suite see what no plain family shows:
``conformance.readonly`` (only the server publishes: the exact entry wins over the family,
CHANNEL-9) and ``conformance.forbidden`` (an access policy that refuses every session,
CHANNEL-13, CHANNEL-16, SSE-12).
"""

from __future__ import annotations

import canaux_schemas
from canaux.protocol.channels import CONFORMANCE_FAMILY
from canaux.server.channels.channel import Access, Channel

__all__ = ["CONFORMANCE_FORBIDDEN", "CONFORMANCE_READONLY", "conformance_channels"]

CONFORMANCE_READONLY = "conformance.readonly"
CONFORMANCE_FORBIDDEN = "conformance.forbidden"


def _refuse_everyone(access: Access) -> bool:
    return False


def conformance_channels() -> list[Channel]:
    """The ``conformance.*`` family (clients and the server publish, every subscriber gets
    it) and its two exact entries [CONF-4]."""
    schema = canaux_schemas.CHANNEL_SCHEMAS["conformance"]
    return [
        Channel(CONFORMANCE_FAMILY, schema=schema, publish="both"),
        Channel(CONFORMANCE_READONLY, schema=schema, publish="server"),
        Channel(CONFORMANCE_FORBIDDEN, schema=schema, publish="both", access=_refuse_everyone),
    ]
