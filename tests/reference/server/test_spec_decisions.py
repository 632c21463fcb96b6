"""The ambiguities issue 9 listed, as the spec now settles them, over real sockets.

TRANSPORT-22 and the I-JSON rules have their own module (test_ijson_door.py); here: the check
order of an SSE request [SSE-14] and an HTTP publish [HTTP-8], a chat text that fits its schema
but not the frame [CHAT-6], what /health counts [HTTP-5], and a takeover over SSE [SSE-13].
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import httpx
import pytest

from canaux.server import ServerConfig
from canaux.server.config import Unauthorized
from canaux.server.testing import RunningServer, running_server

from .wire import (
    PUBLISH_TOKEN,
    TIMEOUT,
    SSEReader,
    close_code,
    http_publish,
    make_config,
    open_ws,
    request,
    send,
    session,
    stream,
)

pytestmark = pytest.mark.anyio


async def _accept_only_good(token: str | None) -> str:
    if token != "good":
        raise Unauthorized("no")
    return "user"


def _authenticating() -> ServerConfig:
    return dataclasses.replace(make_config(), authenticate=_accept_only_good)


class TestSseOrder:
    """[SSE-14] the channels list entry by entry, then the credentials."""

    @pytest.mark.parametrize(
        ("query", "code"),
        [
            ("channels=nope,Bad!", "unknown_channel"),
            ("channels=Bad!,nope", "bad_frame"),
            ("channels=", "bad_frame"),
        ],
    )
    async def test_the_first_entry_that_fails_decides(self, query: str, code: str) -> None:
        async with (
            running_server(_authenticating()) as server,
            httpx.AsyncClient(timeout=TIMEOUT) as client,
        ):
            # No credentials at all: the list is checked before them.
            response = await client.get(f"{server.events_url}?{query}")
            assert (response.status_code, response.json()["code"]) == (400, code)

    async def test_credentials_come_after_a_valid_list(self) -> None:
        async with (
            running_server(_authenticating()) as server,
            httpx.AsyncClient(timeout=TIMEOUT) as client,
        ):
            response = await client.get(f"{server.events_url}?channels=system")
            assert (response.status_code, response.json()["code"]) == (401, "unauthorized")


class TestHttpPublishOrder:
    """[HTTP-8] credentials, length, body, catalogue, endpoint, schema."""

    async def test_credentials_before_the_length(self) -> None:
        async with (
            running_server(make_config(max_frame_bytes=4096)) as server,
            httpx.AsyncClient(timeout=TIMEOUT) as client,
        ):
            big = json.dumps({"channel": "nope", "data": "x" * 10_000})
            response = await client.post(server.base_url + "/publish", content=big)
            assert (response.status_code, response.json()["code"]) == (401, "unauthorized")
            response = await client.post(
                server.base_url + "/publish",
                content=big,
                headers={"Authorization": f"Bearer {PUBLISH_TOKEN}"},
            )
            assert (response.status_code, response.json()["code"]) == (413, "bad_frame")

    @pytest.mark.parametrize(
        ("channel", "status", "code"),
        [
            ("Bad!", 400, "bad_frame"),  # [HTTP-3] outside the grammar: not a valid channel
            ("nope", 400, "unknown_channel"),
            ("chat", 403, "forbidden"),
        ],
    )
    async def test_body_then_catalogue_then_endpoint(
        self, server: RunningServer, channel: str, status: int, code: str
    ) -> None:
        response = await http_publish(server, channel, {"level": 7})
        assert (response.status_code, response.json()["code"]) == (status, code)


async def test_a_chat_text_within_its_schema_but_over_the_frame_limit_closes_1009() -> None:
    """[CHAT-6] the frame limit comes first: 3000 'é' are 3000 characters but 6000 bytes."""
    async with (
        running_server(make_config(max_frame_bytes=4096)) as server,
        session(server) as (ws, _),
    ):
        frame = {
            "type": "publish",
            "id": "c1",
            "channel": "chat",
            "data": {"type": "message", "text": "é" * 3000},
        }
        await send(ws, json.dumps(frame, ensure_ascii=False))
        assert await close_code(ws) == 1009


async def test_health_counts_sessions_with_an_id_and_every_connection(
    server: RunningServer,
) -> None:
    """[HTTP-5] WebSocket and SSE sessions count as sessions; a legacy socket only as a
    connection."""
    async with (
        session(server) as (ws, _),
        stream(server, "channels=system") as sse,
        open_ws(server, "/api/ws", subprotocols=[]) as legacy,
        httpx.AsyncClient(timeout=TIMEOUT) as client,
    ):
        assert (await sse.next_message())["event"] == "welcome"
        # Each connection is registered once it has been answered: the legacy one by a ping.
        await send(legacy, {"type": "ping"})
        assert json.loads(await legacy.recv()) == {"type": "pong"}
        await request(ws, {"type": "subscribe", "id": "s1", "channel": "system"})
        health = (await client.get(server.base_url + "/health")).json()
        assert health == {"status": "ok", "sessions": 2, "connections": 3}


async def _rest(reader: SSEReader) -> list[dict[str, Any]]:
    """The messages of a stream until it ends."""
    seen: list[dict[str, Any]] = []
    try:
        while True:
            seen.append(await reader.next())
    except EOFError:
        return seen


async def test_a_resumed_sse_session_ends_the_stream_it_was_attached_to(
    server: RunningServer,
) -> None:
    """[SSE-13] RESUME-4 over SSE: the old response ends; the new stream carries on."""
    async with stream(server, "channels=system") as first:
        welcome = json.loads((await first.next_message())["data"])
        assert (await http_publish(server, "system", {"level": "info", "text": "one"})).is_success
        event = await first.next_message()
        assert event["id"] == f"{welcome['session']}:1"
        headers = {"Last-Event-ID": event["id"]}
        async with stream(server, "channels=system", headers=headers) as second:
            resumed = json.loads((await second.next_message())["data"])
            assert (resumed["resumed"], resumed["session"]) == (True, welcome["session"])
            # The old response ends (each read is bounded by TIMEOUT), with no event after.
            assert [m for m in await _rest(first) if "comment" not in m] == []
            two = await http_publish(server, "system", {"level": "info", "text": "two"})
            assert two.is_success
            after = json.loads((await second.next_message())["data"])
            assert (after["seq"], after["data"]["text"]) == (2, "two")
