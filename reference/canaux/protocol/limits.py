"""The one limits table of the reference implementation
(spec limits.md, heartbeat.md, handshake.md).

:class:`Limits` holds every number the server enforces. The values a client must know go out
in ``welcome.limits`` [LIMIT-1] (the five required members, then the optional byte and session
bounds [LIMIT-4, LIMIT-11, LIMIT-12, LIMIT-13]), the heartbeat interval in
``welcome.heartbeat_ms`` [HANDSHAKE-9]; the others (hello timeout, dedup memory, detached
sessions in total) are server-side only. What these defaults let one identity make the server
hold is written down in spec/limits.md, "Worst case".
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
    resume_buffer_bytes: int = 1048576
    """UTF-8 bytes of event frames kept per session for replay, with ``resume_buffer`` [LIMIT-11].

    Finding 2 of issue 10: bounded in frames only, 8 detached sessions of one token held
    1024 events of 60 KB each (50 MB -> 536 MB); 1 MiB keeps a thousand 1 KB events."""
    outbound_queue_bytes: int = 1048576
    """UTF-8 bytes queued towards one connection before it is cut with 4503 [LIMIT-4].

    Frames only, a slow reader held +63 MB (1024 frames of 60 KB) before its 4503."""
    max_detached_sessions: int = 32
    """Detached sessions kept per identity; one more discards the oldest [LIMIT-12]."""
    max_detached_total: int = 1024
    """Detached sessions kept by the server in all; one more discards the oldest [LIMIT-13]."""

    def __post_init__(self) -> None:
        # The floors are the spec's [LIMIT-1, HANDSHAKE-3, heartbeat.md]: a server announcing less
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
            "resume_buffer_bytes": 65536,
            "outbound_queue_bytes": 65536,
            "max_detached_sessions": 1,
            "max_detached_total": 1,
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
        if self.max_detached_total < self.max_detached_sessions:
            raise ValueError(
                f"max_detached_total ({self.max_detached_total}) must be at least "
                f"max_detached_sessions ({self.max_detached_sessions})"
            )

    def to_welcome(self) -> frames.Limits:
        """The ``welcome.limits`` member: what a client must know to stay inside [LIMIT-1]."""
        return frames.Limits(
            max_frame_bytes=self.max_frame_bytes,
            max_subscriptions=self.max_subscriptions,
            max_rate=self.max_rate,
            resume_window_ms=self.resume_window_ms,
            resume_buffer=self.resume_buffer,
            resume_buffer_bytes=self.resume_buffer_bytes,
            outbound_queue=self.outbound_queue,
            outbound_queue_bytes=self.outbound_queue_bytes,
            max_detached_sessions=self.max_detached_sessions,
        )
