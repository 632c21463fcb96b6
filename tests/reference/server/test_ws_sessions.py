"""Sessions over /ws: resume, identity, replaced connections, standard channels, shutdown."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from canaux.server import ServerConfig
from canaux.server.channels.channel import Channel, Publication, Subscription
from canaux.server.testing import RunningServer, running_server

from .wire import (
    TIMEOUT,
    close_code,
    http_publish,
    make_config,
    recv,
    recv_until,
    request,
    send,
    session,
)

pytestmark = pytest.mark.anyio


async def _events_until_mark(ws: ClientConnection, mark: str) -> list[dict[str, Any]]:
    frames = await recv_until(
        ws, lambda f: f.get("type") == "event" and f["data"].get("mark") == mark
    )
    return [f for f in frames if f["type"] == "event"]


async def _publish_marks(server: RunningServer, channel: str, *marks: str) -> None:
    for mark in marks:
        response = await http_publish(server, channel, {"mark": mark})
        assert response.status_code == 202


async def _wait_detached(server: RunningServer, session_id: str) -> None:
    # The server notices a dropped socket asynchronously; wait for that condition.
    def detached() -> bool:
        found = server.runtime.registry.get(session_id)
        return found is None or found.carrier is None

    async with asyncio.timeout(TIMEOUT):
        await server.runtime.registry.wait_until(detached)


class TestResume:
    async def test_resume_replays_missed_events_in_order_then_live(
        self, server: RunningServer
    ) -> None:
        """RESUME-2, RESUME-3, DELIVERY-1: same session, replay after resume.seq, no gap."""
        async with session(server, token="alice") as (ws, welcome):
            await request(ws, {"type": "subscribe", "id": "s1", "channel": "conformance.r"})
            await _publish_marks(server, "conformance.r", "a", "b")
            events = await _events_until_mark(ws, "b")
            assert [e["seq"] for e in events] == [1, 2]
        await _wait_detached(server, welcome["session"])
        await _publish_marks(server, "conformance.r", "c", "d")
        resume = {"session": welcome["session"], "seq": 1}
        async with session(server, token="alice", resume=resume) as (ws, again):
            assert again["resumed"] is True
            assert again["session"] == welcome["session"]
            assert again["seq"] == 4
            replayed = [await recv(ws) for _ in range(3)]
            assert [(e["seq"], e["data"]["mark"]) for e in replayed] == [
                (2, "b"),
                (3, "c"),
                (4, "d"),
            ]
            # Subscriptions are kept: live events continue the numbering.
            await _publish_marks(server, "conformance.r", "e")
            live = await _events_until_mark(ws, "e")
            assert [e["seq"] for e in live] == [5]

    async def test_resume_with_another_token_gets_a_new_session(
        self, server: RunningServer
    ) -> None:
        """SECURITY-2: identity differs → resumed false, original left untouched."""
        async with session(server, token="alice") as (ws, welcome):
            await request(ws, {"type": "subscribe", "id": "s1", "channel": "conformance.r"})
            await _publish_marks(server, "conformance.r", "a")
            await _events_until_mark(ws, "a")
        await _wait_detached(server, welcome["session"])
        for token in ("mallory", None):
            hello: dict[str, Any] = {"resume": {"session": welcome["session"], "seq": 0}}
            if token is not None:
                hello["token"] = token
            async with session(server, **hello) as (_, other):
                assert other["resumed"] is False
                assert other["session"] != welcome["session"]
                assert other["seq"] == 0
        # The owner still resumes it, with everything.
        resume = {"session": welcome["session"], "seq": 0}
        async with session(server, token="alice", resume=resume) as (ws, again):
            assert again["resumed"] is True
            assert (await recv(ws))["data"]["mark"] == "a"

    async def test_guessed_session_id_gets_a_new_session(self, server: RunningServer) -> None:
        """RESUME-2, SECURITY-1: an unknown id is never resumed."""
        async with session(server) as (_, real):
            guess = real["session"][:-1] + ("A" if real["session"][-1] != "A" else "B")
            async with session(server, resume={"session": guess, "seq": 0}) as (_, welcome):
                assert welcome["resumed"] is False
                assert welcome["session"] not in (guess, real["session"])
                assert len(welcome["session"]) >= 22

    async def test_resume_beyond_last_seq_is_refused(self, server: RunningServer) -> None:
        """RESUME-2: seq ≤ last assigned, else a new session."""
        async with session(server) as (_, welcome):
            pass
        await _wait_detached(server, welcome["session"])
        async with session(server, resume={"session": welcome["session"], "seq": 5}) as (_, again):
            assert again["resumed"] is False

    async def test_resume_while_attached_closes_the_old_connection_4411(
        self, server: RunningServer
    ) -> None:
        """RESUME-4."""
        async with session(server, token="t") as (old, welcome):
            resume = {"session": welcome["session"], "seq": 0}
            async with session(server, token="t", resume=resume) as (_, again):
                assert again["resumed"] is True
                assert await close_code(old) == 4411

    async def test_a_refused_resume_after_a_takeover_leaves_the_live_session_alone(
        self,
    ) -> None:
        """RESUME-4, RESUME-12, RESUME-7: after B took A's session over, C's refused resume
        (another token, past the window) neither discards nor detaches it: B still receives."""
        async with running_server(make_config(resume_window_ms=1000)) as server:
            registry = server.runtime.registry
            offset = 0.0
            real_clock = registry.clock
            registry.clock = lambda: real_clock() + offset
            async with session(server, token="alice") as (a, welcome):
                await request(a, {"type": "subscribe", "id": "s", "channel": "conformance.t"})
                resume = {"session": welcome["session"], "seq": 0}
                async with session(server, token="alice", resume=resume) as (b, taken):
                    assert taken["resumed"] is True
                    assert await close_code(a) == 4411
                    offset = 2.5  # well past the window, had the session been detached
                    async with session(server, token="mallory", resume=resume) as (_, other):
                        assert other["resumed"] is False
                    assert registry.get(welcome["session"]) is not None
                    await _publish_marks(server, "conformance.t", "still-live")
                    events = await _events_until_mark(b, "still-live")
                    assert [e["seq"] for e in events] == [1]

    async def test_expired_session_is_not_resumed(self) -> None:
        """RESUME-7: detached longer than resume_window_ms → discarded → resumed false."""
        async with running_server(make_config(resume_window_ms=200)) as server:
            async with session(server) as (_, welcome):
                pass
            async with asyncio.timeout(TIMEOUT):
                # The expiry sweep discards it once the window is over.
                await server.runtime.registry.wait_until(
                    lambda: server.runtime.registry.get(welcome["session"]) is None
                )
            resume = {"session": welcome["session"], "seq": 0}
            async with session(server, resume=resume) as (_, again):
                assert again["resumed"] is False

    async def test_buffer_overflow_while_detached_makes_it_unresumable(self) -> None:
        """LIMIT-5: more events than resume_buffer while detached → resumed false."""
        async with running_server(make_config(resume_buffer=2, dedup_ids=2)) as server:
            async with session(server) as (ws, welcome):
                await request(ws, {"type": "subscribe", "id": "s", "channel": "conformance.o"})
            await _wait_detached(server, welcome["session"])
            await _publish_marks(server, "conformance.o", "a", "b", "c")
            resume = {"session": welcome["session"], "seq": 0}
            async with session(server, resume=resume) as (_, again):
                assert again["resumed"] is False


class TestChat:
    async def test_reply_streams_to_the_requester_only(self, server: RunningServer) -> None:
        """CHAT-1, CHAT-2, CHAT-3, SECURITY-3."""
        async with session(server) as (other, _), session(server) as (ws, _):
            await request(other, {"type": "subscribe", "id": "s", "channel": "chat"})
            message = {"type": "message", "text": "Hello there friend"}
            await send(ws, {"type": "publish", "id": "c1", "channel": "chat", "data": message})
            await send(ws, {"type": "publish", "id": "c2", "channel": "chat", "data": message})
            done: set[str] = set()

            def both_done(frame: dict[str, Any]) -> bool:
                data = frame.get("data", {})
                if frame["type"] == "event" and data.get("type") == "done":
                    done.add(data["request"])
                return done == {"c1", "c2"}

            frames = await recv_until(ws, both_done)
            acks = [f["id"] for f in frames if f["type"] == "ack"]
            assert acks == ["c1", "c2"]
            for request_id in ("c1", "c2"):
                mine = [
                    f["data"]
                    for f in frames
                    if f["type"] == "event" and f["data"]["request"] == request_id
                ]
                chunks = [d for d in mine if d["type"] == "chunk"]
                assert [c["index"] for c in chunks] == list(range(len(chunks)))
                assert "".join(c["text"] for c in chunks) == "You said: Hello there friend"
                assert mine[-1] == {"type": "done", "request": request_id, "chunks": len(chunks)}
            # The subscribed bystander got nothing of it: its next event is a conformance one.
            await request(other, {"type": "subscribe", "id": "s2", "channel": "conformance.x"})
            await _publish_marks(server, "conformance.x", "after")
            seen = await _events_until_mark(other, "after")
            assert [e["channel"] for e in seen] == ["conformance.x"]


class TestPlayQueue:
    async def test_snapshot_on_subscribe_and_broadcast_of_commands(
        self, server: RunningServer
    ) -> None:
        """QUEUE-1, QUEUE-2, QUEUE-3."""
        async with session(server) as (a, _), session(server) as (b, _):
            empty = {"type": "state", "version": 0, "items": [], "current": None, "playing": False}
            for ws in (a, b):
                await send(ws, {"type": "subscribe", "id": "q", "channel": "playqueue"})
                frames = await recv_until(ws, lambda f: f.get("type") == "event")
                assert frames[0] == {"type": "ack", "id": "q"}
                assert frames[1]["data"] == empty
            track = {"id": "t1", "title": "So What", "artist": "Miles Davis", "duration_ms": 562000}
            add = {
                "type": "publish",
                "id": "add",
                "channel": "playqueue",
                "data": {"op": "add", "track": track},
            }
            await send(a, add)
            for ws in (a, b):
                state = (await recv_until(ws, lambda f: f.get("type") == "event"))[-1]["data"]
                assert state["version"] == 1
                assert state["items"] == [track]
            bad = await request(
                a,
                {
                    "type": "publish",
                    "id": "bad",
                    "channel": "playqueue",
                    "data": {"op": "remove", "index": 3},
                },
            )
            assert (bad["code"], bad["pointer"]) == ("invalid_command", "/data/index")
            stale = await request(
                a,
                {
                    "type": "publish",
                    "id": "old",
                    "channel": "playqueue",
                    "data": {"op": "play", "if_version": 0},
                },
            )
            assert (stale["code"], stale["pointer"]) == ("version_conflict", "/data/if_version")
            play = await request(
                a,
                {
                    "type": "publish",
                    "id": "play",
                    "channel": "playqueue",
                    "data": {"op": "play", "if_version": 1},
                },
            )
            assert play["type"] == "ack"
            state = (await recv_until(b, lambda f: f.get("type") == "event"))[-1]["data"]
            # Refused commands broadcast nothing: b's next state is version 2.
            assert (state["version"], state["current"], state["playing"]) == (2, 0, True)


async def test_graceful_shutdown_closes_clients_with_1001() -> None:
    """Close code 1001 on shutdown; the stop notice goes out first (SYSTEM-1)."""
    async with running_server(make_config()) as server, session(server) as (ws, _):
        await request(ws, {"type": "subscribe", "id": "s", "channel": "system"})
        server.uvicorn.should_exit = True
        frames = await recv_until(ws, lambda f: f.get("type") == "event")
        assert frames[-1]["data"]["code"] == "server.stop"
        assert await close_code(ws) == 1001


class TestServerFailures:
    """OPS-1, OPS-17: a failure of the server's own code on one request."""

    @staticmethod
    def _config() -> ServerConfig:
        async def explode(publication: Publication) -> None:
            raise RuntimeError("a bug in the application's hook")

        async def bad_snapshot(subscription: Subscription) -> Any:
            raise RuntimeError("a bug in the application's snapshot")

        return dataclasses.replace(
            make_config(),
            channels=[
                Channel("app.broken", {"type": "object"}, publish="both", on_publish=explode),
                Channel("app.snap", {"type": "object"}, publish="both", snapshot=bad_snapshot),
            ],
        )

    async def test_a_failing_publish_hook_gets_internal_error_and_a_retry_is_applied(
        self,
    ) -> None:
        """OPS-17: not remembered, so the same id is processed again; the socket stays open."""
        async with running_server(self._config()) as server, session(server) as (ws, _):
            frame = {"type": "publish", "id": "p1", "channel": "app.broken", "data": {}}
            for _ in range(2):
                reply = await request(ws, frame)
                assert (reply["type"], reply["code"], reply["id"]) == (
                    "error",
                    "internal_error",
                    "p1",
                )

    async def test_a_failure_after_the_ack_sends_no_second_reply_and_keeps_the_subscription(
        self,
    ) -> None:
        """OPS-1 exactly one reply; the committed subscription stays whole (session and hub)."""
        async with running_server(self._config()) as server, session(server) as (ws, _):
            ack = await request(ws, {"type": "subscribe", "id": "s1", "channel": "app.snap"})
            assert ack == {"type": "ack", "id": "s1"}
            await _publish_marks(server, "app.snap", "after")
            frames = await recv_until(
                ws, lambda f: f.get("type") == "event" and f["data"].get("mark") == "after"
            )
            assert [f["type"] for f in frames] == ["event"]  # no error for s1 before it
            again = await request(ws, {"type": "subscribe", "id": "s2", "channel": "app.snap"})
            assert again["code"] == "already_subscribed"
