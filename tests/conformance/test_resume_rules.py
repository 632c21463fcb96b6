"""Tests of canaux_conformance.resume_rules: RESUME-2 / LIMIT-5 read from the announced limits."""

from __future__ import annotations

from canaux_conformance.resume_rules import Resume, resume_expectation

SMALLEST = {"resume_window_ms": 0, "resume_buffer": 1}
"""The smallest limits of spec/limits.md."""
TIGHT = {"resume_window_ms": 5000, "resume_buffer": 16}


class TestResumeExpectation:
    def test_a_window_of_zero_requires_a_refusal_after_a_drop(self) -> None:
        found = resume_expectation(SMALLEST, behind=0, since_drop_s=0.01)
        assert found.expect is Resume.REFUSED
        assert "resume_window_ms is 0" in found.reason

    def test_a_gap_larger_than_the_buffer_requires_a_refusal(self) -> None:
        found = resume_expectation(TIGHT, behind=25, since_drop_s=0.1)
        assert found.expect is Resume.REFUSED
        assert "resume_buffer is 16" in found.reason

    def test_within_window_and_buffer_a_resume_is_required(self) -> None:
        found = resume_expectation(TIGHT, behind=16, since_drop_s=0.5)
        assert found.expect is Resume.REQUIRED
        assert "16 missed event(s) within resume_buffer 16" in found.reason

    def test_close_to_the_window_either_answer_is_legal(self) -> None:
        assert resume_expectation(TIGHT, behind=1, since_drop_s=4.8).expect is Resume.EITHER
        assert resume_expectation(TIGHT, behind=1, since_drop_s=7.0).expect is Resume.REFUSED

    def test_a_stalled_connection_is_taken_over_before_the_heartbeat_gives_up(self) -> None:
        found = resume_expectation(
            SMALLEST, behind=1, since_drop_s=0.2, detached=False, heartbeat_ms=1000
        )
        assert found.expect is Resume.REQUIRED
        later = resume_expectation(
            SMALLEST, behind=1, since_drop_s=1.8, detached=False, heartbeat_ms=1000
        )
        assert later.expect is Resume.EITHER

    def test_the_buffer_decides_even_for_an_attached_session(self) -> None:
        found = resume_expectation(
            SMALLEST, behind=2, since_drop_s=0.1, detached=False, heartbeat_ms=1000
        )
        assert found.expect is Resume.REFUSED
