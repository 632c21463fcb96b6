"""The one limits table of the reference implementation (spec §11 "Limits", §8, §3).

:class:`Limits` holds every number the server enforces. The five values a client must know
go out in ``welcome.limits`` [LIMIT-1], the heartbeat interval in ``welcome.heartbeat_ms``
[HANDSHAKE-9]; the others (hello timeout, outbound queue, dedup memory) are server-side only.
"""

from __future__ import annotations

from dataclasses import dataclass

from canaux.protocol import frames

__all__ = ["Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits of one server; the defaults are the reference server's."""

    max_frame_bytes: int = 65536
    """Longest client frame accepted, in UTF-8 bytes [TRANSPORT-6, LIMIT-2]."""
    max_subscriptions: int = 64
    """Most channels one session may subscribe to at once [OPS-5]."""
    max_rate: int = 200
    """Client frames per second, with a burst of ``max_rate`` frames (token bucket) [LIMIT-3]."""
    resume_window_ms: int = 120000
    """How long a detached session stays resumable [RESUME-7]."""
    resume_buffer: int = 1024
    """Most recent events kept per session for replay [RESUME-2, LIMIT-5]."""
    heartbeat_ms: int = 15000
    """Heartbeat interval [HEARTBEAT-1..3]."""
    hello_timeout_ms: int = 10000
    """Time a new connection has to send ``hello`` [HANDSHAKE-3]."""
    outbound_queue: int = 1024
    """Frames queued towards one connection before it is cut as a slow consumer [LIMIT-4]."""
    dedup_ids: int = 1024
    """Client frame ids (and their replies) remembered per session [OPS-9]."""

    def __post_init__(self) -> None:
        # The floors are the spec's [LIMIT-1, HANDSHAKE-3, §8]: a server announcing less
        # would be non-conforming, so such a table is refused when it is built.
        floors = {
            "max_frame_bytes": 4096,
            "max_subscriptions": 8,
            "max_rate": 10,
            "resume_window_ms": 0,
            "resume_buffer": 1,
            "heartbeat_ms": 1000,
            "hello_timeout_ms": 1000,
            "outbound_queue": 1,
            "dedup_ids": 1,
        }
        for name, floor in floors.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an integer")
            if value < floor:
                raise ValueError(f"{name} must be at least {floor}, not {value}")
        if self.heartbeat_ms > 300000:
            raise ValueError(f"heartbeat_ms must be at most 300000, not {self.heartbeat_ms}")
        # [OPS-9] ids must be remembered at least as long as the resume buffer reaches back,
        # or a publish re-sent after a resume could be applied twice.
        if self.dedup_ids < self.resume_buffer:
            raise ValueError(
                f"dedup_ids ({self.dedup_ids}) must be at least "
                f"resume_buffer ({self.resume_buffer})"
            )

    def to_welcome(self) -> frames.Limits:
        """The ``welcome.limits`` member: the five limits a client must know [HANDSHAKE-9]."""
        return frames.Limits(
            max_frame_bytes=self.max_frame_bytes,
            max_subscriptions=self.max_subscriptions,
            max_rate=self.max_rate,
            resume_window_ms=self.resume_window_ms,
            resume_buffer=self.resume_buffer,
        )
