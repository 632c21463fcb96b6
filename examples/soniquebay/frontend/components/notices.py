"""SystemNotices: the server's notices (seed note: ``system``, via the old WebSocketService).

The old ``WebSocketService`` registers its handlers on ``system`` by default, as the note's
compatibility promise says; here with the old call ``register_handler(fn)``.
"""

from __future__ import annotations

from typing import Any

from nicegui import ui

from canaux.client import WebSocketService

__all__ = ["SystemNotices"]

_KEEP = 20


class SystemNotices:
    """The latest notices, newest first."""

    def __init__(self) -> None:
        self.websocket_service = WebSocketService()
        self.websocket_service.register_handler(self._on_notice)
        with ui.card().classes("w-full").props('data-testid="notices"'):
            ui.label("System notices").classes("text-h6")
            self._list = ui.column().classes("w-full gap-1")

    def _on_notice(self, data: Any) -> None:
        if not isinstance(data, dict):
            return
        level = str(data.get("level", "info"))
        with self._list:
            row = ui.label(f"[{level}] {data.get('text', '')}")
            row.props(f'data-testid="notice" data-level="{level}"')
        row.move(target_index=0)
        for stale in list(self._list)[_KEEP:]:
            self._list.remove(stale)

    async def close(self) -> None:
        await self.websocket_service.disconnect()
