"""Tests of canaux.protocol.limits: the limits table (spec §11)."""

from __future__ import annotations

import pytest

from canaux.protocol.frames import Limits as WelcomeLimits
from canaux.protocol.limits import Limits


class TestLimitsTable:
    def test_defaults_are_the_reference_values(self) -> None:
        limits = Limits()
        assert (limits.heartbeat_ms, limits.hello_timeout_ms) == (15000, 10000)
        assert (limits.outbound_queue, limits.dedup_ids) == (1024, 1024)

    def test_welcome_carries_the_five_client_facing_limits(self) -> None:
        """[HANDSHAKE-9] welcome carries all five limits."""
        assert Limits(max_rate=50).to_welcome() == WelcomeLimits(
            max_frame_bytes=65536,
            max_subscriptions=64,
            max_rate=50,
            resume_window_ms=120000,
            resume_buffer=1024,
        )

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
