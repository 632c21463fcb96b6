"""The standard channels of the reference server, declared with the public channel API.

:func:`standard_channels` is what :class:`~canaux.server.runtime.ServerRuntime` offers unless the
configuration says otherwise: chat, playqueue, system, progress (standard-channels.md) and, when
enabled, the
``conformance.*`` family [CONF-2]. Each is an ordinary :class:`~canaux.server.channels.Channel`;
an app channel with the same name replaces it (same catalogue entry, other behaviour: another
chat agent, for instance) [CHANNEL-6, CHANNEL-15].
"""

from __future__ import annotations

from canaux.server.channels.channel import Channel
from canaux.server.channels.chat import Agent, chat_channel
from canaux.server.channels.conformance import conformance_channels
from canaux.server.channels.playqueue import playqueue_channel
from canaux.server.channels.progress import progress_channel
from canaux.server.channels.system import system_channel

__all__ = ["standard_channels"]


def standard_channels(
    agent: Agent, *, chat_timeout_s: float, standard: bool = True, conformance: bool = False
) -> list[Channel]:
    """The four standard channels (``standard``) and the conformance family (``conformance``)."""
    channels: list[Channel] = []
    if standard:
        channels += [
            chat_channel(agent, timeout_s=chat_timeout_s),
            playqueue_channel(),
            system_channel(),
            progress_channel(),
        ]
    if conformance:
        channels += conformance_channels()
    return channels
