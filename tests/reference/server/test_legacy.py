"""The legacy sockets /ws/chat and /api/ws (spec legacy.md, LEGACY-1..3)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from canaux.server.legacy import MAX_LEGACY_REQUESTS
from canaux.server.testing import RunningServer, running_server

from .wire import (
    close_code,
    http_publish,
    make_config,
    open_ws,
    recv,
    recv_until,
    reset_within,
    send,
)

pytestmark = pytest.mark.anyio


async def test_api_ws_streams_system_and_progress(server: RunningServer) -> None:
    """LEGACY-1: {"channel", "data"} for system and progress; no subprotocol needed."""
    async with open_ws(server, "/api/ws", subprotocols=[]) as ws:
        notice = {"level": "warning", "text": "Disk almost full"}
        await http_publish(server, "conformance.ignored", {"mark": "m"})
        await http_publish(server, "system", notice)
        progress = {"task": "t-1", "kind": "scan", "status": "pending", "current": 0, "total": None}
        await http_publish(server, "progress", progress)
        assert await recv(ws) == {"channel": "system", "data": notice}
        assert await recv(ws) == {"channel": "progress", "data": progress}


async def test_api_ws_is_receive_only(server: RunningServer) -> None:
    """LEGACY-3: client frames other than pings get a forbidden notice; the socket stays open."""
    async with open_ws(server, "/api/ws", subprotocols=[]) as ws:
        await send(ws, {"message": "hello?"})
        reply = await recv(ws)
        assert reply["channel"] == "system"
        assert (reply["data"]["level"], reply["data"]["code"]) == ("error", "forbidden")
        await send(ws, {"type": "ping", "nonce": "7"})
        assert await recv(ws) == {"type": "pong", "nonce": "7"}
        await http_publish(server, "system", {"level": "info", "text": "still here"})
        assert (await recv(ws))["data"]["text"] == "still here"


@pytest.mark.parametrize(
    "frame",
    [
        {"message": "Hello bot"},
        {"channel": "chat", "data": {"type": "message", "text": "Hello bot"}},
        {"data": {"type": "message", "text": "Hello bot"}},
    ],
    ids=["flat", "channel-form", "default-channel"],
)
async def test_ws_chat_answers_each_message_form(
    server: RunningServer, frame: dict[str, Any]
) -> None:
    """LEGACY-1, LEGACY-2: the reply events of this connection's request, chunks then done."""
    async with open_ws(server, "/ws/chat", subprotocols=[]) as ws:
        await send(ws, frame)
        frames = await recv_until(ws, lambda f: f["data"]["type"] == "done")
        assert all(f["channel"] == "chat" for f in frames)
        chunks = [f["data"] for f in frames[:-1]]
        assert "".join(c["text"] for c in chunks) == "You said: Hello bot"
        assert frames[-1]["data"]["chunks"] == len(chunks)
        assert {c["request"] for c in chunks} == {frames[-1]["data"]["request"]}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"message": 5}, "bad_frame"),
        ({"hello": "?"}, "bad_frame"),
        ({"channel": "chat", "data": {"type": "message"}}, "bad_frame"),
        ({"channel": "system", "data": {"level": "info", "text": "x"}}, "bad_frame"),
    ],
)
async def test_ws_chat_bad_frames_get_a_notice_and_stay_open(
    server: RunningServer, frame: Any, code: str
) -> None:
    """LEGACY-3: an object that is not a legacy frame gets a system error notice."""
    async with open_ws(server, "/ws/chat", subprotocols=[]) as ws:
        await send(ws, frame)
        notice = await recv(ws)
        assert notice["channel"] == "system"
        assert (notice["data"]["level"], notice["data"]["code"]) == ("error", code)
        await send(ws, {"message": "ok"})
        frames = await recv_until(ws, lambda f: f["data"]["type"] == "done")
        assert frames[-1]["channel"] == "chat"


class _HeldAgent:
    """Answers each chat message once released: until then every request stays under way."""

    def __init__(self, expected: int) -> None:
        self.release = asyncio.Event()
        self.all_started = asyncio.Event()
        self._expected = expected
        self.started = 0

    async def reply(self, text: str, conversation: str | None) -> AsyncIterator[str]:
        self.started += 1
        if self.started == self._expected:
            self.all_started.set()
        await self.release.wait()
        yield f"echo {text}"


async def test_ws_chat_refuses_a_request_over_its_bound_and_goes_on() -> None:
    """LEGACY-9: with MAX_LEGACY_REQUESTS under way, one more chat message is not run: a
    chat.busy notice answers it, the connection stays open, and those under way finish."""
    agent = _HeldAgent(MAX_LEGACY_REQUESTS)
    config = dataclasses.replace(make_config(), agent=agent)
    async with running_server(config) as server, open_ws(server, "/ws/chat", subprotocols=[]) as ws:
        for index in range(MAX_LEGACY_REQUESTS):
            await send(ws, {"message": f"held {index}"})
        async with asyncio.timeout(5):
            await agent.all_started.wait()
        await send(ws, {"message": "one too many"})
        notice = await recv(ws)
        assert notice["channel"] == "system"
        assert (notice["data"]["level"], notice["data"]["code"]) == ("error", "chat.busy")
        agent.release.set()
        done: set[str] = set()
        async with asyncio.timeout(5):
            while len(done) < MAX_LEGACY_REQUESTS:
                frame = await recv(ws)
                if frame["channel"] == "chat" and frame["data"]["type"] == "done":
                    done.add(frame["data"]["request"])
        assert agent.started == MAX_LEGACY_REQUESTS  # the refused message never reached it
        await send(ws, {"message": "after"})
        frames = await recv_until(ws, lambda f: f["data"]["type"] == "done")
        assert "".join(f["data"].get("text", "") for f in frames[:-1]) == "echo after"


@pytest.mark.parametrize("path", ["/ws/chat", "/api/ws"])
@pytest.mark.parametrize(("frame", "code"), [("not json", 1007), ("[1]", 1007), (b"\x01", 1003)])
async def test_legacy_framing_errors_close(
    server: RunningServer, path: str, frame: str | bytes, code: int
) -> None:
    """LEGACY-5 with TRANSPORT-4/5: binary → 1003, not a JSON object → 1007."""
    async with open_ws(server, path, subprotocols=[]) as ws:
        await send(ws, frame)
        assert await close_code(ws) == code


async def test_legacy_endpoints_never_select_the_canaux_subprotocol(server: RunningServer) -> None:
    """LEGACY-4."""
    async with open_ws(server, "/ws/chat", subprotocols=["canaux.v1"]) as ws:
        assert ws.subprotocol is None


async def test_legacy_sockets_close_1001_on_shutdown(server: RunningServer) -> None:
    """Legacy clients are closed with 1001 too, after the stop notice."""
    async with open_ws(server, "/api/ws", subprotocols=[]) as ws:
        server.uvicorn.should_exit = True
        stop = await recv(ws)
        assert stop["data"]["code"] == "server.stop"
        assert await close_code(ws) == 1001


async def test_a_legacy_reader_that_never_reads_is_cut_with_4503_and_reset() -> None:
    """LEGACY-8, TRANSPORT-23: the overflow is decided while the writer is stuck behind the
    client (4503 at once, not when the client reads again), and the socket is reset within
    the spec's 15 s although the client never reads."""
    async with running_server(make_config(outbound_queue=8)) as server:
        cut = asyncio.Event()
        server.runtime.add_close_listener(
            lambda kind, code: cut.set() if (kind, code) == ("legacy-api", 4503) else None
        )
        options = {"max_queue": 1, "compression": None}
        async with open_ws(server, "/api/ws", subprotocols=[], **options) as slow:
            await http_publish(server, "system", {"level": "info", "text": "first"})
            assert (await recv(slow))["data"]["text"] == "first"
            sent = 0
            async with asyncio.timeout(60):
                while not cut.is_set():
                    notice = {"level": "info", "text": f"{sent} {'x' * 30_000}"}
                    assert (await http_publish(server, "system", notice)).status_code == 202
                    sent += 1
            assert await reset_within(slow, 15.0)
