"""Two reference servers on one Redis serve one cluster (spec "Clusters": CLUSTER-2/3/4).

Both nodes run in this process on their own free ports, each with its own
:class:`~canaux.server.redis_broker.RedisBroker` (made from the URL, as ``canaux serve
--broker`` does), so what they share goes through Redis only. Subscribers sit on both nodes;
publishes and play-queue commands come from both, interleaved.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio
from redis.exceptions import RedisError
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from canaux.server import redis_sessions
from canaux.server.redis_broker import RedisBroker
from canaux.server.redis_sessions import RedisSessionStore
from canaux.server.testing import RunningServer, running_server
from canaux_conformance.outcomes import Verdict
from canaux_conformance.runner import RunConfig, run
from canaux_conformance.target import LISTENING_RE

from .redis_server import RedisServer
from .wire import (
    TIMEOUT,
    SSEReader,
    close_code,
    make_config,
    open_ws,
    recv,
    recv_until,
    request,
    send,
    session,
    stream,
)

pytestmark = pytest.mark.anyio

SEED = 20261202
PUBLISHES = 15
"""Per publishing client: enough to interleave, few enough to stay far below max_rate."""


@contextlib.asynccontextmanager
async def cluster(url: str, nodes: int = 2) -> AsyncIterator[list[RunningServer]]:
    config = dataclasses.replace(make_config(), broker=url)
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(running_server(config)) for _ in range(nodes)]


async def events(ws: ClientConnection, channel: str, count: int) -> list[dict[str, Any]]:
    """The next ``count`` events of ``channel`` (other frames skipped)."""
    got: list[dict[str, Any]] = []

    def enough(frame: dict[str, Any]) -> bool:
        if frame.get("type") == "event" and frame.get("channel") == channel:
            got.append(frame)
        return len(got) >= count

    await recv_until(ws, enough)
    return got


class TestFanOut:
    async def test_the_nodes_use_the_redis_broker_made_from_the_url(self, redis_url: str) -> None:
        async with cluster(redis_url) as nodes:
            for node in nodes:
                assert isinstance(node.runtime.broker, RedisBroker)
            assert nodes[0].runtime.broker is not nodes[1].runtime.broker

    async def test_publishes_on_both_nodes_reach_subscribers_on_both_in_one_order(
        self, redis_url: str
    ) -> None:
        """[CLUSTER-3] one order per channel for every subscriber of the cluster; each
        session's seq runs 1, 2, 3… without a gap [DELIVERY-1]."""
        channel = "conformance.cluster"
        async with (
            cluster(redis_url) as (node_a, node_b),
            session(node_a) as (a1, _),
            session(node_a) as (a2, _),
            session(node_b) as (b1, _),
            session(node_b) as (b2, _),
            session(node_a) as (pa1, _),
            session(node_a) as (pa2, _),
            session(node_b) as (pb1, _),
            session(node_b) as (pb2, _),
        ):
            clients = [a1, a2, b1, b2]
            for n, ws in enumerate(clients):
                reply = await request(ws, {"type": "subscribe", "id": f"s{n}", "channel": channel})
                assert reply["type"] == "ack", reply

            async def publish(ws: ClientConnection, name: str) -> None:
                for n in range(PUBLISHES):
                    frame = {
                        "type": "publish",
                        "id": f"{name}-{n}",
                        "channel": channel,
                        "data": {"from": name, "n": n},
                    }
                    reply = await request(ws, frame)
                    assert reply["type"] == "ack", reply

            # Two publishers per node, not subscribed (their replies are all they receive);
            # the subscribers' events queue up meanwhile and are read afterwards.
            await asyncio.gather(
                publish(pa1, "a1"), publish(pb1, "b1"), publish(pa2, "a2"), publish(pb2, "b2")
            )
            total = 4 * PUBLISHES
            seen = [await events(ws, channel, total) for ws in clients]
        orders = [[(e["data"]["from"], e["data"]["n"]) for e in got] for got in seen]
        assert orders[0] == orders[1] == orders[2] == orders[3]
        assert sorted(orders[0]) == sorted(
            (name, n) for name in ("a1", "a2", "b1", "b2") for n in range(PUBLISHES)
        )
        # Each publisher's own events keep the order it published them in.
        for name in ("a1", "a2", "b1", "b2"):
            assert [n for who, n in orders[0] if who == name] == list(range(PUBLISHES))
        # The nodes' publishes are interleaved in that order, not one node's after the other's.
        nodes_in_order = [who[0] for who, _ in orders[0]]
        assert nodes_in_order.count("a") == nodes_in_order.count("b") == 2 * PUBLISHES
        switches = sum(1 for x, y in itertools.pairwise(nodes_in_order) if x != y)
        assert switches > 1
        for got in seen:
            assert [e["seq"] for e in got] == list(range(got[0]["seq"], got[0]["seq"] + total))

    async def test_a_server_publish_on_one_node_reaches_subscribers_of_the_other(
        self, redis_url: str
    ) -> None:
        """[CLUSTER-2] the application's publish through node A reaches a session on node B."""
        async with cluster(redis_url) as (node_a, node_b), session(node_b) as (b1, _):
            reply = await request(b1, {"type": "subscribe", "id": "s", "channel": "system"})
            assert reply["type"] == "ack", reply
            await node_a.runtime.publish("system", {"level": "info", "text": "from node A"})
            [event] = await events(b1, "system", 1)
            assert event["data"]["text"] == "from node A"


class TestPlayQueue:
    async def test_commands_from_both_nodes_give_one_sequence_of_versions(
        self, redis_url: str
    ) -> None:
        """[CLUSTER-4] one order of commands for the cluster: every subscriber, on either node,
        sees the same states with versions strictly increasing by one."""
        commands = 8
        async with (
            cluster(redis_url) as (node_a, node_b),
            session(node_a) as (a1, _),
            session(node_b) as (b1, _),
            session(node_a) as (pa, _),
            session(node_b) as (pb, _),
        ):
            snapshots = []
            for ws in (a1, b1):
                reply = await request(ws, {"type": "subscribe", "id": "q", "channel": "playqueue"})
                assert reply["type"] == "ack", reply
                snapshots.append((await events(ws, "playqueue", 1))[0]["data"])
            assert snapshots[0] == snapshots[1]
            start = snapshots[0]["version"]

            async def add(ws: ClientConnection, name: str) -> None:
                for n in range(commands):
                    track = {"id": f"{name}{n}", "title": f"{name} {n}"}
                    frame = {
                        "type": "publish",
                        "id": f"{name}-{n}",
                        "channel": "playqueue",
                        "data": {"op": "add", "track": track},
                    }
                    reply = await request(ws, frame)
                    assert reply["type"] == "ack", reply

            await asyncio.gather(add(pa, "a"), add(pb, "b"))
            seen = [await events(ws, "playqueue", 2 * commands) for ws in (a1, b1)]
        states = [[e["data"] for e in got] for got in seen]
        assert states[0] == states[1]
        assert [s["version"] for s in states[0]] == list(range(start + 1, start + 1 + 2 * commands))
        final = [item["id"] for item in states[0][-1]["items"]]
        assert sorted(final) == sorted(f"{x}{n}" for x in "ab" for n in range(commands))
        # Each node's commands applied in the order it sent them.
        for name in "ab":
            mine = [i for i in final if i.startswith(name)]
            assert mine == [f"{name}{n}" for n in range(commands)]


class TestRedisUnreachable:
    async def test_a_publish_redis_did_not_store_is_not_acked_and_the_node_recovers(self) -> None:
        """Redis stopped: a publish is answered ``internal_error``, nothing is delivered, and its
        id is not remembered [OPS-7, OPS-17]; Redis back on the same port: the node reconnects
        by itself, the same id re-sent is acked and delivered once, after what came before."""
        channel = "conformance.down"
        with RedisServer() as redis_process:
            config = dataclasses.replace(make_config(), broker=redis_process.url)
            async with (
                running_server(config) as node,
                session(node) as (subscriber, _),
                session(node) as (publisher, _),
            ):
                reply = await request(
                    subscriber, {"type": "subscribe", "id": "s", "channel": channel}
                )
                assert reply["type"] == "ack", reply

                def publish(frame_id: str, n: int) -> dict[str, Any]:
                    data = {"n": n}
                    return {"type": "publish", "id": frame_id, "channel": channel, "data": data}

                assert (await request(publisher, publish("p1", 1)))["type"] == "ack"
                redis_process.stop()
                refused = await request(publisher, publish("p2", 2))
                assert refused["type"] == "error", refused
                assert refused["code"] == "internal_error", refused
                redis_process.start()
                assert (await request(publisher, publish("p2", 2)))["type"] == "ack"
                assert (await request(publisher, publish("p3", 3)))["type"] == "ack"
                got = await events(subscriber, channel, 3)
        assert [e["data"]["n"] for e in got] == [1, 2, 3]
        assert [e["seq"] for e in got] == [1, 2, 3]

    async def test_a_resume_the_node_cannot_look_up_is_closed_with_1013_not_refused(self) -> None:
        """[CLUSTER-6] Redis stopped: a hello resuming a stored session is not answered
        ``resumed: false`` (the session is still there) but closed with 1013; Redis back (AOF:
        nothing lost), the same resume succeeds, with the event published before."""
        channel = "conformance.down"
        with RedisServer(aof=True) as redis_process:
            config = dataclasses.replace(make_config(), broker=redis_process.url)
            async with running_server(config) as node:
                async with session(node) as (ws, welcome):
                    await subscribed(ws, channel)
                await stored_key(redis_process.url, f"canaux:session:{welcome['session']}")
                await node.runtime.publish(channel, {"n": 1})  # while detached
                resume = {"session": welcome["session"], "seq": 0}
                redis_process.stop()
                async with open_ws(node) as refused:
                    await send(refused, {"type": "hello", "version": 1, "resume": resume})
                    assert await close_code(refused) == 1013
                redis_process.start()
                # The first command on each pooled connection fails once after the restart
                # (1013 again): the client reconnects with backoff, as it would.
                for _ in range(3):
                    async with open_ws(node) as ws:
                        await send(ws, {"type": "hello", "version": 1, "resume": resume})
                        with contextlib.suppress(ConnectionClosed):
                            frame = await recv(ws)
                            assert frame["type"] == "welcome", frame
                            assert frame["resumed"] is True, frame
                            [event] = await events(ws, channel, 1)
                            assert (event["seq"], event["data"]) == (1, {"n": 1})
                            break
                        assert ws.close_code == 1013
                else:
                    raise AssertionError("never resumed after Redis came back")


class TestConformance:
    @pytest.mark.slow
    def test_the_suite_passes_one_node_on_redis(self, redis_url: str) -> None:
        """The whole suite (``--quick``) against ``canaux serve --broker redis://…``: every
        case passes or is skipped as not applicable, as on the memory broker."""
        server_args = [
            "--conformance",
            "--broker", redis_url,
            "--resume-window-ms", "5000",
            "--heartbeat-ms", "1000",
            "--hello-timeout-ms", "1500",
            "--log-level", "warning",
        ]  # fmt: skip
        result = asyncio.run(
            run(
                RunConfig(
                    server_args=server_args,
                    budget="quick",
                    seed=SEED,
                    timeout=5.0,
                )
            )
        )
        counts = result.counts()
        bad = [r for r in result.results if r.verdict in (Verdict.FAIL, Verdict.ERROR)]
        problems = "\n".join(
            f"{r.id}: {r.verdict} [{r.requirement}] {r.message[:600]}" for r in bad
        )
        assert counts[Verdict.FAIL] == 0, problems
        assert counts[Verdict.ERROR] == 0, problems
        assert result.exit_status == 0, result.verdict_text()
        # The events went through Redis (the stream holds them), not a memory broker.
        with redis.Redis.from_url(redis_url) as client:
            assert client.xlen("canaux:events") > 100


async def stored_key(url: str, key: str) -> None:
    """Return once Redis holds ``key`` (keyspace notifications: subscribed, then checked)."""
    async with redis.asyncio.Redis.from_url(url) as watcher:
        await watcher.config_set("notify-keyspace-events", "K$h")
        async with watcher.pubsub() as keyspace:
            await keyspace.subscribe(f"__keyspace@0__:{key}")
            async with asyncio.timeout(TIMEOUT):
                while not await watcher.exists(key):
                    await keyspace.get_message(timeout=TIMEOUT)


async def subscribed(ws: ClientConnection, channel: str) -> None:
    reply = await request(ws, {"type": "subscribe", "id": f"sub-{channel}", "channel": channel})
    assert reply["type"] == "ack", reply


def publish_frame(frame_id: str, channel: str, n: int) -> dict[str, Any]:
    return {"type": "publish", "id": frame_id, "channel": channel, "data": {"n": n}}


class TestSharedSessions:
    async def test_a_session_made_on_one_node_resumes_on_the_other_with_exactly_the_missed_events(
        self, redis_url: str
    ) -> None:
        """Resume on ANY node [CLUSTER-1, RESUME-2, RESUME-3, RESUME-11]: the events published
        while the session was detached (on either node) are replayed with their seq, then live
        events follow; a publish re-sent with an id node A acked is not applied again [OPS-9]."""
        channel = "conformance.shared"
        async with cluster(redis_url) as (node_a, node_b), session(node_b) as (publisher, _):
            async with session(node_a) as (ws_a, welcome_a):
                await subscribed(ws_a, channel)
                await send(ws_a, publish_frame("mine", channel, 0))
                frames = await recv_until(ws_a, lambda f: f.get("type") == "ack")
                ack = frames[-1]
                assert ack["id"] == "mine", ack
                seen = [f for f in frames if f.get("type") == "event"]
                for n in (1, 2):
                    assert (await request(publisher, publish_frame(f"p{n}", channel, n)))["type"]
                seen += await events(ws_a, channel, 3 - len(seen))
            assert [e["seq"] for e in seen] == [1, 2, 3]
            await node_a.runtime.registry.wait_until(lambda: len(node_a.runtime.registry) == 0)
            for n in (3, 4, 5):  # while detached: published on both nodes
                ws_pub = publisher if n % 2 else None
                if ws_pub is not None:
                    assert (await request(ws_pub, publish_frame(f"p{n}", channel, n)))["type"]
                else:
                    await node_a.runtime.publish(channel, {"n": n})
            resume = {"session": welcome_a["session"], "seq": 2}
            async with session(node_b, resume=resume) as (ws_b, welcome_b):
                assert welcome_b["resumed"] is True, welcome_b
                assert welcome_b["session"] == welcome_a["session"]
                assert welcome_b["seq"] == 6
                replay = await events(ws_b, channel, 4)
                assert [(e["seq"], e["data"]["n"]) for e in replay] == [
                    (3, 2), (4, 3), (5, 4), (6, 5)
                ]  # fmt: skip
                again = await request(ws_b, publish_frame("mine", channel, 0))
                assert again == ack  # the reply node A gave, not a second effect [OPS-9]
                assert (await request(publisher, publish_frame("p6", channel, 6)))["type"]
                [live] = await events(ws_b, channel, 1)
                assert (live["seq"], live["data"]["n"]) == (7, 6)

    async def test_a_refused_resume_on_another_node_leaves_the_session_resumable(
        self, redis_url: str
    ) -> None:
        """[RESUME-12] another identity's resume on node B gets a new session; the owner then
        resumes on node A."""
        channel = "conformance.shared"
        async with cluster(redis_url) as (node_a, node_b):
            async with session(node_a, token="alice") as (ws_a, welcome_a):
                await subscribed(ws_a, channel)
                await node_a.runtime.publish(channel, {"n": 1})
                await events(ws_a, channel, 1)
            await node_a.runtime.registry.wait_until(lambda: len(node_a.runtime.registry) == 0)
            resume = {"session": welcome_a["session"], "seq": 0}
            async with session(node_b, token="mallory", resume=resume) as (_, refused):
                assert refused["resumed"] is False
                assert refused["session"] != welcome_a["session"]
            async with session(node_a, token="alice", resume=resume) as (ws, welcome):
                assert welcome["resumed"] is True, welcome
                [event] = await events(ws, channel, 1)
                assert (event["seq"], event["data"]) == (1, {"n": 1})

    async def test_a_resume_on_node_b_of_a_session_attached_on_node_a_takes_it_over(
        self, redis_url: str
    ) -> None:
        """[RESUME-4] across nodes: node A closes its connection with 4411, node B resumes the
        session with the events A's connection had not shown the client."""
        channel = "conformance.shared"
        async with cluster(redis_url) as (node_a, node_b), session(node_a) as (ws_a, welcome_a):
            await subscribed(ws_a, channel)
            for n in (1, 2, 3):
                await node_b.runtime.publish(channel, {"n": n})
            [first] = await events(ws_a, channel, 1)  # the client saw seq 1 only
            resume = {"session": welcome_a["session"], "seq": first["seq"]}
            async with session(node_b, resume=resume) as (ws_b, welcome_b):
                assert welcome_b["resumed"] is True, welcome_b
                assert await close_code(ws_a) == 4411
                replay = await events(ws_b, channel, 2)
                assert [(e["seq"], e["data"]["n"]) for e in replay] == [(2, 2), (3, 3)]
                await node_a.runtime.publish(channel, {"n": 4})
                [live] = await events(ws_b, channel, 1)
                assert (live["seq"], live["data"]["n"]) == (4, 4)
            assert len(node_a.runtime.registry) == 0

    async def test_a_resume_waits_for_a_slow_node_that_still_holds_the_session(
        self, redis_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A reconnect storm's resume on node B of a session node A has not stored yet: B waits
        as long as A is alive and holds it (past the 3 s it used to give up after, answering
        ``resumed: false`` for a session that was not gone), then resumes it with the events
        it missed [CLUSTER-1, RESUME-2]."""
        gate = asyncio.Event()
        polls = 0
        real_save = RedisSessionStore.save
        real_state = RedisSessionStore.__init__

        async def held_save(self: RedisSessionStore, *args: Any, **kwargs: Any) -> None:
            await gate.wait()
            await real_save(self, *args, **kwargs)

        def counting(self: RedisSessionStore, broker: RedisBroker) -> None:
            real_state(self, broker)
            script = self._handover_state

            async def count(**kw: Any) -> Any:
                nonlocal polls
                polls += 1
                if polls * redis_sessions._HOLDER_POLL_S > 3.5:  # B waited past the old 3 s
                    gate.set()
                return await script(**kw)

            self._handover_state = count  # type: ignore[assignment]

        monkeypatch.setattr(RedisSessionStore, "save", held_save)
        monkeypatch.setattr(RedisSessionStore, "__init__", counting)
        channel = "conformance.slow"
        async with cluster(redis_url) as (node_a, node_b):
            async with session(node_a) as (ws_a, welcome_a):
                await subscribed(ws_a, channel)
                await node_b.runtime.publish(channel, {"n": 1})
                await events(ws_a, channel, 1)
            await node_b.runtime.publish(channel, {"n": 2})
            resume = {"session": welcome_a["session"], "seq": 1}
            async with open_ws(node_b) as ws_b:
                await send(ws_b, {"type": "hello", "version": 1, "resume": resume})
                welcome = await recv(ws_b, timeout_s=TIMEOUT + 5)
                assert gate.is_set()
                assert welcome["resumed"] is True, welcome
                [event] = await events(ws_b, channel, 1)
                assert (event["seq"], event["data"]) == (2, {"n": 2})

    async def test_the_bound_on_detached_sessions_in_all_holds_for_the_deployment(
        self, redis_url: str
    ) -> None:
        """[LIMIT-13] ``max_detached_total`` counts the detached sessions of every node: past
        it, the one detached longest ago goes, whichever node and identity it had (its resume
        gets ``resumed: false``, never a gap); the newer ones stay resumable on any node."""
        config = dataclasses.replace(
            make_config(max_detached_sessions=2, max_detached_total=3), broker=redis_url
        )
        async with contextlib.AsyncExitStack() as stack:
            node_a = await stack.enter_async_context(running_server(config))
            node_b = await stack.enter_async_context(running_server(config))
            made = []
            for n in range(4):  # one identity each: LIMIT-12 is not what discards
                node = (node_a, node_b)[n % 2]
                async with session(node, token=f"t{n}") as (_, welcome):
                    made.append((f"t{n}", welcome["session"]))
                await stored_key(redis_url, f"canaux:session:{welcome['session']}")
            # Newest first: each session resumed is detached again when its connection ends
            # (the newest then), and the refused resume's new session too.
            for n, (token, session_id) in reversed(list(enumerate(made))):
                node = (node_b, node_a)[n % 2]  # on the other node
                resume = {"session": session_id, "seq": 0}
                async with session(node, token=token, resume=resume) as (_, welcome):
                    assert welcome["resumed"] is (n > 0), (n, welcome)

    async def test_a_chat_reply_still_streaming_follows_its_session_to_the_other_node(
        self, redis_url: str
    ) -> None:
        """A takeover on node B while node A streams a chat reply to the session: A closes its
        connection with 4411 and hands the session over; the rest of the reply (its chunks
        and its ``done``) reaches the client on B, seqs running on [RESUME-4, CHAT-1,
        CHAT-2]."""
        agent = GatedAgent()
        config = dataclasses.replace(make_config(), broker=redis_url, agent=agent)
        async with (
            running_server(config) as node_a,
            running_server(config) as node_b,
            session(node_a) as (ws_a, welcome_a),
        ):
            message = {"type": "message", "text": "hi"}
            reply = await request(ws_a, {"type": "publish", "id": "c1", "channel": "chat",
                                         "data": message})  # fmt: skip
            assert reply["type"] == "ack", reply
            agent.words.put_nowait("one ")
            [first] = await events(ws_a, "chat", 1)
            assert (first["data"]["type"], first["data"]["index"]) == ("chunk", 0)
            resume = {"session": welcome_a["session"], "seq": first["seq"]}
            async with session(node_b, resume=resume) as (ws_b, welcome_b):
                assert welcome_b["resumed"] is True, welcome_b
                assert await close_code(ws_a) == 4411
                agent.words.put_nowait("two")
                agent.words.put_nowait(None)
                rest = await events(ws_b, "chat", 2)
            assert [(e["seq"], e["data"]["type"], e["data"].get("index")) for e in rest] == [
                (first["seq"] + 1, "chunk", 1),
                (first["seq"] + 2, "done", None),
            ]
            assert rest[1]["data"]["chunks"] == 2

    async def test_a_publish_under_way_when_its_connection_drops_still_takes_effect(
        self, redis_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The connection drops while its publish waits for Redis: the publish still takes
        effect and is answered (the reply remembered), so a resume re-sending it gets the
        ``ack`` of a publish that did happen, exactly once [OPS-7, OPS-9]; and the session,
        no longer busy, can move to the other node."""
        gate = asyncio.Event()
        started = asyncio.Event()
        real_publish = RedisBroker.publish

        async def held(self: RedisBroker, channel: str, data: Any) -> int:
            if channel == "conformance.held":
                started.set()
                await gate.wait()
            return await real_publish(self, channel, data)

        monkeypatch.setattr(RedisBroker, "publish", held)
        channel = "conformance.held"
        async with cluster(redis_url) as (node_a, node_b):
            registry = node_a.runtime.registry
            async with session(node_a) as (ws_a, welcome_a):
                await subscribed(ws_a, channel)
                await send(ws_a, publish_frame("p1", channel, 1))
                async with asyncio.timeout(TIMEOUT):
                    await started.wait()
            sid = welcome_a["session"]
            gate.set()
            # Answered, then stored in Redis as any detached session.
            await registry.wait_until(lambda: registry.get(sid) is None)
            resume = {"session": sid, "seq": 0}
            async with session(node_b, resume=resume) as (ws_b, welcome_b):
                assert welcome_b["resumed"] is True, welcome_b
                [event] = await events(ws_b, channel, 1)
                assert (event["seq"], event["data"]) == (1, {"n": 1})
                again = await request(ws_b, publish_frame("p1", channel, 1))
                assert (again["type"], again["id"]) == ("ack", "p1"), again
                await node_b.runtime.publish(channel, {"n": 2})
                [after] = await events(ws_b, channel, 1)
                assert (after["seq"], after["data"]) == (2, {"n": 2})  # p1 not applied twice

    async def test_a_takeover_while_a_publish_is_under_way_waits_for_its_answer(
        self, redis_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A resume on node B of a session attached on node A while A's publish for it waits
        for Redis: A answers the publish, then closes its connection with 4411 and hands the
        session over; B resumes it with the event, and the publish re-sent there gets its
        ``ack`` without being applied again [RESUME-4, OPS-9]."""
        gate = asyncio.Event()
        started = asyncio.Event()
        real_publish = RedisBroker.publish

        async def held(self: RedisBroker, channel: str, data: Any) -> int:
            if channel == "conformance.held":
                started.set()
                await gate.wait()
            return await real_publish(self, channel, data)

        monkeypatch.setattr(RedisBroker, "publish", held)
        channel = "conformance.held"
        async with cluster(redis_url) as (node_a, node_b), session(node_a) as (ws_a, welcome_a):
            await subscribed(ws_a, channel)
            await send(ws_a, publish_frame("p1", channel, 1))
            async with asyncio.timeout(TIMEOUT):
                await started.wait()
            resume = {"session": welcome_a["session"], "seq": 0}
            async with open_ws(node_b) as ws_b:
                await send(ws_b, {"type": "hello", "version": 1, "resume": resume})
                with contextlib.suppress(TimeoutError):
                    early = await recv(ws_b, timeout_s=0.5)  # B waits for A meanwhile
                    raise AssertionError(f"answered before A's publish was: {early}")
                gate.set()
                welcome_b = await recv(ws_b)
                assert welcome_b["type"] == "welcome", welcome_b
                assert welcome_b["resumed"] is True, welcome_b
                assert await close_code(ws_a) == 4411
                [event] = await events(ws_b, channel, 1)
                assert (event["seq"], event["data"]) == (1, {"n": 1})
                again = await request(ws_b, publish_frame("p1", channel, 1))
                assert (again["type"], again["id"]) == ("ack", "p1"), again
                await node_b.runtime.publish(channel, {"n": 2})
                [after] = await events(ws_b, channel, 1)
                assert (after["seq"], after["data"]) == (2, {"n": 2})

    async def test_a_resume_of_an_unknown_session_asks_no_node_for_it(
        self, redis_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """[RESUME-2] a guessed id: a new session, without a hand-over request to wait for."""

        requests: list[tuple[object, ...]] = []

        async def record(*args: object) -> None:
            requests.append(args)

        monkeypatch.setattr(RedisSessionStore, "request_handover", record)
        async with cluster(redis_url) as (node_a, node_b):
            resume = {"session": "A" * 24, "seq": 0}
            async with session(node_b, resume=resume) as (_, welcome):
                assert welcome["resumed"] is False
            # The same path does ask when a node holds the session (so the check can fail).
            # (Node A records that it holds it when it attaches, long before B is asked.)
            async with (
                session(node_a) as (_, held),
                session(node_b, resume={"session": held["session"], "seq": 0}),
            ):
                pass
        assert [args[1:3] for args in requests] == [(held["session"], requests[0][2])]


async def sse_events(sse: SSEReader, count: int) -> list[tuple[str, int, Any]]:
    """The next ``count`` events of a stream: (id, seq, data)."""
    got = []
    for _ in range(count):
        message = await sse.next_message()
        frame = json.loads(message["data"])
        assert frame["type"] == "event", message
        got.append((message["id"], frame["seq"], frame["data"]))
    return got


async def sse_welcome(sse: SSEReader) -> dict[str, Any]:
    message = await sse.next_message()
    assert message["event"] == "welcome", message
    welcome: dict[str, Any] = json.loads(message["data"])
    return welcome


class TestSharedSSESessions:
    """SSE sessions are shared like WebSocket ones [CLUSTER-1, SSE-2, SSE-13]."""

    async def test_a_stream_resumes_on_the_other_node_with_exactly_the_missed_events(
        self, redis_url: str
    ) -> None:
        """[SSE-2, RESUME-2, RESUME-3] a stream made on node A, ended, resumes on node B with
        ``Last-Event-ID``: the events published meanwhile on both nodes, then live ones."""
        channel = "conformance.sse"
        async with cluster(redis_url) as (node_a, node_b):
            async with stream(node_a, f"channels={channel}") as sse:
                welcome_a = await sse_welcome(sse)
                await node_b.runtime.publish(channel, {"n": 1})
                [(last_id, seq, _)] = await sse_events(sse, 1)
            sid = welcome_a["session"]
            assert (last_id, seq) == (f"{sid}:1", 1)
            registry = node_a.runtime.registry
            await registry.wait_until(lambda: len(registry) == 0)  # stored in Redis
            await node_a.runtime.publish(channel, {"n": 2})
            await node_b.runtime.publish(channel, {"n": 3})
            headers = {"Last-Event-ID": last_id}
            async with stream(node_b, f"channels={channel}", headers) as sse:
                welcome_b = await sse_welcome(sse)
                assert (welcome_b["resumed"], welcome_b["session"]) == (True, sid), welcome_b
                assert welcome_b["seq"] == 3
                replay = await sse_events(sse, 2)
                assert replay == [(f"{sid}:2", 2, {"n": 2}), (f"{sid}:3", 3, {"n": 3})]
                await node_a.runtime.publish(channel, {"n": 4})
                assert await sse_events(sse, 1) == [(f"{sid}:4", 4, {"n": 4})]
            # [SSE-9] another channel set, or [SSE-10] a WebSocket, does not resume it.
            async with stream(node_a, "channels=system", {"Last-Event-ID": last_id}) as sse:
                assert (await sse_welcome(sse))["resumed"] is False
            resume = {"session": sid, "seq": 1}
            async with session(node_a, resume=resume) as (_, welcome):
                assert welcome["resumed"] is False

    async def test_a_resume_on_node_b_ends_the_stream_attached_on_node_a(
        self, redis_url: str
    ) -> None:
        """[SSE-13] across nodes: node A ends its response; node B replays what the client had
        not received there, and A's stream carries nothing after B's welcome."""
        channel = "conformance.sse"
        async with (
            cluster(redis_url) as (node_a, node_b),
            stream(node_a, f"channels={channel}") as old,
        ):
            sid = (await sse_welcome(old))["session"]
            for n in (1, 2, 3):
                await node_b.runtime.publish(channel, {"n": n})
            [(first_id, _, _)] = await sse_events(old, 1)
            async with stream(node_b, f"channels={channel}", {"Last-Event-ID": first_id}) as sse:
                welcome = await sse_welcome(sse)
                assert (welcome["resumed"], welcome["session"]) == (True, sid), welcome
                replay = await sse_events(sse, 2)
                assert [seq for _, seq, _ in replay] == [2, 3]
                await node_a.runtime.publish(channel, {"n": 4})
                assert [seq for _, seq, _ in await sse_events(sse, 1)] == [4]
                rest = []
                with contextlib.suppress(EOFError):
                    while True:
                        rest.append(await old.next_message())
                seqs = [json.loads(m["data"])["seq"] for m in rest]
                assert 4 not in seqs, rest  # ended, at most with events from before
            assert len(node_a.runtime.registry) == 0

    async def test_a_stream_of_a_killed_node_resumes_on_the_other(self, redis_url: str) -> None:
        """SIGKILL the node carrying a stream: it resumes on the other node with every event
        published since (rebuilt from its checkpoint and the stream, spec "Clusters")."""
        channel = "conformance.sse"
        async with (
            cluster(redis_url, nodes=1) as (node_b,),
            node_process(redis_url) as (url_a, process_a),
        ):
            node_a = dataclasses.replace(node_b, port=int(url_a.rsplit(":", 1)[1].split("/")[0]))
            async with stream(node_a, f"channels={channel}") as sse:
                sid = (await sse_welcome(sse))["session"]
                await node_b.runtime.publish(channel, {"n": 1})
                [(last_id, _, _)] = await sse_events(sse, 1)
                process_a.kill()
                await process_a.wait()
            await node_b.runtime.publish(channel, {"n": 2})
            await node_b.runtime.publish(channel, {"n": 3})
            async with stream(node_b, f"channels={channel}", {"Last-Event-ID": last_id}) as sse:
                welcome = await sse_welcome(sse)
                assert (welcome["resumed"], welcome["session"]) == (True, sid), welcome
                replay = await sse_events(sse, 2)
                assert replay == [(f"{sid}:2", 2, {"n": 2}), (f"{sid}:3", 3, {"n": 3})]

    async def test_a_resume_with_redis_unreachable_is_refused_for_now(self, redis_url: str) -> None:
        """[CLUSTER-6] over SSE: not a new session, but 503 ``internal_error`` (an error
        before the stream starts [SSE-15]) with ``Retry-After``."""
        channel = "conformance.sse"
        with RedisServer() as redis_process:
            async with cluster(redis_process.url, nodes=1) as (node,):
                async with stream(node, f"channels={channel}") as sse:
                    sid = (await sse_welcome(sse))["session"]
                await stored_key(redis_process.url, f"canaux:session:{sid}")
                redis_process.stop()
                async with httpx.AsyncClient(timeout=TIMEOUT) as client:
                    response = await client.get(
                        f"{node.events_url}?channels={channel}",
                        headers={"Last-Event-ID": f"{sid}:0"},
                    )
                assert response.status_code == 503, response.text
                assert response.json()["code"] == "internal_error"
                assert response.headers["retry-after"] == "1"


class GatedAgent:
    """A chat agent whose words the test hands it one at a time (``None`` ends the answer)."""

    def __init__(self) -> None:
        self.words: asyncio.Queue[str | None] = asyncio.Queue()

    async def reply(self, text: str, conversation: str | None) -> AsyncIterator[str]:
        while (word := await self.words.get()) is not None:
            yield word


class TestRedisRestart:
    async def test_after_a_restart_without_persistence_attached_sessions_go_on_shared(
        self,
    ) -> None:
        """[CLUSTER-7] Redis comes back empty (a new epoch): a session still attached keeps its
        connection and gets the events published since with its seq running on; its node
        checkpoints it again, so when that node is then killed it still resumes on the other
        one; a session that waited in Redis is gone: ``resumed: false``."""
        channel = "conformance.epoch"
        with RedisServer() as redis_process:
            async with (
                cluster(redis_process.url, nodes=1) as (node_b,),
                node_process(redis_process.url) as (url_a, process_a),
            ):
                node_a = dataclasses.replace(
                    node_b, port=int(url_a.rsplit(":", 1)[1].split("/")[0])
                )
                async with session(node_a) as (waits, welcome_waits):
                    await subscribed(waits, channel)
                await node_b.runtime.publish(channel, {"n": 0})
                async with session(node_a) as (stays, welcome_stays):
                    await subscribed(stays, channel)
                    await node_b.runtime.publish(channel, {"n": 1})
                    [first] = await events(stays, channel, 1)
                    assert first["seq"] == 1
                    redis_process.restart()
                    for attempt in range(3):  # the first command on a pooled connection
                        try:  # fails once after the restart
                            await node_b.runtime.publish(channel, {"n": 2})
                            break
                        except RedisError:
                            assert attempt < 2
                    [second] = await events(stays, channel, 1)
                    assert (second["seq"], second["data"]) == (2, {"n": 2})
                    # Node A checkpoints it again in the new epoch.
                    await stored_key(redis_process.url, f"canaux:live:{welcome_stays['session']}")
                    process_a.kill()
                    await process_a.wait()
                    assert await close_code(stays) == 1006
                await node_b.runtime.publish(channel, {"n": 3})
                resume = {"session": welcome_stays["session"], "seq": 2}
                async with session(node_b, resume=resume) as (ws, welcome):
                    assert welcome["resumed"] is True, welcome
                    [event] = await events(ws, channel, 1)
                    assert (event["seq"], event["data"]) == (3, {"n": 3})
                resume = {"session": welcome_waits["session"], "seq": 0}
                async with session(node_b, resume=resume) as (_, welcome):
                    assert welcome["resumed"] is False, welcome
                    assert welcome["session"] != welcome_waits["session"]

    @pytest.mark.parametrize("aof", [True, False], ids=["aof", "no-persistence"])
    async def test_a_detached_session_after_a_redis_restart(self, aof: bool) -> None:
        """Redis restarted while a session waits: with AOF the session and the stream come
        back and it resumes on the other node with every missed event; without persistence
        they are gone and the resume is answered ``resumed: false`` with a new session, never
        a gap [RESUME-2]."""
        channel = "conformance.restart"
        with RedisServer(aof=aof) as redis_process:
            async with cluster(redis_process.url) as (node_a, node_b):
                async with session(node_a) as (ws_a, welcome_a):
                    await subscribed(ws_a, channel)
                    await node_a.runtime.publish(channel, {"n": 1})
                    await events(ws_a, channel, 1)
                registry = node_a.runtime.registry
                await registry.wait_until(lambda: len(registry) == 0)
                await node_a.runtime.publish(channel, {"n": 2})  # while detached
                redis_process.restart()
                # The first command on each pooled connection fails after a restart: an app's
                # publish is refused then (nothing stored), and is retried.
                for attempt in range(3):
                    try:
                        await node_b.runtime.publish(channel, {"n": 3})
                        break
                    except RedisError:
                        assert attempt < 2
                # (and the resume below fetches the session on connections that failed too)
                resume = {"session": welcome_a["session"], "seq": 1}
                async with session(node_b, resume=resume) as (ws_b, welcome_b):
                    if not aof:
                        assert welcome_b["resumed"] is False
                        assert welcome_b["session"] != welcome_a["session"]
                        assert welcome_b["seq"] == 0
                        return
                    assert welcome_b["resumed"] is True, welcome_b
                    replay = await events(ws_b, channel, 2)
                    assert [(e["seq"], e["data"]["n"]) for e in replay] == [(2, 2), (3, 3)]


@contextlib.asynccontextmanager
async def node_process(url: str) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """``canaux serve --broker URL`` as a subprocess (so it can be killed): its /ws URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "canaux", "serve", "--conformance", "--port", "0",
        "--broker", url, "--log-level", "warning",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        async with asyncio.timeout(90):  # a Python start on a loaded machine
            while not (found := LISTENING_RE.search((await process.stdout.readline()).decode())):
                assert process.returncode is None
        yield found.group("url"), process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


class TestNodeKilled:
    async def test_sessions_of_a_killed_node(self, redis_url: str) -> None:
        """SIGKILL a node: a session that had detached from it resumes on the other node with
        every event published since [RESUME-2, RESUME-3], and so does one still attached to it
        when it died (rebuilt from its checkpoint and the stream, spec "Clusters")."""
        channel = "conformance.killed"
        async with (
            cluster(redis_url, nodes=1) as (node_b,),
            node_process(redis_url) as (url_a, process_a),
            redis.asyncio.Redis.from_url(redis_url) as watcher,
        ):
            node_a = dataclasses.replace(node_b, port=int(url_a.rsplit(":", 1)[1].split("/")[0]))
            await watcher.config_set("notify-keyspace-events", "K$")
            async with (
                session(node_a) as (gone, welcome_gone),
                watcher.pubsub() as keyspace,
            ):
                await keyspace.subscribe(f"__keyspace@0__:canaux:session:{welcome_gone['session']}")
                async with session(node_a) as (stays, welcome_stays):
                    for ws in (gone, stays):
                        await subscribed(ws, channel)
                    await node_b.runtime.publish(channel, {"n": 1})
                    for ws in (gone, stays):
                        await events(ws, channel, 1)
                    await gone.close()  # detached: node A stores the session
                    async with asyncio.timeout(TIMEOUT):  # until Redis says it is stored
                        while True:
                            message = await keyspace.get_message(
                                ignore_subscribe_messages=True, timeout=TIMEOUT
                            )
                            if message is not None and message["data"] == b"set":
                                break
                    process_a.kill()
                    await process_a.wait()
                    assert await close_code(stays) == 1006
            await node_b.runtime.publish(channel, {"n": 2})
            await node_b.runtime.publish(channel, {"n": 3})
            resume = {"session": welcome_gone["session"], "seq": 1}
            async with session(node_b, resume=resume) as (ws, welcome):
                assert welcome["resumed"] is True, welcome
                replay = await events(ws, channel, 2)
                assert [(e["seq"], e["data"]["n"]) for e in replay] == [(2, 2), (3, 3)]
            resume = {"session": welcome_stays["session"], "seq": 1}
            async with session(node_b, resume=resume) as (ws, welcome):
                assert welcome["resumed"] is True, welcome
                replay = await events(ws, channel, 2)
                assert [(e["seq"], e["data"]["n"]) for e in replay] == [(2, 2), (3, 3)]

    async def test_a_node_killed_mid_stream_loses_no_session(self, redis_url: str) -> None:
        """SIGKILL a node while both nodes publish and subscribers on both read: every client
        of the dead node resumes on the other one (``resumed: true``) [CLUSTER-1, RESUME-2];
        every subscriber, on either node, gets every event once, in one order, with seqs
        that run on without a gap across the crash [RESUME-3, DELIVERY-1, CLUSTER-3]; a
        publish whose ack the crash swallowed, re-sent with its id, is applied once [OPS-9];
        the play queue's snapshot (an event for one session only) keeps its seq."""
        channel = "conformance.crash"
        total = 30  # per publisher
        async with (
            cluster(redis_url, nodes=1) as (node_b,),
            node_process(redis_url) as (url_a, process_a),
        ):
            node_a = dataclasses.replace(node_b, port=int(url_a.rsplit(":", 1)[1].split("/")[0]))
            readers: dict[str, Reader] = {}
            async with contextlib.AsyncExitStack() as stack:
                clients: dict[str, tuple[ClientConnection, dict[str, Any]]] = {}
                for name, node in (("a1", node_a), ("a2", node_a), ("pa", node_a)):
                    clients[name] = await stack.enter_async_context(session(node))
                for name in ("b1", "pb"):
                    clients[name] = await stack.enter_async_context(session(node_b))
                for name in ("a1", "a2", "b1"):
                    await subscribed(clients[name][0], channel)
                # An event for a1 only, through the stream: the play queue's snapshot.
                await subscribed(clients["a1"][0], "playqueue")
                [snapshot] = await events(clients["a1"][0], "playqueue", 1)
                assert snapshot["seq"] == 1
                for name in ("a1", "a2", "b1"):
                    readers[name] = Reader(clients[name][0], first_seq=1 if name != "a1" else 2)
                    readers[name].start()
                halfway = asyncio.Event()
                publishers = {
                    "pa": Publisher(clients["pa"][0], channel, "pa", total, halfway),
                    "pb": Publisher(clients["pb"][0], channel, "pb", total, None),
                }
                tasks = [asyncio.create_task(p.run()) for p in publishers.values()]
                async with asyncio.timeout(TIMEOUT):
                    await halfway.wait()
                process_a.kill()  # mid-stream: pa and pb are publishing, a1/a2/b1 reading
                await process_a.wait()
                await asyncio.gather(*tasks)
                assert publishers["pa"].next < total, "the crash came too late to matter"
                # Every client of node A comes back on node B, resuming.
                for name in ("a1", "a2", "pa"):
                    old = clients[name][1]
                    seq = readers[name].last_seq if name in readers else 0
                    resume = {"session": old["session"], "seq": seq}
                    ws, welcome = await stack.enter_async_context(session(node_b, resume=resume))
                    assert welcome["resumed"] is True, (name, welcome)
                    assert welcome["session"] == old["session"]
                    if name in readers:
                        readers[name].follow(ws)
                    else:
                        publishers[name].ws = ws
                # pa sends again what had no ack (same id), then the rest.
                await publishers["pa"].run()
                for reader in readers.values():
                    await reader.wait_for(2 * total)
                    await reader.stop()
        orders = {name: reader.order for name, reader in readers.items()}
        expected = sorted((who, n) for who in ("pa", "pb") for n in range(total))
        for name, order in orders.items():
            assert sorted(order) == expected, name  # each once: nothing lost, nothing twice
            for who in ("pa", "pb"):
                assert [n for w, n in order if w == who] == list(range(total)), (name, who)
        assert orders["a1"] == orders["a2"] == orders["b1"]  # one order [CLUSTER-3]


class Reader:
    """Collects one subscriber's events across its connections; checks seq continuity."""

    def __init__(self, ws: ClientConnection, *, first_seq: int) -> None:
        self.ws = ws
        self.order: list[tuple[str, int]] = []
        self.last_seq = first_seq - 1
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._read(self.ws))

    def follow(self, ws: ClientConnection) -> None:
        """Read the connection the subscriber resumed on (the old one has ended)."""
        assert self._task is not None
        assert self._task.done()
        self.ws = ws
        self.start()

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for text in ws:
                frame = json.loads(text)
                if frame.get("type") == "ping":
                    await send(ws, {"type": "pong", "nonce": frame.get("nonce")})
                    continue
                if frame.get("type") != "event":
                    continue
                # [DELIVERY-1, RESUME-3] no gap, no repeat, across the crash.
                assert frame["seq"] == self.last_seq + 1, (frame, self.last_seq)
                self.last_seq = frame["seq"]
                data = frame["data"]
                self.order.append((data["from"], data["n"]))
                self._changed.set()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(TIMEOUT):
            while len(self.order) < count:
                assert self._task is not None
                if self._task.done():
                    self._task.result()  # its assertion, if it failed
                    raise AssertionError(f"the connection ended after {len(self.order)} events")
                self._changed.clear()
                changed = asyncio.ensure_future(self._changed.wait())
                await asyncio.wait({changed, self._task}, return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class Publisher:
    """Publishes ``from``/``n`` events 0…total-1 one request at a time; survives a crash."""

    def __init__(
        self,
        ws: ClientConnection,
        channel: str,
        name: str,
        total: int,
        halfway: asyncio.Event | None,
    ) -> None:
        self.ws, self.channel, self.name, self.total = ws, channel, name, total
        self.halfway = halfway
        self.next = 0
        """The next n to publish; the one in flight when the connection ended is sent again."""

    async def run(self) -> None:
        while self.next < self.total:
            frame = {
                "type": "publish",
                "id": f"{self.name}-{self.next}",
                "channel": self.channel,
                "data": {"from": self.name, "n": self.next},
            }
            try:
                reply = await request(self.ws, frame)
            except ConnectionClosed:
                return  # its node is gone: run() again on the new connection
            assert reply["type"] == "ack", reply
            self.next += 1
            if self.halfway is not None and self.next == self.total // 3:
                self.halfway.set()

    async def test_a_node_stopped_gracefully_hands_its_sessions_to_the_others(
        self, redis_url: str
    ) -> None:
        """SIGTERM (a rolling restart): the node closes its connections with 1001 and stores
        their sessions before it exits, so each resumes on the other node [RESUME-2]."""
        channel = "conformance.stopped"
        async with cluster(redis_url, nodes=1) as (node_b,), node_process(redis_url) as (url, a):
            node_a = dataclasses.replace(node_b, port=int(url.rsplit(":", 1)[1].split("/")[0]))
            async with session(node_a) as (ws, welcome_a):
                await subscribed(ws, channel)
                await node_b.runtime.publish(channel, {"n": 1})
                await events(ws, channel, 1)
                a.terminate()
                assert await close_code(ws) == 1001
            assert await a.wait() == 0
            await node_b.runtime.publish(channel, {"n": 2})
            resume = {"session": welcome_a["session"], "seq": 1}
            async with session(node_b, resume=resume) as (ws_b, welcome):
                assert welcome["resumed"] is True, welcome
                [replayed] = await events(ws_b, channel, 1)
                assert (replayed["seq"], replayed["data"]["n"]) == (2, 2)
