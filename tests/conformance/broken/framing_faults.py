"""A broken server for FRAMING-01 (transport.md TRANSPORT-25): the reference writing the
length of a 125-byte frame in the 16-bit form, where the 7-bit field is the minimal encoding.

This is the mutant ``ws_protocol.py write_texts``: ``size < 126`` → ``size < 125``, which
survived the power run of seed 20261208 (the suite's WebSocket layer accepts such a header);
its neighbour ``size < 65536`` → ``size < 65535`` writes a 65,535-byte frame's length in the
64-bit form. The relays of this folder cannot break framing: their own WebSocket layer writes
the frames. tests/conformance/test_framing.py patches the reference's header tables instead.
"""

from __future__ import annotations

import struct

__all__ = ["sixteen_bit_at_125", "sixty_four_bit_at_65535"]


class _Headers(tuple[bytes, ...]):
    """The reference's headers for payloads of 0 to 125 bytes, but 125's in 16 bits."""

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        if index == 125:
            return struct.pack("!BBH", 0x81, 126, 125)
        return super().__getitem__(index)


def sixteen_bit_at_125(headers: tuple[bytes, ...]) -> tuple[bytes, ...]:
    """``headers`` (``ws_protocol._SMALL_HEADERS``) with the 125-byte one in the 16-bit form."""
    return _Headers(headers)


class _Medium:
    """The reference's 16-bit header struct, but 65,535's length in the 64-bit form."""

    def pack(self, first: int, code: int, size: int) -> bytes:
        if size == 65535:
            return struct.pack("!BBQ", first, 127, size)
        return struct.pack("!BBH", first, code, size)


def sixty_four_bit_at_65535() -> _Medium:
    """A stand-in for ``ws_protocol._MEDIUM_HEADER`` writing 65,535 bytes in 64 bits."""
    return _Medium()
