"""The suite's text/event-stream line splitting (conformance/eventstream.py) [SSE-1]."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from hypothesis import given
from hypothesis import strategies as st

from canaux_conformance.eventstream import split_lines


def lines_of(chunks: list[str]) -> list[str]:
    async def source() -> AsyncIterator[str]:
        for chunk in chunks:
            yield chunk

    async def collect() -> list[str]:
        return [line async for line in split_lines(source())]

    return asyncio.run(collect())


def test_unicode_line_separators_stay_inside_a_data_line() -> None:
    # str.splitlines (httpx's aiter_lines) breaks at these; JSON need not escape them, so a
    # correct server writes them raw and the suite failed it (SSE-QUEUE-01, a random item id).
    data = 'data: {"id":"a\u2028b\u2029c\u0085d"}'
    assert lines_of([data + "\n", "\n"]) == [data, ""]


def test_crlf_split_across_two_chunks_is_one_line_end() -> None:
    assert lines_of(["data: a\r", "\ndata: b\r\n\r\n"]) == ["data: a", "data: b", ""]


def test_cr_alone_and_lf_alone_end_lines_and_empty_chunks_change_nothing() -> None:
    assert lines_of(["a\rb", "", "\nc\r", "", "\n"]) == ["a", "b", "c"]


def test_an_unfinished_last_line_is_not_a_line() -> None:
    assert lines_of(["data: {}\n", "data: {"]) == ["data: {}"]


@given(
    st.lists(st.sampled_from(["a", "\u2028", "\u0085", "\r", "\n", "\r\n", "é", ":"]), max_size=30),
    st.data(),
)
def test_any_chunking_gives_the_lines_of_the_whole_stream(
    pieces: list[str], data: st.DataObject
) -> None:
    stream = "".join(pieces)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    whole = stream.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:-1]
    assert lines_of(chunks) == whole
