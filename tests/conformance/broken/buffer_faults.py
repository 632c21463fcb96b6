"""Broken servers for BUF-02 (limits.md LIMIT-11): the reference whose resume buffer, once
trimmed, keeps one event too few or one byte too many.

The first is the mutant ``session.py SessionState._trim``: ``self._buffer_bytes >
limits.resume_buffer_bytes`` → ``>=``, which survived the power run of seed 20261208: a run of
events of exactly the bound loses its oldest event too. A relay cannot rebuild it (it would
have to keep the server's buffer itself), so tests/conformance/test_buffer_boundary.py patches
the reference's session class with ``monkeypatch``. The second keeps a run of
``resume_buffer_bytes`` + 1 bytes whole: it passes the exact boundary and must fail the run one
byte over it.
"""

from __future__ import annotations

from collections.abc import Callable

from canaux.protocol.frames import text_bytes
from canaux.protocol.session import SessionState

__all__ = ["keeps_one_byte_too_many", "trims_one_event_too_many"]


def _trim_while(over: Callable[[int, int], bool]) -> Callable[[SessionState], None]:
    """A ``_trim`` that removes the oldest event while ``over(bytes held, the bound)``."""

    def trim(self: SessionState) -> None:
        buffer, limits = self._buffer, self.limits
        while len(buffer) > limits.resume_buffer or (
            over(self._buffer_bytes, limits.resume_buffer_bytes) and len(buffer) > 1
        ):
            oldest = self.seq - len(buffer) + 1
            self._buffer_bytes -= text_bytes(buffer.pop(oldest))

    return trim


def trims_one_event_too_many() -> Callable[[SessionState], None]:
    """Trims on while the buffer holds ``resume_buffer_bytes`` or more (the mutant)."""
    return _trim_while(lambda held, bound: held >= bound)


def keeps_one_byte_too_many() -> Callable[[SessionState], None]:
    """Trims only while the buffer holds more than ``resume_buffer_bytes`` + 1."""
    return _trim_while(lambda held, bound: held > bound + 1)
