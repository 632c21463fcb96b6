"""SSEReader: the text/event-stream parser, and streams from the reference server (sse.md)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from canaux.client import Client, SSEError, SSEReader
from canaux.client.sse import SSELines, SSEMessage, SSEParser
from canaux.protocol.frames import Event
from canaux.server import ServerConfig
from canaux.server.testing import RunningServer, running_server

from .proxy import tcp_proxy
from .support import Zero


def parse(text: str) -> list[SSEMessage]:
    parser = SSEParser()
    out = []
    for line in text.split("\n"):
        message = parser.feed(line)
        if message is not None:
            out.append(message)
    return out


class TestParser:
    def test_event_id_and_data(self) -> None:
        assert parse("event: chat\nid: s:1\ndata: {}\n\n") == [SSEMessage("chat", "{}", "s:1")]

    def test_multi_line_data_is_joined_with_newlines(self) -> None:
        assert parse("data: a\ndata: b\n\n") == [SSEMessage("message", "a\nb", None)]

    def test_comments_and_unknown_fields_are_ignored_sse_4(self) -> None:
        assert parse(": ping\n\nretry: 10\nfoo: bar\ndata:x\n\n") == [
            SSEMessage("message", "x", None)
        ]

    def test_message_without_data_is_not_dispatched(self) -> None:
        assert parse("event: welcome\n\ndata: 1\n\n") == [SSEMessage("message", "1", None)]

    def test_field_without_colon_and_value_without_space(self) -> None:
        assert parse("data\n\ndata:no-space\n\n") == [
            SSEMessage("message", "", None),
            SSEMessage("message", "no-space", None),
        ]


def lines_of(chunks: list[str]) -> list[str]:
    splitter = SSELines()
    return [line for chunk in chunks for line in splitter.feed(chunk)]


class TestLines:
    """[SSE-1] only CRLF, LF and CR end a line of the stream (WHATWG event-stream grammar)."""

    def test_unicode_line_separators_stay_inside_a_data_line(self) -> None:
        # str.splitlines breaks at these three too, and JSON need not escape them (they are
        # not control characters), so they reach the wire raw.
        data = 'data: {"id":"a\u2028b\u2029c\u0085d"}'
        assert lines_of([data + "\n", "\n"]) == [data, ""]

    def test_crlf_split_across_two_chunks_is_one_line_end(self) -> None:
        assert lines_of(["data: a\r", "\ndata: b\r\n\r\n"]) == ["data: a", "data: b", ""]

    def test_cr_alone_and_lf_alone_end_lines(self) -> None:
        assert lines_of(["a\rb\nc\r\n"]) == ["a", "b", "c"]

    def test_an_unfinished_line_waits_for_its_end(self) -> None:
        splitter = SSELines()
        assert splitter.feed("data: {") == []
        assert splitter.feed("") == []
        assert splitter.feed("}\n") == ["data: {}"]

    @given(
        st.lists(
            st.sampled_from(["a", "\u2028", "\u0085", "\r", "\n", "\r\n", "é", ":"]),
            max_size=30,
        ),
        st.data(),
    )
    def test_any_chunking_gives_the_lines_of_the_whole_stream(
        self, pieces: list[str], data: st.DataObject
    ) -> None:
        stream = "".join(pieces)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
        chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        whole = stream.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:-1]
        assert lines_of(chunks) == whole


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    async with running_server(ServerConfig(conformance=True)) as running:
        yield running


async def collect(reader: SSEReader, count: int, within: float = 20.0) -> list[Event]:
    events: list[Event] = []
    async with asyncio.timeout(within):
        async for event in reader:
            events.append(event)
            if len(events) == count:
                break
    return events


@pytest.mark.anyio
async def test_reader_yields_events_in_order_sse_1(server: RunningServer) -> None:
    channel = "conformance.sse"
    async with SSEReader(server.events_url, [channel]) as reader, Client(server.ws_url) as pub:
        stream = reader.__aiter__()
        # The welcome comes first; publishing before it could happen before the subscription.
        first = asyncio.ensure_future(anext(stream))
        async with asyncio.timeout(20):
            await reader.wait_welcomed()
        for n in range(5):
            await pub.send(channel, {"mark": f"e-{n}"})
        async with asyncio.timeout(20):
            events = [await first] + [await anext(stream) for _ in range(4)]
        assert [e.data["mark"] for e in events] == [f"e-{n}" for n in range(5)]
        assert [e.seq for e in events] == [1, 2, 3, 4, 5]
        assert reader.last_event_id == f"{reader.session}:5"


@pytest.mark.anyio
async def test_unicode_line_separators_in_data_arrive_intact_sse_1(server: RunningServer) -> None:
    """The server writes U+2028, U+2029 and U+0085 raw inside ``data:`` (JSON allows it); the
    reader must not take them for line ends [SSE-1, CONF-1]."""
    channel = "conformance.sse-separators"
    mark = "a\u2028b\u2029c\u0085d"
    async with SSEReader(server.events_url, [channel]) as reader, Client(server.ws_url) as pub:
        stream = reader.__aiter__()
        first = asyncio.ensure_future(anext(stream))
        async with asyncio.timeout(20):
            await reader.wait_welcomed()
        await pub.send(channel, {"mark": mark})
        async with asyncio.timeout(20):
            event = await first
        assert event.data == {"mark": mark}
        assert reader.resets == 0


@pytest.mark.anyio
async def test_reader_resumes_after_a_cut_with_last_event_id_sse_2(
    server: RunningServer,
) -> None:
    channel = "conformance.sse-cut"
    async with tcp_proxy(server.port) as proxy:
        url = f"http://127.0.0.1:{proxy.port}/events"
        reader = SSEReader(url, [channel], rng=Zero())
        async with reader, Client(server.ws_url) as pub:
            stream = reader.__aiter__()
            first = asyncio.ensure_future(anext(stream))
            async with asyncio.timeout(20):
                await reader.wait_welcomed()
            await pub.send(channel, {"mark": "a"})
            async with asyncio.timeout(20):
                got = [await first]
            session = reader.session
            assert proxy.cut() == 1
            for mark in ("b", "c"):
                await pub.send(channel, {"mark": mark})
            async with asyncio.timeout(20):
                got += [await anext(stream), await anext(stream)]
            assert [e.data["mark"] for e in got] == ["a", "b", "c"]
            assert [e.seq for e in got] == [1, 2, 3]
            assert reader.session == session
            assert reader.resets == 0
            assert proxy.accepted == 2


@pytest.mark.anyio
async def test_unknown_channel_is_a_refusal_sse_3(server: RunningServer) -> None:
    async with SSEReader(server.events_url, ["conformance"]) as reader:
        with pytest.raises(SSEError) as caught:
            await collect(reader, 1)
    assert caught.value.status == 400
    assert caught.value.code == "unknown_channel"


def test_reader_needs_a_channel() -> None:
    with pytest.raises(ValueError, match="channel"):
        SSEReader("http://127.0.0.1:1/events", [])


@pytest.mark.anyio
@pytest.mark.parametrize("own_http", [True, False], ids=["reader-http", "caller-http"])
async def test_aclose_ends_an_iteration_in_another_task(
    server: RunningServer, own_http: bool
) -> None:
    """``aclose()`` ends a reader another task is iterating, whoever owns the HTTP client,
    and no event read after it reaches the application."""
    channel = "conformance.sse-aclose"
    async with contextlib.AsyncExitStack() as stack:
        http = None if own_http else await stack.enter_async_context(httpx.AsyncClient())
        reader = SSEReader(server.events_url, [channel], http=http)
        got: list[Event] = []

        async def consume() -> None:
            async for event in reader:
                got.append(event)

        task = asyncio.ensure_future(consume())
        async with asyncio.timeout(20):
            await reader.wait_welcomed()
        await reader.aclose()
        async with Client(server.ws_url) as pub:
            await pub.send(channel, {"mark": "after-close"})
        async with asyncio.timeout(10):
            await task
        assert got == []


class _Drawn:
    """A random source that draws the longest delay and tells when a delay was drawn."""

    def __init__(self) -> None:
        self.drawn = asyncio.Event()

    def random(self) -> float:
        self.drawn.set()
        return 1.0


@pytest.mark.anyio
async def test_aclose_cuts_the_wait_between_attempts() -> None:
    """A reader waiting out its backoff (the server is gone) ends at ``aclose()``."""
    async with running_server(ServerConfig(conformance=True)) as gone:
        url = gone.events_url
    rng = _Drawn()
    reader = SSEReader(url, ["conformance.x"], backoff_base=30.0, backoff_cap=30.0, rng=rng)
    task = asyncio.ensure_future(collect(reader, 1, within=60))
    async with asyncio.timeout(20):
        await rng.drawn.wait()  # the first attempt failed: a 30 s wait has begun
    await reader.aclose()
    async with asyncio.timeout(10):
        assert await task == []
