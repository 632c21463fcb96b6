"""The music library: the ``library`` channel (an app channel) and the scan that feeds it.

A scan walks the music folder and publishes, in-process, on three channels: its progress on
``progress`` (pending, running i/n, done), the tracks it found on ``library``, and a notice on
``system`` when it ends. Every publish goes through ``server.publish``: the channel's schema
and rules (progress only moves forward) apply as for any other publisher.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from canaux.server import Channel, ServerRuntime

__all__ = ["AUDIO_SUFFIXES", "ScanResult", "Track", "library", "list_tracks", "scan_library"]

AUDIO_SUFFIXES = frozenset({".mp3", ".flac", ".ogg", ".opus", ".m4a", ".wav"})


class Track(BaseModel):
    """One track of the library, in the play queue's track shape."""

    id: str = Field(min_length=1, max_length=256)
    title: str = Field(max_length=1024)
    artist: str = Field(max_length=1024)


class ScanResult(BaseModel):
    """What one finished scan found."""

    root: str
    files: int = Field(ge=0)
    tracks: list[Track]
    finished: str = Field(description="When the scan ended (RFC 3339, UTC).")


# The app's own channel: its schema, who publishes (the server only), and the snapshot a new
# subscriber gets (the latest scan, kept by the server).
library = Channel(
    "library",
    schema=ScanResult,
    publish="server",
    retain_last=True,
    title="Library",
    description="The result of the latest library scan.",
)


def list_tracks(root: Path) -> list[Track]:
    """The audio files below ``root``, sorted by path: title from the file, artist from its
    folder."""
    tracks = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES):
        relative = path.relative_to(root).as_posix()
        artist = path.parent.name if path.parent != root else "Unknown artist"
        track_id = "trk-" + hashlib.sha1(relative.encode()).hexdigest()[:12]
        tracks.append(Track(id=track_id, title=path.stem, artist=artist))
    return tracks


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def scan_library(server: ServerRuntime, root: Path, task: str | None = None) -> ScanResult:
    """Scan ``root``, publishing progress, the result on ``library`` and a ``system`` notice."""
    task = task or f"scan-{secrets.token_hex(4)}"

    async def progress(status: str, current: int, total: int | None, message: str) -> None:
        update: dict[str, Any] = {
            "task": task,
            "kind": "scan",
            "status": status,
            "current": current,
            "total": total,
            "message": message,
        }
        await server.publish("progress", update)

    await progress("pending", 0, None, f"Scanning {root.name}")
    tracks = await asyncio.to_thread(list_tracks, root)
    for index, track in enumerate(tracks, start=1):
        await progress("running", index, len(tracks), track.title)
    await progress("done", len(tracks), len(tracks), f"{len(tracks)} tracks")
    result = ScanResult(root=root.name, files=len(tracks), tracks=tracks, finished=_now())
    await server.publish("library", result.model_dump())
    await server.publish(
        "system",
        {
            "level": "info",
            "text": f"Library scan finished: {len(tracks)} tracks",
            "code": "scan.done",
            "ts": result.finished,
        },
    )
    return result
