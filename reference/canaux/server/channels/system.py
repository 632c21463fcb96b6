"""The system channel (standard-channels.md, system): server notices to every subscriber [SYSTEM-1].

Only the server publishes here (clients get ``forbidden``, CHANNEL-4); the reference server
announces its own start and stop, the end of tasks, and what backends post to ``POST /publish``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import canaux_schemas
from canaux.server.broker import Broker
from canaux.server.channels.channel import Channel

__all__ = ["CHANNEL", "Level", "SystemNotices", "notice", "system_channel"]

CHANNEL = "system"

Level = Literal["debug", "info", "warning", "error"]


def notice(level: Level, text: str, code: str | None = None) -> dict[str, Any]:
    """A ``system`` event: level, text, optional code, and the time it was made (RFC 3339)."""
    data: dict[str, Any] = {"level": level, "text": text}
    if code is not None:
        data["code"] = code
    data["ts"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return data


class SystemNotices:
    """Publishes notices on ``system`` through the broker, so every process relays them."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    async def publish(self, level: Level, text: str, code: str | None = None) -> None:
        await self._broker.publish(CHANNEL, notice(level, text, code))


def system_channel() -> Channel:
    """The ``system`` channel: notices only the server publishes [SYSTEM-1, CHANNEL-4]."""
    return Channel(CHANNEL, schema=canaux_schemas.CHANNEL_SCHEMAS[CHANNEL], publish="server")
