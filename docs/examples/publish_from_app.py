"""A FastAPI backend that publishes on its channels in-process (guide "Publish from your app").

The guide includes the part between the snippet markers; the tests serve this app on a free
port and check every route (tests/docs/test_examples.py).
"""

from __future__ import annotations

# --8<-- [start:app]
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import BackgroundTasks, FastAPI, HTTPException

from canaux.server import Refused, create_app, runtime_of

from .library_channel import ScanResult, config  # the channel of "Add your own channel"

canaux = create_app(config)
server = runtime_of(canaux)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await server.start()  # the loop publish_threadsafe() hands its publishes to
    yield
    await server.aclose()  # clients get 1001 "going away"


api = FastAPI(lifespan=lifespan)
api.mount("/canaux", canaux)


@api.post("/scans", status_code=202)
async def record_scan(result: ScanResult) -> ScanResult:
    """An async route: await the publish."""
    try:
        await server.publish("library", result.model_dump())
    except Refused as refused:
        raise HTTPException(422, refused.message) from None
    return result


@api.post("/scans/sync", status_code=202)
def record_scan_sync(result: ScanResult) -> ScanResult:
    """A sync route runs in a worker thread: hand the publish to the server's loop."""
    server.publish_threadsafe("library", result.model_dump()).result(timeout=5)
    return result


def scan(root: Path) -> None:
    """A background job (a worker thread): walk the library, publish what it found."""
    files = [Path(folder, name) for folder, _, names in os.walk(root) for name in names]
    result = ScanResult(
        root=str(root),
        files=len(files),
        bytes=sum(path.stat().st_size for path in files),
        finished=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    server.publish_threadsafe("library", result.model_dump()).result(timeout=5)


@api.post("/scans/start", status_code=202)
async def start_scan(tasks: BackgroundTasks) -> dict[str, str]:
    """Start a scan after the response; its result arrives on ``library``."""
    root = Path(os.environ.get("LIBRARY_ROOT", "music"))
    tasks.add_task(scan, root)
    return {"scanning": str(root)}


# --8<-- [end:app]
