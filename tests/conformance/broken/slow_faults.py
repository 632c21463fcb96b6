"""Broken servers for the slow-consumer requirements (limits.md LIMIT-4, LIMIT-13; #9).

Registered in :data:`SLOW_SERVERS` as (fault, cases that must catch it, the requirement IDs a
failure may cite, the setup of the server behind the relay, one of ``gap_faults.SETUPS``);
``faults.BROKEN_SERVERS`` takes them in.
"""

from __future__ import annotations

from .frame_proxy import Fault

__all__ = ["SHOULD_SERVERS", "SLOW_SERVERS"]


class NeverCutsSlowReaders(Fault):
    name = "never-cuts-slow-readers"
    description = (
        "frames toward a client wait in an unbounded queue of the relay's: the server behind is "
        "read on, so a reader that stops reading is never closed with 4503 (LIMIT-4)"
    )
    backpressure = False


SLOW_SERVERS: tuple[tuple[type[Fault], tuple[str, ...], tuple[str, ...], str], ...] = (
    (NeverCutsSlowReaders, ("SLOW-01",), ("LIMIT-4",), "open"),
)


class DropsSlowReadersAtOnce(Fault):
    name = "drops-slow-readers-at-once"
    description = (
        "a client that has not taken a frame for 0.1 s is reset at once: no 4503 close frame "
        "is ever written after the bytes it did not read (LIMIT-15 SHOULD wait 2 s)"
    )
    drop_stalled_after = 0.1


SHOULD_SERVERS: tuple[tuple[type[Fault], tuple[str, ...], tuple[str, ...], str], ...] = (
    (DropsSlowReadersAtOnce, ("SLOW-01",), ("LIMIT-15",), "open"),
)
"""Faults that break a SHOULD: the case catches them as ``non-strict``, not ``fail``
(tests/conformance/test_slow_consumer.py)."""
