"""The frontend's pages and its one connection to the backend.

:func:`setup` registers the pages and, at startup, opens the shared connection: a
``CentralWebSocketService()`` that lives as long as the frontend, so that pages coming and
going never open a second WebSocket. Components build their own services (as the seed note
shows); all of them point at ``WS_URL`` (+ ``CANAUX_MOUNT_PATH``) and share that connection.

Pages: ``/`` (everything), ``/chat`` (chat and notices), ``/queue`` (library and queue).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from nicegui import app, background_tasks, ui

from canaux.client import CentralWebSocketService, ClientError, ClientState
from canaux.client.compat import WS_URL_ENV
from examples.soniquebay.frontend.components import (
    ChatUI,
    LibraryView,
    PlayQueue,
    SystemNotices,
    TaskProgress,
)

__all__ = ["API_URL_ENV", "ConnectionStatus", "api_url", "setup"]

API_URL_ENV = "SONIQUEBAY_API_URL"

logger = logging.getLogger("soniquebay.frontend")


class Component(Protocol):
    async def close(self) -> None: ...


@dataclass
class ConnectionStatus:
    """What the page's badge shows: the shared connection's state and its session resets."""

    text: str = "connecting"
    resets: int = 0

    def changed(self, state: ClientState) -> None:
        self.text = state.value

    def reset(self) -> None:
        self.resets += 1


def api_url() -> str:
    """The backend's HTTP API: ``$SONIQUEBAY_API_URL``, else ``WS_URL``'s host over http."""
    explicit = os.environ.get(API_URL_ENV)
    if explicit:
        return explicit.rstrip("/")
    ws = urlsplit(os.environ.get(WS_URL_ENV) or "ws://127.0.0.1:8001")
    scheme = "https" if ws.scheme == "wss" else "http"
    return urlunsplit((scheme, ws.netloc, "", "", ""))


def setup() -> ConnectionStatus:
    """Register the pages and the startup/shutdown of the shared connection."""
    status = ConnectionStatus()
    connection: list[CentralWebSocketService] = []

    async def open_connection() -> None:
        service = CentralWebSocketService()
        service.on_state(status.changed)
        service.on_reset(status.reset)
        connection.append(service)
        logger.info("connecting to %s", service.ws_url)
        background_tasks.create(_connect(service), name="canaux connect")

    async def close_connection() -> None:
        for service in connection:
            await service.client.close()

    app.on_startup(open_connection)
    app.on_shutdown(close_connection)

    def page(build: Callable[[], list[Component]]) -> None:
        header(status)
        components = build()

        async def closing() -> None:
            for component in components:
                await component.close()

        ui.context.client.on_delete(closing)

    @ui.page("/")
    def index() -> None:
        def build() -> list[Component]:
            with ui.row().classes("w-full no-wrap items-start"):
                with ui.column().classes("w-1/3"):
                    chat = ChatUI()
                with ui.column().classes("w-1/3"):
                    library = LibraryView(api_url())
                    queue = PlayQueue()
                with ui.column().classes("w-1/3"):
                    progress = TaskProgress()
                    notices = SystemNotices()
            return [chat, library, queue, progress, notices]

        page(build)

    @ui.page("/chat")
    def chat_page() -> None:
        page(lambda: [ChatUI(), SystemNotices()])

    @ui.page("/queue")
    def queue_page() -> None:
        page(lambda: [LibraryView(api_url()), PlayQueue()])

    return status


def header(status: ConnectionStatus) -> None:
    with ui.header().classes("items-center"):
        ui.label("SoniqueBay").classes("text-h5")
        ui.link("all", "/").classes("text-white")
        ui.link("chat", "/chat").classes("text-white")
        ui.link("queue", "/queue").classes("text-white")
        ui.space()
        # A new session (after a backend restart) re-subscribes every channel (RESUME-5).
        resets = ui.label().classes("text-caption").props('data-testid="resets"')
        resets.bind_text_from(status, "resets", backward=lambda n: f"new sessions: {n}")
        badge = ui.badge().props('data-testid="connection"')
        badge.bind_text_from(status, "text")


async def _connect(service: CentralWebSocketService) -> None:
    try:
        await service.connect()
    except ClientError as exc:
        # A refused handshake (wrong WS_URL or mount path) stops the client for good.
        logger.error("cannot connect to %s: %s", service.ws_url, exc)
