"""LibraryView: the latest library scan (the app's own channel, ``library``).

A new component, written as the seed note's "Migration pour les nouveaux composants" says:
a ``CentralWebSocketService``, ``register_handler('library', …)``, ``send(channel, data)``.
The server sends the latest scan to a new subscriber (the channel retains it); "Scan" asks
the backend's HTTP API for a new scan, and each track's "Add" publishes on ``playqueue``.
"""

from __future__ import annotations

from typing import Any

import httpx
from nicegui import ui

from canaux.client import CentralWebSocketService, ClientError, PublishRejected

__all__ = ["LibraryView"]


class LibraryView:
    """The tracks of the latest scan, a button to scan again, and "Add" per track."""

    def __init__(self, api_url: str) -> None:
        self._api_url = api_url.rstrip("/")
        self.ws_service = CentralWebSocketService()
        self.ws_service.register_handler("library", self._handle_message)
        with ui.card().classes("w-full").props('data-testid="library"'):
            with ui.row().classes("w-full items-center"):
                ui.label("Library").classes("text-h6")
                ui.button("Scan", on_click=self.scan).props('data-testid="library-scan"')
            self._summary = ui.label("no scan yet").props('data-testid="library-summary"')
            self._tracks = ui.column().classes("w-full gap-1")

    def _handle_message(self, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("tracks"), list):
            return
        tracks: list[dict[str, Any]] = data["tracks"]
        count = f"{len(tracks)} track" + ("" if len(tracks) == 1 else "s")
        self._summary.set_text(f"{count} in {data.get('root')} (scanned {data.get('finished')})")
        self._tracks.clear()
        with self._tracks:
            for track in tracks:
                with ui.row().classes("items-center").props('data-testid="library-track"'):
                    ui.label(f"{track.get('title')} — {track.get('artist')}")
                    ui.button("Add", on_click=lambda track=track: self.add(track)).props(
                        'flat dense data-testid="library-add"'
                    )

    async def scan(self) -> None:
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                response = await http.post(f"{self._api_url}/api/library/scan")
            response.raise_for_status()
        except httpx.HTTPError as exc:
            ui.notify(f"scan: {exc}", type="warning")

    async def add(self, track: dict[str, Any]) -> None:
        item = {key: track[key] for key in ("id", "title", "artist") if key in track}
        try:
            await self.ws_service.send("playqueue", {"op": "add", "track": item})
        except (PublishRejected, ClientError) as exc:
            ui.notify(f"play queue: {exc}", type="warning")

    async def close(self) -> None:
        await self.ws_service.disconnect()
