"""Tests of canaux.protocol.limits: the limits table (spec limits.md)."""

from __future__ import annotations

import pytest

from canaux.protocol.frames import Limits as WelcomeLimits
from canaux.protocol.limits import Limits


class TestLimitsTable:
    def test_defaults_are_the_reference_values(self) -> None:
        limits = Limits()
        assert (limits.heartbeat_ms, limits.hello_timeout_ms) == (15000, 10000)
        assert (limits.outbound_queue, limits.dedup_ids) == (1024, 1024)

    def test_welcome_carries_the_client_facing_limits(self) -> None:
        """[HANDSHAKE-9] [LIMIT-1] the five required limits and the optional byte and session
        bounds [LIMIT-4, LIMIT-11, LIMIT-12]; max_detached_total stays server-side."""
        assert Limits(max_rate=50).to_welcome() == WelcomeLimits(
            max_frame_bytes=65536,
            max_subscriptions=64,
            max_rate=50,
            resume_window_ms=120000,
            resume_buffer=1024,
            resume_buffer_bytes=1048576,
            outbound_queue=1024,
            outbound_queue_bytes=1048576,
            max_detached_sessions=32,
        )

    def test_the_byte_and_session_bounds_have_safe_defaults(self) -> None:
        """Issue 10 finding 2: bounded in bytes and in detached sessions by default."""
        limits = Limits()
        assert (limits.resume_buffer_bytes, limits.outbound_queue_bytes) == (1048576, 1048576)
        assert (limits.max_detached_sessions, limits.max_detached_total) == (32, 1024)

    def test_the_total_of_detached_sessions_holds_one_identity_s_share(self) -> None:
        with pytest.raises(ValueError, match="max_detached_total"):
            Limits(max_detached_sessions=8, max_detached_total=4)

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("max_frame_bytes", 4095),
            ("max_subscriptions", 7),
            ("max_rate", 9),
            ("resume_buffer", 0),
            ("heartbeat_ms", 999),
            ("heartbeat_ms", 300001),
            ("hello_timeout_ms", 999),
            ("resume_buffer_bytes", 65535),
            ("outbound_queue_bytes", 65535),
            ("max_detached_sessions", 0),
            ("max_detached_total", 0),
        ],
    )
    def test_values_below_the_spec_floors_are_refused(self, name: str, value: int) -> None:
        """[LIMIT-1] the minimums a server may announce."""
        with pytest.raises(ValueError, match=name):
            Limits(**{name: value})

    def test_dedup_memory_must_reach_as_far_back_as_the_resume_buffer(self) -> None:
        """[OPS-9] ids are remembered at least as long as the resume buffer."""
        with pytest.raises(ValueError, match="dedup_ids"):
            Limits(resume_buffer=2048, dedup_ids=1024)

    def test_booleans_are_not_limits(self) -> None:
        with pytest.raises(TypeError):
            Limits(outbound_queue=True)
