"""The frame header audit (canaux_conformance.frame_audit, spec transport.md TRANSPORT-25):
every way RFC 6455 §5.2 lets a server's header be wrong is found, whatever the reads' cuts, and
a minimal header of any length is not."""

from __future__ import annotations

import struct

import pytest

from canaux_conformance.frame_audit import FrameAudit


def frame(
    length: int,
    *,
    opcode: int = 0x1,
    fin: bool = True,
    rsv: int = 0,
    mask: bool = False,
    form: int | None = None,
) -> bytes:
    """A frame of ``length`` payload bytes; ``form``: 7, 16 or 64 (the minimal one if None)."""
    if form is None:
        form = 7 if length < 126 else 16 if length < 65536 else 64
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    masked = 0x80 if mask else 0
    if form == 7:
        head = bytes((first, masked | length))
    elif form == 16:
        head = struct.pack("!BBH", first, masked | 126, length)
    else:
        head = struct.pack("!BBQ", first, masked | 127, length)
    return head + (b"\x00\x01\x02\x03" if mask else b"") + b"x" * length


def findings(data: bytes, *, cut: int | None = None, extensions: bool = False) -> list[str]:
    """The findings' messages, ``data`` fed whole or in pieces of ``cut`` bytes."""
    audit = FrameAudit(extensions=extensions)
    step = cut or len(data) or 1
    found = [
        f for start in range(0, len(data), step) for f in audit.feed(data[start : start + step])
    ]
    assert all(f.requirement == "TRANSPORT-25" for f in found)
    return [f.message for f in found]


@pytest.mark.parametrize("cut", [None, 1, 3, 7, 1000])
def test_minimal_headers_of_every_form_are_clean(cut: int | None) -> None:
    lengths = [0, 1, 125, 126, 127, 65535, 65536, 70000]
    stream = b"".join(frame(n) for n in lengths) + frame(4, opcode=0x9) + frame(2, opcode=0x8)
    audit = FrameAudit()
    step = cut or len(stream)
    for start in range(0, len(stream), step):
        assert audit.feed(stream[start : start + step]) == []
    assert audit.frames == len(lengths) + 2


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (frame(125, form=16), "16 bits"),
        (frame(0, form=16), "16 bits"),
        (frame(65535, form=64), "64 bits"),
        (frame(126, form=64), "64 bits"),
        (frame(4, mask=True), "masked"),
        (frame(4, rsv=0b100), "RSV bits 100"),
        (frame(4, opcode=0x3), "opcode"),
        (frame(4, opcode=0xB), "opcode"),
        (frame(4, opcode=0x9, fin=False), "fragmented"),
        (frame(126, opcode=0xA), "over 125 bytes"),
    ],
)
@pytest.mark.parametrize("cut", [None, 1])
def test_each_broken_header_is_one_finding(data: bytes, expected: str, cut: int | None) -> None:
    found = findings(frame(10) + data + frame(3), cut=cut)
    assert len(found) == 1, found
    assert expected in found[0]
    assert "frame 2" in found[0]


def test_the_top_bit_of_a_64_bit_length_is_a_finding() -> None:
    head = struct.pack("!BBQ", 0x81, 127, 2**63 + 5)
    assert "top bit" in findings(head)[0]


def test_rsv_bits_are_allowed_once_an_extension_was_negotiated() -> None:
    assert findings(frame(4, rsv=0b100), extensions=True) == []


def test_one_finding_per_kind_per_connection() -> None:
    stream = frame(125, form=16) * 3 + frame(4, mask=True) * 2
    found = findings(stream)
    assert len(found) == 2, found
    assert "16 bits" in found[0]
    assert "masked" in found[1]


def test_a_payload_cut_anywhere_is_skipped_not_read_as_a_header() -> None:
    # A payload of header-looking bytes: only lengths decide where the next header is.
    payload = bytes((0x81, 0x7E, 0x00, 0x05)) * 30
    stream = bytes((0x82, len(payload))) + payload + frame(2)
    audit = FrameAudit()
    for start in range(0, len(stream), 5):
        assert audit.feed(stream[start : start + 5]) == []
    assert audit.frames == 2
