"""What a resume request must get, from the limits the server announced (RESUME-2, LIMIT-5).

RESUME-2 says when a server MUST resume a session (``resumed: true``) and when it MUST NOT:
the session is still within its window (``limits.resume_window_ms``, counted from the detach),
and its buffer (``limits.resume_buffer`` events) still holds every event the client missed.
Every case that resumes asks :func:`resume_expectation` first, so the suite expects exactly
what the announced limits require: ``resumed: true`` when they guarantee it, ``resumed: false``
when they forbid it (a window of 0, a buffer smaller than the gap), and either answer only when
the timing is too close to the window to tell.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Resume", "ResumeExpectation", "resume_expectation"]


class Resume(StrEnum):
    """What RESUME-2 requires of the answer to a resume request."""

    REQUIRED = "required"
    """``resumed: true`` with the same session and every missed event."""
    REFUSED = "refused"
    """``resumed: false``: a new session, seq 0, no subscriptions."""
    EITHER = "either"
    """Too close to the window to tell; both answers are checked for what each implies."""


@dataclass(frozen=True)
class ResumeExpectation:
    """The answer RESUME-2 requires, and why (quoted in findings)."""

    expect: Resume
    reason: str

    def __str__(self) -> str:
        return f"{self.expect}: {self.reason}"


def _limit(limits: Mapping[str, Any], name: str) -> int | None:
    value = limits.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def resume_expectation(
    limits: Mapping[str, Any],
    *,
    behind: int,
    since_drop_s: float,
    detached: bool = True,
    heartbeat_ms: int | None = None,
) -> ResumeExpectation:
    """What a resume ``behind`` events behind the last assigned seq, ``since_drop_s`` seconds
    after the connection was lost, must get.

    ``detached``: the server saw the old connection end (a reset, a close). ``False`` for a
    stalled connection the server still holds: it stays attached, and its window does not
    run, until the server's heartbeat declares it dead (two intervals, HEARTBEAT-3) — a resume
    before that takes it over (RESUME-4) whatever the window.
    """
    buffer = _limit(limits, "resume_buffer")
    window = _limit(limits, "resume_window_ms")
    if buffer is not None and behind > buffer:
        return ResumeExpectation(
            Resume.REFUSED,
            f"{behind} events were missed and resume_buffer is {buffer}: the buffer cannot "
            "hold them all [RESUME-2 (5), LIMIT-5]",
        )
    held = f"{behind} missed event(s) within resume_buffer {buffer}"
    if window is None:
        return ResumeExpectation(Resume.REQUIRED, held + "; no resume_window_ms announced")
    # The suite sees the drop and the welcome a little apart from the server's own clock.
    margin = 0.5 + window / 1000 * 0.1
    if not detached:
        attached_for = 2 * (heartbeat_ms or 0) / 1000
        if since_drop_s < attached_for - margin:
            return ResumeExpectation(
                Resume.REQUIRED,
                f"{held}; the stalled connection is still attached {since_drop_s:.1f}s after "
                f"the stall (a server gives up after two heartbeats), so the resume takes it "
                "over [RESUME-4]",
            )
    if detached and window == 0:
        return ResumeExpectation(
            Resume.REFUSED,
            "resume_window_ms is 0: a detached session is never resumed [RESUME-2 (2), RESUME-7]",
        )
    if detached and since_drop_s > window / 1000 + margin:
        return ResumeExpectation(
            Resume.REFUSED,
            f"the session was detached {since_drop_s:.1f}s before the resume and "
            f"resume_window_ms is {window} [RESUME-2 (2), RESUME-7]",
        )
    if since_drop_s >= window / 1000 - margin:
        return ResumeExpectation(
            Resume.EITHER,
            f"the resume came {since_drop_s:.1f}s after the drop, too close to "
            f"resume_window_ms {window} to tell",
        )
    return ResumeExpectation(
        Resume.REQUIRED,
        f"{held}, {since_drop_s:.1f}s after the drop, within resume_window_ms {window} [RESUME-2]",
    )
