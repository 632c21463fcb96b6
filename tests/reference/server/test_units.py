"""Unit tests of the server parts that need no socket: broker, hub, outbound queue, sessions,
chat runner, SSE text (spec delivery.md, resume.md, limits.md, standard-channels.md, sse.md)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from canaux.protocol.limits import Limits
from canaux.server.broker import BrokerMessage, MemoryBroker, StateChange
from canaux.server.channels.chat import EchoAgent, run_chat_request
from canaux.server.hub import Hub
from canaux.server.outbound import Outbound
from canaux.server.sessions import SessionRegistry
from canaux.server.sse_format import PING_COMMENT, event_message, parse_event_id, welcome_message

pytestmark = pytest.mark.anyio


class Recorder:
    def __init__(self) -> None:
        self.got: list[tuple[str, str]] = []

    def deliver(self, channel: str, data_json: str) -> None:
        self.got.append((channel, data_json))


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple[str, int, str]] = []
        self.replaced = False

    def send_event(self, channel: str, seq: int, text: str) -> None:
        self.events.append((channel, seq, text))

    def replace(self) -> None:
        self.replaced = True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestMemoryBroker:
    async def test_positions_are_per_channel_and_in_publish_order(self) -> None:
        """DELIVERY-3: the broker fixes one order per channel."""
        broker = MemoryBroker()
        seen: list[BrokerMessage] = []
        broker.attach(seen.append)
        await broker.subscribe("a")
        assert [await broker.publish("a", n) for n in range(3)] == [1, 2, 3]
        assert await broker.publish("b", "x") == 1  # not subscribed: numbered, not delivered
        assert [(m.channel, m.data, m.encoded, m.position) for m in seen] == [
            ("a", 0, "0", 1),
            ("a", 1, "1", 2),
            ("a", 2, "2", 3),
        ]

    async def test_refused_state_change_stores_and_publishes_nothing(self) -> None:
        broker = MemoryBroker()
        seen: list[BrokerMessage] = []
        broker.attach(seen.append)
        await broker.subscribe("c")

        def refuse(_: Any) -> StateChange:
            raise ValueError("no")

        with pytest.raises(ValueError, match="no"):
            await broker.update_state("k", "c", refuse)
        assert await broker.get_state("k") is None
        result = await broker.update_state("k", "c", lambda old: StateChange({"v": 1}, {"e": 1}))
        assert result.state == {"v": 1}
        assert await broker.get_state("k") == {"v": 1}
        assert [m.data for m in seen] == [{"e": 1}]


class TestHub:
    async def test_fan_out_encodes_once_and_respects_subscriptions(self) -> None:
        """DELIVERY-2, OPS-6: only subscribers get an event; nothing after unsubscribe."""
        broker = MemoryBroker()
        hub = Hub(broker)
        a, b = Recorder(), Recorder()
        await hub.subscribe("x", a)
        await hub.subscribe("x", b)
        await hub.subscribe("y", b)
        await broker.publish("x", {"n": 1})
        await hub.unsubscribe("x", a)
        await broker.publish("x", {"n": 2})
        await broker.publish("y", {"n": 3})
        assert a.got == [("x", '{"n":1}')]
        assert b.got == [("x", '{"n":1}'), ("x", '{"n":2}'), ("y", '{"n":3}')]
        # The very same string object reached both: encoded once per broadcast.
        assert a.got[0][1] is b.got[0][1]

    async def test_a_failing_subscriber_does_not_cost_others_their_event(self) -> None:
        """SECURITY-4."""

        class Broken:
            def deliver(self, channel: str, data_json: str) -> None:
                raise RuntimeError("boom")

        broker = MemoryBroker()
        hub = Hub(broker)
        good = Recorder()
        await hub.subscribe("x", Broken())
        await hub.subscribe("x", good)
        await broker.publish("x", 1)
        assert good.got == [("x", "1")]

    async def test_last_local_unsubscribe_releases_the_broker_channel(self) -> None:
        broker = MemoryBroker()
        hub = Hub(broker)
        a = Recorder()
        await hub.subscribe("x", a)
        hub.drop(a)
        await hub.release_unused()
        assert hub.subscriber_count("x") == 0
        seen: list[BrokerMessage] = []
        broker.attach(seen.append)
        await broker.publish("x", 1)
        assert seen == []


class TestOutbound:
    async def test_overflow_marks_the_queue_and_drops_everything(self) -> None:
        """LIMIT-4: a full queue is a slow consumer; nothing more is accepted."""
        out = Outbound(2)
        assert out.put("a")
        assert out.put("b")
        assert not out.put("c")
        assert out.overflowed
        assert out.take() == []
        assert not out.put("d")

    async def test_unbounded_puts_are_for_welcome_and_replay(self) -> None:
        out = Outbound(1)
        assert all(out.put(str(n), bounded=False) for n in range(5))
        assert not out.overflowed
        assert out.take() == ["0", "1", "2", "3", "4"]

    async def test_wait_returns_on_put_and_on_close(self) -> None:
        out = Outbound(4)

        async def later() -> None:
            out.put("x")

        task = asyncio.create_task(later())
        async with asyncio.timeout(5):
            await out.wait(None)
        await task
        assert out.take() == ["x"]
        out.close()
        async with asyncio.timeout(5):
            await out.wait(None)
        assert out.closed


class TestSessionRegistry:
    def _registry(self, clock: Clock, **limits: Any) -> SessionRegistry:
        return SessionRegistry(Limits(**limits), Hub(MemoryBroker()), clock=clock)

    def test_ids_are_long_random_and_distinct(self) -> None:
        """HANDSHAKE-8."""
        registry = self._registry(Clock())
        ids = {registry.create(None).id for _ in range(50)}
        assert len(ids) == 50
        assert all(len(i) >= 22 for i in ids)

    def test_resume_rules(self) -> None:
        """RESUME-2, SECURITY-2, RESUME-7."""
        clock = Clock()
        registry = self._registry(clock, resume_window_ms=10_000)
        session = registry.create("tok")
        sink = Sink()
        registry.attach(session, sink)
        session.emit("c", {"n": 1})
        session.emit("c", {"n": 2})
        assert [seq for _, seq, _ in sink.events] == [1, 2]
        registry.detach(session, sink)
        assert registry.resume(session.id, "other", 0) is None
        assert registry.resume(session.id, None, 0) is None
        assert registry.resume(session.id, "tok", 3) is None
        found = registry.resume(session.id, "tok", 1)
        assert found is not None
        assert found.session is session
        assert found.resumed
        assert len(found.replay) == 1
        assert '"seq":2' in found.replay[0]
        clock.now += 10.0
        assert registry.expire() == 1
        assert registry.resume(session.id, "tok", 1) is None
        assert registry.get(session.id) is None

    def test_attach_elsewhere_replaces_the_old_sink(self) -> None:
        """RESUME-4."""
        registry = self._registry(Clock())
        session = registry.create(None)
        old, new = Sink(), Sink()
        registry.attach(session, old)
        registry.attach(session, new)
        assert old.replaced
        registry.detach(session, old)  # the old connection ending must not detach the new
        assert session.carrier is new

    def test_zero_window_discards_on_detach(self) -> None:
        registry = self._registry(Clock(), resume_window_ms=0)
        session = registry.create(None)
        sink = Sink()
        registry.attach(session, sink)
        registry.detach(session, sink)
        assert registry.get(session.id) is None


class TestChatRunner:
    async def test_echo_agent_is_deterministic(self) -> None:
        """CHAT-1 with the demo agent: chunks 0..n-1 then done."""
        runs: list[list[dict[str, Any]]] = []
        for _ in range(2):
            events: list[dict[str, Any]] = []
            await run_chat_request(
                EchoAgent(), "r1", {"type": "message", "text": "a  b c"}, events.append, timeout_s=5
            )
            runs.append(events)
        assert runs[0] == runs[1]
        chunks = runs[0][:-1]
        assert [c["index"] for c in chunks] == list(range(len(chunks)))
        assert "".join(c["text"] for c in chunks) == "You said: a  b c"
        assert runs[0][-1] == {"type": "done", "request": "r1", "chunks": len(chunks)}

    async def test_failing_agent_ends_with_agent_failed(self) -> None:
        class Failing:
            async def reply(self, text: str, conversation: str | None) -> AsyncIterator[str]:
                yield "partial"
                raise RuntimeError("model down")

        events: list[dict[str, Any]] = []
        await run_chat_request(Failing(), "r", {"text": "x"}, events.append, timeout_s=5)
        assert [e["type"] for e in events] == ["chunk", "error"]
        assert events[-1]["code"] == "agent_failed"
        assert "model down" not in events[-1]["message"]  # details stay in the log

    async def test_slow_agent_ends_with_agent_timeout(self) -> None:
        never = asyncio.Event()

        class Stuck:
            async def reply(self, text: str, conversation: str | None) -> AsyncIterator[str]:
                await never.wait()
                yield "never"

        events: list[dict[str, Any]] = []
        await run_chat_request(Stuck(), "r", {"text": "x"}, events.append, timeout_s=0.05)
        assert [(e["type"], e.get("code")) for e in events] == [("error", "agent_timeout")]


class TestSSEText:
    def test_messages(self) -> None:
        """SSE-1, SSE-4."""
        assert (
            welcome_message('{"type":"welcome"}') == 'event: welcome\ndata: {"type":"welcome"}\n\n'
        )
        assert event_message("system", "S" * 22, 7, "{}") == (
            f"event: system\nid: {'S' * 22}:7\ndata: {{}}\n\n"
        )
        assert PING_COMMENT == ": ping\n\n"
        # A line break in the data never ends the message early.
        assert event_message("c", "S" * 22, 1, "a\nb").endswith("data: a\ndata: b\n\n")

    @pytest.mark.parametrize(
        ("value", "parsed"),
        [
            ("A" * 22 + ":0", ("A" * 22, 0)),
            ("A" * 22 + ":41", ("A" * 22, 41)),
            ("A" * 21 + ":4", None),
            ("A" * 22 + ":-1", None),
            ("A" * 22 + ":01", None),
            ("A" * 22, None),
            ("", None),
            (None, None),
        ],
    )
    def test_last_event_id_parsing(self, value: str | None, parsed: tuple[str, int] | None) -> None:
        """SSE-2."""
        assert parse_event_id(value) == parsed
