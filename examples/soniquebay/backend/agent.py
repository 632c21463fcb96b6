"""The chat agent of the example: answers about the library, word by word, like a model.

A real SoniqueBay plugs its AI agent in here (``ServerConfig(agent=...)``); this one is
deterministic and paced (``chunk_delay_s`` between words) so that the page shows the reply
growing before it is done, as it would with a model that streams.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable

__all__ = ["LibraryAgent"]

_WORD = re.compile(r"\s*\S+\s*")


class LibraryAgent:
    """Replies ``SoniqueBay heard "<text>". The library holds N tracks.`` one word per chunk."""

    def __init__(self, track_count: Callable[[], int], chunk_delay_s: float = 0.15) -> None:
        if chunk_delay_s < 0:
            raise ValueError("chunk_delay_s must be >= 0")
        self._track_count = track_count
        self._delay = chunk_delay_s

    async def reply(self, text: str, conversation: str | None) -> AsyncIterator[str]:
        count = self._track_count()
        answer = f'SoniqueBay heard "{text.strip()}". The library holds {count} tracks.'
        for word in _WORD.findall(answer):
            await asyncio.sleep(self._delay)
            yield word
