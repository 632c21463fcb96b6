"""The Redis broker against a real redis-server (spec "Clusters", DELIVERY-3/4, QUEUE-2, OPS-6).

Each test has an empty database (the ``redis_url`` fixture); two :class:`RedisBroker` on one
URL stand for two server processes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from canaux.server.broker import BrokerMessage, MemoryBroker, StateChange, open_broker
from canaux.server.config import ServerConfig
from canaux.server.redis_broker import POOL_CONNECTIONS, RedisBroker

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0


class Inbox:
    """What one process's hub receives."""

    def __init__(self) -> None:
        self.messages: list[BrokerMessage] = []
        self._changed = asyncio.Event()

    def __call__(self, message: BrokerMessage) -> None:
        self.messages.append(message)
        self._changed.set()

    def of(self, channel: str) -> list[Any]:
        return [m.data for m in self.messages if m.channel == channel]

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(TIMEOUT):
            while len(self.messages) < count:
                self._changed.clear()
                await self._changed.wait()


@contextlib.asynccontextmanager
async def brokers(url: str, count: int) -> AsyncIterator[list[tuple[RedisBroker, Inbox]]]:
    made: list[tuple[RedisBroker, Inbox]] = []
    try:
        for _ in range(count):
            broker, inbox = RedisBroker(url), Inbox()
            broker.attach(inbox)
            made.append((broker, inbox))
        yield made
    finally:
        for broker, _ in made:
            await broker.aclose()


class TestOneOrderPerChannel:
    async def test_interleaved_publishes_on_two_processes_reach_both_in_one_order(
        self, redis_url: str
    ) -> None:
        """[DELIVERY-4] across processes: both see each channel in the same order, the order of
        the positions the publishes returned."""
        async with brokers(redis_url, 2) as [(a, inbox_a), (b, inbox_b)]:
            for broker in (a, b):
                await broker.subscribe("conformance.x")
                await broker.subscribe("conformance.y")

            async def burst(broker: RedisBroker, name: str) -> list[tuple[str, int]]:
                placed = []
                for n in range(40):
                    channel = "conformance.x" if n % 3 else "conformance.y"
                    placed.append((channel, await broker.publish(channel, {"n": f"{name}{n}"})))
                return placed

            placed_a, placed_b = await asyncio.gather(burst(a, "a"), burst(b, "b"))
            await inbox_a.wait_for(80)
            await inbox_b.wait_for(80)
            assert inbox_a.of("conformance.x") == inbox_b.of("conformance.x")
            assert inbox_a.of("conformance.y") == inbox_b.of("conformance.y")
            for inbox in (inbox_a, inbox_b):
                for channel in ("conformance.x", "conformance.y"):
                    positions = [m.position for m in inbox.messages if m.channel == channel]
                    assert positions == list(range(1, len(positions) + 1))
            # Both processes' publishes are interleaved, not one burst after the other.
            senders = [d["n"][0] for d in inbox_a.of("conformance.x")]
            assert set(senders) == {"a", "b"}
            returned = {channel for channel, _ in placed_a + placed_b}
            assert returned == {"conformance.x", "conformance.y"}
            by_position = {(m.channel, m.position): m.data["n"] for m in inbox_a.messages}
            for name, placed in (("a", placed_a), ("b", placed_b)):
                for n, (channel, position) in enumerate(placed):
                    assert by_position[(channel, position)] == f"{name}{n}"

    async def test_the_encoded_data_is_the_compact_json_of_the_data(self, redis_url: str) -> None:
        async with brokers(redis_url, 1) as [(broker, inbox)]:
            await broker.subscribe("conformance.x")
            await broker.publish("conformance.x", {"é": [1, 2.5, None, True]})
            await inbox.wait_for(1)
            [message] = inbox.messages
            assert message.data == {"é": [1, 2.5, None, True]}
            assert message.encoded == '{"é":[1,2.5,null,true]}'


class TestSubscriptions:
    async def test_publish_returns_after_local_delivery(self, redis_url: str) -> None:
        """As the memory broker: when ``publish`` returns, this process's hub has the event
        (so the publisher's own event precedes its ack) [OPS-7]."""
        async with brokers(redis_url, 1) as [(broker, inbox)]:
            await broker.subscribe("conformance.x")
            for n in range(5):
                await broker.publish("conformance.x", n)
                assert inbox.of("conformance.x") == list(range(n + 1))

    async def test_events_published_before_a_subscribe_never_arrive_after_it(
        self, redis_url: str
    ) -> None:
        """[OPS-6] a subscribe returns once every earlier event is behind the reader, even those
        another process published and this one has not read yet."""
        async with brokers(redis_url, 2) as [(a, inbox_a), (b, _)]:
            await a.subscribe("conformance.other")  # a's reader runs
            for n in range(30):
                await b.publish("conformance.x", {"before": n})
            await a.subscribe("conformance.x")
            seen_at_subscribe = len(inbox_a.of("conformance.x"))
            await b.publish("conformance.x", {"after": 1})
            await inbox_a.wait_for(1)
            assert seen_at_subscribe == 0
            assert inbox_a.of("conformance.x") == [{"after": 1}]

    async def test_unsubscribed_channels_are_not_delivered(self, redis_url: str) -> None:
        async with brokers(redis_url, 2) as [(a, inbox_a), (b, _)]:
            await a.subscribe("conformance.x")
            await a.subscribe("conformance.y")
            await a.unsubscribe("conformance.x")
            await b.publish("conformance.x", 1)
            await b.publish("conformance.y", 2)
            await inbox_a.wait_for(1)
            assert [(m.channel, m.data) for m in inbox_a.messages] == [("conformance.y", 2)]

    async def test_a_process_that_serves_no_channel_publishes_without_waiting(
        self, redis_url: str
    ) -> None:
        async with brokers(redis_url, 2) as [(a, inbox_a), (b, inbox_b)]:
            await a.subscribe("conformance.x")
            assert await b.publish("conformance.x", 1) == 1
            assert await b.publish("conformance.x", 2) == 2
            await inbox_a.wait_for(2)
            assert inbox_a.of("conformance.x") == [1, 2]
            assert inbox_b.messages == []

    async def test_more_commands_at_once_than_pooled_connections_all_succeed(
        self, redis_url: str
    ) -> None:
        """A node with more clients at once than its Redis pool has connections: they wait for
        one (redis-py's default pool refused them: ``internal_error`` to the clients)."""
        count = 3 * POOL_CONNECTIONS
        async with brokers(redis_url, 1) as [(broker, inbox)]:
            await broker.subscribe("conformance.x")
            async with asyncio.timeout(60):
                positions = await asyncio.gather(
                    *(broker.publish("conformance.x", n) for n in range(count))
                )
            assert sorted(positions) == list(range(1, count + 1))
            assert sorted(inbox.of("conformance.x")) == list(range(count))


class TestState:
    async def test_concurrent_updates_from_two_processes_apply_each_once_in_one_order(
        self, redis_url: str
    ) -> None:
        """[QUEUE-2] optimistic updates: every change applies to the version it read; the
        events are the versions in order, for every process."""
        async with brokers(redis_url, 2) as [(a, inbox_a), (b, inbox_b)]:
            await a.subscribe("counter")
            await b.subscribe("counter")

            def bump(current: Any) -> StateChange:
                version = 0 if current is None else current["version"]
                state = {"version": version + 1}
                return StateChange(state=state, event=state)

            async def bumps(broker: RedisBroker) -> None:
                for _ in range(15):
                    await broker.update_state("counter", "counter", bump)

            await asyncio.gather(bumps(a), bumps(b), bumps(a), bumps(b))
            assert await a.get_state("counter") == {"version": 60}
            await inbox_a.wait_for(60)
            await inbox_b.wait_for(60)
            versions = [e["version"] for e in inbox_a.of("counter")]
            assert versions == list(range(1, 61))
            assert inbox_b.of("counter") == inbox_a.of("counter")

    async def test_a_refused_change_stores_and_publishes_nothing(self, redis_url: str) -> None:
        async with brokers(redis_url, 1) as [(broker, inbox)]:
            await broker.subscribe("counter")
            await broker.update_state("k", "counter", lambda _: StateChange({"v": 1}, {"v": 1}))

            def refuse(_current: Any) -> StateChange:
                raise ValueError("refused by the change")

            with pytest.raises(ValueError, match="refused by the change"):
                await broker.update_state("k", "counter", refuse)
            await broker.update_state(
                "k", "counter", lambda cur: StateChange(cur, None, publish=False)
            )
            await broker.publish("counter", "marker")
            await inbox.wait_for(2)
            assert inbox.of("counter") == [{"v": 1}, "marker"]
            assert await broker.get_state("k") == {"v": 1}
            assert await broker.get_state("missing") is None


class TestOpening:
    async def test_urls_name_the_broker(self, redis_url: str) -> None:
        assert isinstance(open_broker("memory:"), MemoryBroker)
        broker = open_broker(redis_url)
        assert isinstance(broker, RedisBroker)
        await broker.aclose()
        for bad in ("nats://127.0.0.1", "redis", "", "127.0.0.1:6379"):
            with pytest.raises(ValueError, match="broker"):
                open_broker(bad)
            with pytest.raises(ValueError, match="broker"):
                ServerConfig(broker=bad)
