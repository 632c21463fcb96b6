"""FRAG-01 against the reference and against its broken twin (transport.md TRANSPORT-24).

The broken server keeps only the first WebSocket fragment of a message
(broken/fragment_faults.py): FRAG-01 must fail it citing TRANSPORT-24, and pass the reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from canaux.server.ws_protocol import CoalescingWebSocketProtocol
from canaux_conformance.outcomes import Verdict

if TYPE_CHECKING:
    from tests.conformance.broken.fragment_faults import first_fragment_only
    from tests.conformance.broken.reference_run import one_case
else:  # pytest puts tests/conformance (no __init__.py) on sys.path
    from broken.fragment_faults import first_fragment_only
    from broken.reference_run import one_case


def test_the_reference_reassembles_fragmented_messages() -> None:
    verdict, _, message = one_case("FRAG-01", seed=20261207)
    assert verdict is Verdict.PASS, message


def test_a_server_that_keeps_only_the_first_fragment_fails_citing_transport_24(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        CoalescingWebSocketProtocol, "send_receive_event_to_app", first_fragment_only()
    )
    verdict, requirement, message = one_case("FRAG-01", seed=20261207)
    assert verdict is Verdict.FAIL, message
    assert requirement == "TRANSPORT-24", message
