"""The guides' code runs: "Add your own channel" and "Publish from your app" (docs/examples/).

The ``library`` channel of the seed app, declared through the public API in under 15 lines, is
driven over a real socket: the latest scan as a snapshot on subscribe, ``server.publish`` as an
event, a client publish refused with ``forbidden`` [CHANNEL-4]. The FastAPI app of the second
guide is served on a free port and each of its routes publishes in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from canaux.server import Refused
from canaux.server.testing import running_server, serve_app
from docs.examples import library_channel, publish_from_app

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 10.0
SCAN = {"root": "/music", "files": 3, "bytes": 4096, "finished": "2026-12-01T21:00:00Z"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _section(path: Path, name: str) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"# --8<-- [start:{name}]")
    end = lines.index(f"# --8<-- [end:{name}]")
    return lines[start + 1 : end]


def _code_lines(lines: list[str]) -> list[str]:
    """Lines that are code: no blank line, comment or docstring."""
    return [line for line in lines if line.strip() and not line.strip().startswith(("#", '"""'))]


def test_the_library_channel_takes_under_15_lines_of_app_code() -> None:
    section = _section(REPO / "docs/examples/library_channel.py", "library")
    assert len(_code_lines(section)) < 15, section


def test_the_guides_include_the_example_sections() -> None:
    guides = REPO / "docs/content/guides"
    own = (guides / "own-channel.md").read_text(encoding="utf-8")
    for section in (
        "library_channel.py:library",
        "rooms_channel.py:rooms",
        "lyrics_channel.py:lyrics",
    ):
        assert f'--8<-- "docs/examples/{section}"' in own, section
    publish = (guides / "publish-from-app.md").read_text(encoding="utf-8")
    for section in ("publish_from_app.py:app", "standalone_server.py:standalone"):
        assert f'--8<-- "docs/examples/{section}"' in publish, section


@contextlib.asynccontextmanager
async def _client(
    url: str, hello: dict[str, Any] | None = None
) -> AsyncIterator[tuple[ClientConnection, dict[str, Any]]]:
    async with asyncio.timeout(TIMEOUT):
        ws = await connect(url, subprotocols=["canaux.v1"])  # type: ignore[list-item]
        await ws.send(json.dumps(hello or {"type": "hello", "version": 1}))
        welcome = json.loads(await ws.recv())
    assert welcome["type"] == "welcome"
    try:
        yield ws, welcome
    finally:
        await ws.close()


async def _until(ws: ClientConnection, match: Callable[[dict[str, Any]], bool]) -> list[Any]:
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(TIMEOUT):
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("type") == "ping":
                await ws.send(json.dumps({"type": "pong", "nonce": frame.get("nonce")}))
                continue
            seen.append(frame)
            if match(frame):
                return seen


def _reply_to(frame_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") in ("ack", "error") and f.get("id") == frame_id


def _library_event(f: dict[str, Any]) -> bool:
    return f.get("type") == "event" and f.get("channel") == "library"


async def test_library_channel_over_a_real_socket() -> None:
    config = dataclasses.replace(library_channel.config, log_level="warning")
    async with running_server(config) as server:
        runtime = server.runtime
        entry = {"name": "library", "publish": "server", "schema": "urn:canaux:channel:library"}
        await runtime.publish("library", SCAN)
        async with _client(server.ws_url) as (ws, _):
            # subscribe → the ack, then the latest scan, to this subscriber only.
            await ws.send(json.dumps({"type": "subscribe", "id": "s", "channel": "library"}))
            frames = await _until(ws, _library_event)
            assert [f["type"] for f in frames] == ["ack", "event"]
            assert frames[-1]["data"] == SCAN
            # server.publish → an event with the next seq.
            newer = {**SCAN, "files": 4}
            await runtime.publish("library", newer)
            event = (await _until(ws, _library_event))[-1]
            assert (event["data"], event["seq"]) == (newer, frames[-1]["seq"] + 1)
            # a client publish → forbidden, and nothing is delivered [CHANNEL-4].
            frame = {"type": "publish", "id": "p", "channel": "library", "data": SCAN}
            await ws.send(json.dumps(frame))
            reply = (await _until(ws, _reply_to("p")))[-1]
            assert reply["code"] == "forbidden"
            # schema-invalid data from the app is refused too [CHANNEL-12].
            with pytest.raises(Refused) as refused:
                await runtime.publish("library", {**SCAN, "files": -1})
            assert refused.value.pointer == "/data/files"
        async with _client(server.ws_url) as (ws, welcome):
            # The catalogue lists the app channel after the standard ones [CHANNEL-2].
            assert welcome["channels"][-1] == entry
            await ws.send(json.dumps({"type": "subscribe", "id": "s", "channel": "library"}))
            assert (await _until(ws, _library_event))[-1]["data"] == newer


async def test_publish_from_fastapi_routes_and_background_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.flac").write_bytes(b"x" * 10)
    (tmp_path / "b.flac").write_bytes(b"y" * 5)
    monkeypatch.setenv("LIBRARY_ROOT", str(tmp_path))
    config = dataclasses.replace(library_channel.config, log_level="warning")
    async with (
        serve_app(
            publish_from_app.api, publish_from_app.canaux, config, prefix="/canaux"
        ) as served,
        _client(served.ws_url) as (ws, _),
        httpx.AsyncClient(base_url=f"http://{served.host}:{served.port}", timeout=TIMEOUT) as http,
    ):
        await ws.send(json.dumps({"type": "subscribe", "id": "s", "channel": "library"}))
        await _until(ws, _reply_to("s"))
        for route, files in (("/scans", 1), ("/scans/sync", 2)):
            response = await http.post(route, json={**SCAN, "files": files})
            assert response.status_code == 202, response.text
            assert (await _until(ws, _library_event))[-1]["data"]["files"] == files
        bad = await http.post("/scans", json={**SCAN, "files": "many"})
        assert bad.status_code == 422  # FastAPI's own check of the model
        response = await http.post("/scans/start")
        assert response.json() == {"scanning": str(tmp_path)}
        found = (await _until(ws, _library_event))[-1]["data"]
        assert (found["root"], found["files"], found["bytes"]) == (str(tmp_path), 2, 15)


async def test_rooms_family_with_its_access_policy() -> None:
    from docs.examples.rooms_channel import rooms

    config = dataclasses.replace(library_channel.config, channels=[rooms], log_level="warning")
    async with running_server(config) as server:
        async with _client(server.ws_url) as (ws, _):
            await ws.send(json.dumps({"type": "subscribe", "id": "s", "channel": "rooms.jazz"}))
            # No identity, no room [CHANNEL-13].
            assert (await _until(ws, _reply_to("s")))[-1]["code"] == "forbidden"
        member = {"type": "hello", "version": 1, "token": "jazz:ann"}
        async with _client(server.ws_url, hello=member) as (ws, _):
            await ws.send(json.dumps({"type": "subscribe", "id": "s", "channel": "rooms.jazz"}))
            assert (await _until(ws, _reply_to("s")))[-1]["type"] == "ack"
            await ws.send(json.dumps({"type": "subscribe", "id": "t", "channel": "rooms.rock"}))
            assert (await _until(ws, _reply_to("t")))[-1]["code"] == "forbidden"
            data = {"text": "hello"}
            frame = {"type": "publish", "id": "p", "channel": "rooms.jazz", "data": data}
            await ws.send(json.dumps(frame))
            event = (await _until(ws, lambda f: f.get("type") == "event"))[-1]
            assert (event["channel"], event["data"]) == ("rooms.jazz", data)


async def test_lyrics_hook_answers_the_requester_only() -> None:
    from docs.examples.lyrics_channel import lyrics

    config = dataclasses.replace(library_channel.config, channels=[lyrics], log_level="warning")
    async with (
        running_server(config) as server,
        _client(server.ws_url) as (asker, _),
        _client(server.ws_url) as (other, _),
    ):
        for ws in (asker, other):
            await ws.send(json.dumps({"type": "subscribe", "id": "s", "channel": "lyrics"}))
            await _until(ws, _reply_to("s"))
        frame = {"type": "publish", "id": "q1", "channel": "lyrics", "data": {"track": "t1"}}
        await asker.send(json.dumps(frame))
        event = (await _until(asker, lambda f: f.get("type") == "event"))[-1]
        assert event["data"] == {"request": "q1", "track": "t1", "text": "So what? ..."}
        await asker.send(json.dumps({**frame, "id": "q2", "data": {"track": "nope"}}))
        refused = (await _until(asker, _reply_to("q2")))[-1]
        assert (refused["code"], refused["pointer"]) == ("invalid_command", "/data/track")
        await asker.send(json.dumps({**frame, "id": "q3", "data": {"song": "t1"}}))
        invalid = (await _until(asker, _reply_to("q3")))[-1]
        assert invalid["code"] == "invalid_payload"  # the publish schema [CHANNEL-5]
        # The other subscriber got nothing: a ping round trip shows its queue is empty.
        await other.send(json.dumps({"type": "ping", "nonce": "n"}))
        frames = await _until(other, lambda f: f.get("type") == "pong")
        assert [f["type"] for f in frames] == ["pong"]


async def test_standalone_server_with_a_background_task_that_publishes() -> None:
    """``serve_async(config, app=app)``: the app holds its runtime, a task of the same loop
    publishes, clients receive it; SIGTERM stops the server gracefully (exit status 0)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "docs.examples.standalone_server",
        "--port",
        "0",
        "--every",
        "0.2",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        url = None
        async with asyncio.timeout(TIMEOUT * 2):
            while url is None:
                line = (await process.stdout.readline()).decode()
                assert line, "the server exited before listening"
                found = re.search(r"listening on (ws://\S+)", line)
                url = found.group(1) if found else None
        async with _client(url) as (ws, _):
            await ws.send(json.dumps({"type": "subscribe", "id": "s", "channel": "library"}))
            first, second = [(await _until(ws, _library_event))[-1] for _ in range(2)]
            assert first["data"]["root"] == second["data"]["root"] == "/music"
            assert second["seq"] == first["seq"] + 1
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(TIMEOUT * 2):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
