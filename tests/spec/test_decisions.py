"""What the spec settles, one test per decision, read from the requirement index it builds.

Each decision closed an ambiguity that kept a case from being fair; the case that relies on it
is named in each test. The reference's behaviour for the same decisions is tested in
tests/reference (test_session.py for LIMIT-11).
"""

from __future__ import annotations

import pytest

from . import speclib

__all__: list[str] = []


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    return speclib.load_spec()


@pytest.fixture(scope="module")
def requirement(texts: dict[str, str]) -> dict[str, str]:
    return {r.id: " ".join(r.text.split()) for r in speclib.extract_requirements(texts)}


class TestResumeBufferBytes:
    """[LIMIT-11] which bytes count, and where the bound falls (BUF-02 measures them)."""

    def test_an_event_is_measured_by_its_event_frame_text_as_sent(
        self, requirement: dict[str, str]
    ) -> None:
        assert (
            "An event's size is the length in bytes of UTF-8 of its event frame's text as the "
            "server sends it" in requirement["LIMIT-11"]
        )

    def test_the_framing_of_the_transport_is_not_counted(self, texts: dict[str, str]) -> None:
        page = " ".join(texts["limits.md"].split())
        assert (
            "the JSON text of the frame, without the WebSocket frame header around it, or the "
            "`id:`, `event:` and `data:` lines of an SSE message" in page
        )

    def test_an_event_is_the_same_text_live_and_in_every_replay(
        self, requirement: dict[str, str]
    ) -> None:
        assert (
            "the server MUST send an event as the same text every time it sends it: live, and "
            "in every replay" in requirement["LIMIT-11"]
        )
        assert "the same frame text as when it was sent live" in requirement["RESUME-3"]

    def test_the_buffer_keeps_exactly_the_longest_run_within_both_bounds(
        self, requirement: dict[str, str]
    ) -> None:
        assert (
            "MUST keep, of the most recent events of the session, exactly the longest run that "
            "holds at most resume_buffer events and at most resume_buffer_bytes bytes"
            in requirement["LIMIT-11"]
        )

    def test_a_run_of_exactly_the_bound_is_kept_and_one_byte_more_is_not(
        self, texts: dict[str, str]
    ) -> None:
        page = " ".join(texts["limits.md"].split())
        assert (
            "a run of events that takes exactly `resume_buffer_bytes` bytes is kept whole, and a "
            "run of two events or more that takes one byte more has lost its oldest event" in page
        )


class TestServerFraming:
    """[TRANSPORT-25] RFC 6455 §5.2's framing, the minimal length included, binds a server
    (FRAMING-01 and the frame audit check it)."""

    def test_every_length_takes_the_minimal_number_of_bytes(
        self, requirement: dict[str, str]
    ) -> None:
        text = requirement["TRANSPORT-25"]
        assert "the payload length takes the minimal number of bytes" in text
        assert "the 7-bit field up to 125 bytes" in text
        assert "the 16-bit form (126) from 126 to 65,535 bytes" in text
        assert "the 64-bit form (127, its most significant bit 0) from 65,536 bytes on" in text

    def test_it_binds_the_server_alone(self, texts: dict[str, str]) -> None:
        (entry,) = [r for r in speclib.extract_requirements(texts) if r.id == "TRANSPORT-25"]
        assert entry.party == "server"


class TestLegacyChatBound:
    """[LEGACY-9] a server may bound a legacy socket's chat requests under way, and says so
    when it refuses one (the reference: tests/reference/server/test_legacy.py)."""

    def test_a_request_over_the_bound_is_refused_with_a_notice(
        self, requirement: dict[str, str]
    ) -> None:
        text = requirement["LEGACY-9"]
        assert "A server MAY bound the chat requests one /ws/chat connection has" in text
        assert "A chat message over that bound MUST NOT be run" in text
        assert '"code": "chat.busy"' in text
        assert "the connection stays open" in text
