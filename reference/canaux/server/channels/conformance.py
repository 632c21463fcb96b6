"""The ``conformance.*`` family (spec §10 "conformance", profile ``core``) [CONF-1, CONF-2].

Plain pub/sub: a publish, from a client, ``server.publish`` or ``POST /publish``, is delivered to
every subscriber of that exact channel (the publisher too, if subscribed), in one order for all.
It is declared like any app channel, with no hook: the default delivery is the whole behaviour.
"""

from __future__ import annotations

import canaux_schemas
from canaux.protocol.channels import CONFORMANCE_FAMILY
from canaux.server.channels.channel import Channel

__all__ = ["conformance_channel"]


def conformance_channel() -> Channel:
    """The ``conformance.*`` family: clients and the server publish, every subscriber gets it."""
    return Channel(
        CONFORMANCE_FAMILY,
        schema=canaux_schemas.CHANNEL_SCHEMAS["conformance"],
        publish="both",
    )
