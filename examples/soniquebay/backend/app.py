"""The backend app: FastAPI routes plus Canaux mounted at ``/canaux`` (docs: guides/fastapi.md).

Canaux offers the four standard channels (chat, playqueue, system, progress) and the app's
own ``library`` channel. The routes publish in-process with ``await server.publish(...)``::

    GET  /api/library        the latest scan result (404 before the first scan)
    POST /api/library/scan   start a scan of the music folder: 202 {"task": "scan-…"}
    POST /api/notices        {"text": …, "level": "info"}: a notice on ``system`` to every page
    /canaux/ws               the Canaux WebSocket (the frontend's one connection)
    /canaux/health           liveness and counts (sessions, connections)
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field
from starlette.applications import Starlette

from canaux.server import ServerConfig, ServerRuntime, create_app, runtime_of
from examples.soniquebay.backend.agent import LibraryAgent
from examples.soniquebay.backend.library import ScanResult, library, scan_library

__all__ = ["MOUNT_PATH", "Backend", "Notice", "create_backend"]

MOUNT_PATH = "/canaux"

logger = logging.getLogger("soniquebay.backend")


class Notice(BaseModel):
    """A notice an operator posts to every page."""

    text: str = Field(min_length=1, max_length=500)
    level: Literal["debug", "info", "warning", "error"] = "info"


@dataclass(eq=False)
class Backend:
    """The parts of one backend: the FastAPI app, the mounted Canaux app and its server."""

    api: FastAPI
    canaux: Starlette
    server: ServerRuntime
    music_root: Path | None
    latest: ScanResult | None = None
    scans: set[asyncio.Task[ScanResult]] = field(default_factory=set)

    def track_count(self) -> int:
        return len(self.latest.tracks) if self.latest is not None else 0


def create_backend(
    music_root: Path | None = None,
    *,
    chunk_delay_s: float = 0.15,
    config: ServerConfig | None = None,
) -> Backend:
    """A backend whose scans walk ``music_root`` (``None``: scanning answers 404).

    ``config`` is the Canaux server's configuration without its channels (host and port
    matter only to :func:`examples.soniquebay.backend.__main__.main`); ``library`` is added.
    """
    base = config if config is not None else ServerConfig()
    agent = LibraryAgent(lambda: backend.track_count(), chunk_delay_s=chunk_delay_s)
    canaux = create_app(dataclasses.replace(base, channels=[*base.channels, library], agent=agent))
    server = runtime_of(canaux)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        for task in list(backend.scans):
            task.cancel()
        # A mounted app gets no lifespan events: close its clients (1001) when the API stops.
        await server.aclose()

    api = FastAPI(title="SoniqueBay", lifespan=lifespan)
    backend = Backend(api=api, canaux=canaux, server=server, music_root=music_root)

    @api.get("/api/library")
    async def get_library() -> ScanResult:
        if backend.latest is None:
            raise HTTPException(404, "no scan yet: POST /api/library/scan")
        return backend.latest

    @api.post("/api/library/scan", status_code=202)
    async def start_scan() -> dict[str, str]:
        root = backend.music_root
        if root is None or not root.is_dir():
            raise HTTPException(404, "no music folder configured (--music DIR)")
        task_id = f"scan-{secrets.token_hex(4)}"
        task = asyncio.create_task(scan_library(server, root, task_id), name=task_id)
        backend.scans.add(task)
        task.add_done_callback(_finished(backend))
        return {"task": task_id}

    @api.post("/api/notices", status_code=202)
    async def post_notice(notice: Notice) -> dict[str, str]:
        await server.publish("system", {"level": notice.level, "text": notice.text})
        return {"status": "published"}

    api.mount(MOUNT_PATH, canaux)
    return backend


def _finished(backend: Backend) -> Callable[[asyncio.Task[ScanResult]], None]:
    def done(task: asyncio.Task[ScanResult]) -> None:
        backend.scans.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            logger.error("scan %s failed", task.get_name(), exc_info=error)
        else:
            backend.latest = task.result()

    return done
