"""FRAMING-01 and the frame audit against the reference and against its broken twin
(transport.md TRANSPORT-25).

The broken servers write a 125-byte frame's length in the 16-bit form, or a 65,535-byte one's
in the 64-bit form (broken/framing_faults.py): FRAMING-01 must fail each citing TRANSPORT-25,
and pass the reference. The 65,535 and 65,536-byte events need ``POST /publish`` at the
default max_frame_bytes (65,536): a WebSocket publish is a few bytes longer than its event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from canaux.server import ws_protocol
from canaux_conformance.outcomes import Verdict

if TYPE_CHECKING:
    from tests.conformance.broken.framing_faults import sixteen_bit_at_125, sixty_four_bit_at_65535
    from tests.conformance.broken.reference_run import one_case
else:  # pytest puts tests/conformance (no __init__.py) on sys.path
    from broken.framing_faults import sixteen_bit_at_125, sixty_four_bit_at_65535
    from broken.reference_run import one_case


@pytest.mark.parametrize("publish", [False, True])
def test_the_reference_frames_every_boundary_minimally(publish: bool) -> None:
    verdict, _, message = one_case("FRAMING-01", seed=20261208, publish=publish)
    assert verdict is Verdict.PASS, message


@pytest.mark.parametrize(
    ("table", "broken", "publish", "wrong"),
    [
        (
            "_SMALL_HEADERS",
            lambda: sixteen_bit_at_125(ws_protocol._SMALL_HEADERS),
            False,
            "16 bits",
        ),
        ("_MEDIUM_HEADER", sixty_four_bit_at_65535, True, "64 bits"),
    ],
    ids=["125-in-16-bits", "65535-in-64-bits"],
)
def test_a_server_writing_a_length_in_more_bytes_than_needed_fails_citing_transport_25(
    monkeypatch: pytest.MonkeyPatch,
    table: str,
    broken: Callable[[], object],
    publish: bool,
    wrong: str,
) -> None:
    monkeypatch.setattr(ws_protocol, table, broken())
    verdict, requirement, message = one_case("FRAMING-01", seed=20261208, publish=publish)
    assert verdict is Verdict.FAIL, message
    assert requirement == "TRANSPORT-25", message
    assert wrong in message, message


def test_without_a_publish_url_the_long_boundaries_are_not_tried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # At the default max_frame_bytes no WebSocket publish makes a 65,535-byte event, so
    # without POST /publish the case cannot reach that broken server's fault.
    monkeypatch.setattr(ws_protocol, "_MEDIUM_HEADER", sixty_four_bit_at_65535())
    verdict, _, message = one_case("FRAMING-01", seed=20261208)
    assert verdict is Verdict.PASS, message
