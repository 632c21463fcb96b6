"""FRAMING-01 and the frame audit against the reference and against its broken twin
(transport.md TRANSPORT-25).

The broken server writes a 125-byte frame's length in the 16-bit form
(broken/framing_faults.py): FRAMING-01 must fail it citing TRANSPORT-25, and pass the reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from canaux.server import ws_protocol
from canaux_conformance.outcomes import Verdict

if TYPE_CHECKING:
    from tests.conformance.broken.framing_faults import sixteen_bit_at_125
    from tests.conformance.broken.reference_run import one_case
else:  # pytest puts tests/conformance (no __init__.py) on sys.path
    from broken.framing_faults import sixteen_bit_at_125
    from broken.reference_run import one_case


def test_the_reference_frames_every_boundary_minimally() -> None:
    verdict, _, message = one_case("FRAMING-01", seed=20261208)
    assert verdict is Verdict.PASS, message


def test_a_server_writing_125_bytes_in_sixteen_bits_fails_citing_transport_25(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        ws_protocol, "_SMALL_HEADERS", sixteen_bit_at_125(ws_protocol._SMALL_HEADERS)
    )
    verdict, requirement, message = one_case("FRAMING-01", seed=20261208)
    assert verdict is Verdict.FAIL, message
    assert requirement == "TRANSPORT-25", message
    assert "16 bits" in message, message
