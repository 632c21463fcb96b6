"""GET /events: the SSE binding (spec sse.md, SSE-1..4), read with httpx streaming."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from canaux.server.testing import RunningServer, running_server

from .wire import TIMEOUT, SSEReader, http_publish, make_config, request, session, stream

pytestmark = pytest.mark.anyio


async def _drain(sse: SSEReader, into: list[dict[str, Any]]) -> None:
    while True:
        into.append(await sse.next())


async def test_stream_starts_with_welcome_then_events_with_ids(server: RunningServer) -> None:
    """SSE-1: welcome without id, then event/id/data per event."""
    async with stream(server, "channels=system,conformance.s") as sse:
        first = await sse.next_message()
        assert first["event"] == "welcome"
        assert "id" not in first
        welcome = json.loads(first["data"])
        assert (welcome["type"], welcome["resumed"], welcome["seq"]) == ("welcome", False, 0)
        await http_publish(server, "conformance.s", {"mark": "a"})
        await http_publish(server, "system", {"level": "info", "text": "hi"})
        one, two = await sse.next_message(), await sse.next_message()
        assert (one["event"], one["id"]) == ("conformance.s", f"{welcome['session']}:1")
        assert json.loads(one["data"]) == {
            "type": "event",
            "seq": 1,
            "channel": "conformance.s",
            "data": {"mark": "a"},
        }
        assert (two["event"], two["id"]) == ("system", f"{welcome['session']}:2")


async def test_ping_comments_at_least_every_heartbeat() -> None:
    """SSE-4."""
    async with (
        running_server(make_config(heartbeat_ms=1000)) as server,
        stream(server, "channels=system") as sse,
    ):
        assert (await sse.next())["event"] == "welcome"
        assert await sse.next() == {"comment": "ping"}


@pytest.mark.parametrize("via", ["header", "query"])
async def test_last_event_id_resumes_with_replay(server: RunningServer, via: str) -> None:
    """SSE-2: Last-Event-ID (or ?last_event_id=) → resumed welcome, replay, then live."""
    async with stream(server, "channels=conformance.r") as sse:
        welcome = json.loads((await sse.next_message())["data"])
        await http_publish(server, "conformance.r", {"mark": "a"})
        first = await sse.next_message()
    session_id = welcome["session"]

    def detached() -> bool:
        found = server.runtime.registry.get(session_id)
        return found is not None and found.carrier is None

    async with asyncio.timeout(TIMEOUT):
        await server.runtime.registry.wait_until(detached)
    for mark in ("b", "c"):
        await http_publish(server, "conformance.r", {"mark": mark})
    if via == "header":
        query, headers = "channels=conformance.r", {"Last-Event-ID": first["id"]}
    else:
        query, headers = f"channels=conformance.r&last_event_id={first['id']}", {}
    async with stream(server, query, headers) as sse:
        again = json.loads((await sse.next_message())["data"])
        assert (again["resumed"], again["session"], again["seq"]) == (True, session_id, 3)
        replay = [await sse.next_message() for _ in range(2)]
        assert [m["id"] for m in replay] == [f"{session_id}:2", f"{session_id}:3"]
        assert [json.loads(m["data"])["data"]["mark"] for m in replay] == ["b", "c"]
        await http_publish(server, "conformance.r", {"mark": "d"})
        assert (await sse.next_message())["id"] == f"{session_id}:4"


async def test_resume_with_another_bearer_is_a_new_session(server: RunningServer) -> None:
    """SSE-2 with SECURITY-2: the identity is the bearer token."""
    owner = {"Authorization": "Bearer owner"}
    async with stream(server, "channels=system", owner) as sse:
        welcome = json.loads((await sse.next_message())["data"])
    position = {"Last-Event-ID": f"{welcome['session']}:0"}
    async with stream(server, "channels=system", position) as sse:
        other = json.loads((await sse.next_message())["data"])
        assert other["resumed"] is False
        assert other["session"] != welcome["session"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("channels=nope", "unknown_channel"),
        ("channels=system,Bad%20Name", "bad_frame"),
        ("channels=", "bad_frame"),
        ("", "bad_frame"),
    ],
)
async def test_bad_channel_lists_are_http_400(server: RunningServer, query: str, code: str) -> None:
    """SSE-3: unknown_channel for a valid name not offered, bad_frame for the rest."""
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        response = await client.get(f"{server.events_url}?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == code


async def test_playqueue_subscription_starts_with_a_snapshot(server: RunningServer) -> None:
    """QUEUE-1 over SSE."""
    async with stream(server, "channels=playqueue") as sse:
        await sse.next_message()
        snapshot = json.loads((await sse.next_message())["data"])
        assert snapshot["data"]["type"] == "state"
        assert snapshot["seq"] == 1


async def test_shutdown_ends_streams(server: RunningServer) -> None:
    """Graceful shutdown ends SSE streams too (the stop notice first)."""
    async with stream(server, "channels=system") as sse:
        await sse.next_message()
        server.uvicorn.should_exit = True
        notice = json.loads((await sse.next_message())["data"])
        assert notice["data"]["code"] == "server.stop"
        rest: list[dict[str, Any]] = []
        with pytest.raises(EOFError):
            await _drain(sse, rest)
        assert all("comment" in item for item in rest)


async def test_resume_needs_the_same_channel_set(server: RunningServer) -> None:
    """SSE-9: another set of channels starts a new session."""
    async with stream(server, "channels=system,progress") as sse:
        welcome = json.loads((await sse.next_message())["data"])
    position = {"Last-Event-ID": f"{welcome['session']}:0"}
    async with stream(server, "channels=system", position) as sse:
        assert json.loads((await sse.next_message())["data"])["resumed"] is False
    async with stream(server, "channels=progress,system,system", position) as sse:
        again = json.loads((await sse.next_message())["data"])
        assert (again["resumed"], again["session"]) == (True, welcome["session"])


async def test_sessions_never_cross_transports(server: RunningServer) -> None:
    """SSE-10: a WebSocket session is not resumed over SSE, nor the reverse."""
    async with session(server) as (ws, ws_welcome):
        await request(ws, {"type": "subscribe", "id": "s", "channel": "system"})
    position = {"Last-Event-ID": f"{ws_welcome['session']}:0"}
    async with stream(server, "channels=system", position) as sse:
        sse_welcome = json.loads((await sse.next_message())["data"])
        assert sse_welcome["resumed"] is False
    resume = {"session": sse_welcome["session"], "seq": 0}
    async with session(server, resume=resume) as (_, again):
        assert again["resumed"] is False


async def test_header_takes_precedence_over_the_query(server: RunningServer) -> None:
    """SSE-5."""
    async with stream(server, "channels=system") as sse:
        welcome = json.loads((await sse.next_message())["data"])
    query = f"channels=system&last_event_id={welcome['session']}:0"
    async with stream(server, query, {"Last-Event-ID": "garbage"}) as sse:
        assert json.loads((await sse.next_message())["data"])["resumed"] is False
