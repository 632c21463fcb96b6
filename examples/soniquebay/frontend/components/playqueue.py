"""PlayQueue: the shared play queue, live (seed note: ``playqueue``).

The server sends the whole queue as a ``state`` snapshot on subscribe and after every change
(QUEUE-1), so the component only ever renders the latest state; its buttons publish commands.
"""

from __future__ import annotations

from typing import Any

from nicegui import ui

from canaux.client import CentralWebSocketService, ClientError, PublishRejected

__all__ = ["PlayQueue"]


class PlayQueue:
    """The queue's tracks, the current one marked, and play/pause/next/clear."""

    def __init__(self) -> None:
        self.ws_service = CentralWebSocketService()
        self.ws_service.register_handler("playqueue", self._on_state)
        with ui.card().classes("w-full").props('data-testid="playqueue"'):
            ui.label("Play queue").classes("text-h6")
            self._summary = ui.label("waiting for the queue…")
            self._summary.props('data-testid="queue-summary" data-version=""')
            self._items = ui.column().classes("w-full gap-1")
            with ui.row():
                for label, op in (("Play", "play"), ("Pause", "pause"), ("Next", "next")):
                    ui.button(label, on_click=lambda op=op: self.command(op)).props("flat")
                ui.button("Clear", on_click=lambda: self.command("clear")).props(
                    'flat data-testid="queue-clear"'
                )

    def _on_state(self, data: Any) -> None:
        if not isinstance(data, dict) or data.get("type") != "state":
            return
        items: list[dict[str, Any]] = data.get("items", [])
        current = data.get("current")
        playing = "playing" if data.get("playing") else "paused"
        count = f"{len(items)} track" + ("" if len(items) == 1 else "s")
        self._summary.set_text(f"{count}, {playing} (version {data.get('version')})")
        self._summary.props(f'data-version="{data.get("version")}"')
        self._items.clear()
        with self._items:
            for index, item in enumerate(items):
                mark = "▶ " if index == current else ""
                artist = f" — {item['artist']}" if item.get("artist") else ""
                ui.label(f"{mark}{index + 1}. {item.get('title', '')}{artist}").props(
                    'data-testid="queue-item"'
                )

    async def command(self, op: str) -> None:
        try:
            await self.ws_service.send("playqueue", {"op": op})
        except (PublishRejected, ClientError) as exc:
            ui.notify(f"play queue: {exc}", type="warning")

    async def close(self) -> None:
        await self.ws_service.disconnect()
