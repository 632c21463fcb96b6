"""The seed app's backend over a real socket, without a browser: its routes and channels.

The backend is served in-process on a free loopback port with Canaux mounted at ``/canaux``;
a reference :class:`~canaux.Client` subscribes as the frontend does. A scan publishes
in-process on ``progress`` (moving only forward), ``library`` (the app channel, retained for
new subscribers) and ``system``; clients may not publish on ``library`` [CHANNEL-4].
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from canaux import Client, PublishRejected
from canaux.server import ServerConfig
from canaux.server.testing import RunningServer, serve_app
from examples.soniquebay.backend import MOUNT_PATH, Backend, create_backend

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def music(tmp_path: Path) -> Path:
    for relative in ("B/Two.flac", "A/One.mp3", "Intro.ogg", "A/cover.jpg", "notes.txt"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"")
    return tmp_path


@contextlib.asynccontextmanager
async def running(music: Path | None) -> AsyncIterator[tuple[Backend, RunningServer]]:
    config = ServerConfig(port=0)
    backend = create_backend(music, chunk_delay_s=0, config=config)
    async with serve_app(backend.api, backend.canaux, config, prefix=MOUNT_PATH) as server:
        yield backend, server


class Inbox:
    """Events of a client's channels, in arrival order, awaited with a bound."""

    def __init__(self, client: Client, *channels: str) -> None:
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        for channel in channels:
            client.register_handler(channel, self._handler(channel))

    def _handler(self, channel: str) -> Callable[[Any], None]:
        return lambda data: self._queue.put_nowait((channel, data))

    async def next(self) -> tuple[str, Any]:
        async with asyncio.timeout(TIMEOUT):
            return await self._queue.get()


async def test_the_catalogue_offers_the_four_channels_and_library(music: Path) -> None:
    async with running(music) as (_, server), Client(server.ws_url) as client:
        assert client.welcome is not None
        offered = {entry.name: entry.publish for entry in client.welcome.channels}
    assert offered == {
        "chat": "client",
        "playqueue": "client",
        "system": "server",
        "progress": "server",
        "library": "server",
    }


async def test_a_scan_publishes_progress_library_and_a_notice_in_process(music: Path) -> None:
    async with running(music) as (_, server), Client(server.ws_url) as client:
        inbox = Inbox(client, "progress", "library", "system")
        await client.wait_ready()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            assert (await http.get("/api/library")).status_code == 404
            started = await http.post("/api/library/scan")
            assert started.status_code == 202
            task = started.json()["task"]

            updates = []
            while True:
                channel, data = await inbox.next()
                assert channel == "progress", (channel, data)
                assert data["task"] == task
                updates.append((data["status"], data["current"], data["total"]))
                if data["status"] == "done":
                    break
            assert updates == [
                ("pending", 0, None),
                ("running", 1, 3),
                ("running", 2, 3),
                ("running", 3, 3),
                ("done", 3, 3),
            ]
            channel, result = await inbox.next()
            assert channel == "library"
            assert [(t["title"], t["artist"]) for t in result["tracks"]] == [
                ("One", "A"),
                ("Two", "B"),
                ("Intro", "Unknown artist"),
            ]
            assert result["files"] == 3
            channel, notice = await inbox.next()
            assert channel == "system"
            assert notice["text"] == "Library scan finished: 3 tracks"
            assert notice["code"] == "scan.done"
            assert (await http.get("/api/library")).json() == result

        # A new subscriber gets the latest scan at once: the channel retains it.
        async with Client(server.ws_url) as late:
            late_inbox = Inbox(late, "library")
            assert await late_inbox.next() == ("library", result)


async def test_clients_may_not_publish_on_library(music: Path) -> None:
    async with running(music) as (_, server), Client(server.ws_url) as client:
        with pytest.raises(PublishRejected) as refused:
            async with asyncio.timeout(TIMEOUT):
                await client.send(
                    "library", {"root": "x", "files": 0, "tracks": [], "finished": ""}
                )
    assert refused.value.code == "forbidden"


async def test_a_notice_reaches_system_and_a_bad_one_publishes_nothing(music: Path) -> None:
    async with running(music) as (_, server), Client(server.ws_url) as client:
        inbox = Inbox(client, "system")
        await client.wait_ready()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            bad = await http.post("/api/notices", json={"text": "", "level": "loud"})
            assert bad.status_code == 422
            good = await http.post("/api/notices", json={"text": "Maintenance at noon"})
            assert good.status_code == 202
        # The first notice to arrive is the good one: the bad one published nothing.
        channel, data = await inbox.next()
    assert (channel, data["text"], data["level"]) == ("system", "Maintenance at noon", "info")


async def test_without_a_music_folder_a_scan_is_refused() -> None:
    async with (
        running(None) as (_, server),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http,
    ):
        answer = await http.post("/api/library/scan")
    assert answer.status_code == 404
    assert "--music" in answer.json()["detail"]


async def test_the_agent_streams_a_reply_that_knows_the_library(music: Path) -> None:
    async with running(music) as (_, server), Client(server.ws_url) as client:
        inbox = Inbox(client, "chat")
        request = await client.send("chat", {"type": "message", "text": "Bonjour"})
        chunks = []
        while True:
            _, data = await inbox.next()
            assert data["request"] == request
            if data["type"] == "done":
                break
            chunks.append(data["text"])
    assert len(chunks) > 1
    assert "".join(chunks) == 'SoniqueBay heard "Bonjour". The library holds 0 tracks.'
