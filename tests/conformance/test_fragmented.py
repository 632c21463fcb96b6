"""FRAG-01 against the reference and against its broken twin (transport.md TRANSPORT-24).

The broken server keeps only the first WebSocket fragment of a message
(broken/fragment_faults.py): FRAG-01 must fail it citing TRANSPORT-24, and pass the reference.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from canaux.server.config import ServerConfig
from canaux.server.testing import running_server
from canaux.server.ws_protocol import CoalescingWebSocketProtocol
from canaux_conformance.outcomes import Verdict
from canaux_conformance.runner import RunConfig, run

if TYPE_CHECKING:
    from tests.conformance.broken.fragment_faults import first_fragment_only
else:  # pytest puts tests/conformance (no __init__.py) on sys.path
    from broken.fragment_faults import first_fragment_only


async def _frag_01() -> tuple[Verdict, str | None, str]:
    async with running_server(ServerConfig(conformance=True)) as server:
        result = await run(
            RunConfig(
                url=f"ws://127.0.0.1:{server.port}/ws",
                only=("FRAG-01",),
                budget="quick",
                seed=20261207,
                timeout=3.0,
            )
        )
    (outcome,) = result.results
    return outcome.verdict, outcome.requirement, outcome.message


def test_the_reference_reassembles_fragmented_messages() -> None:
    verdict, _, message = asyncio.run(_frag_01())
    assert verdict is Verdict.PASS, message


def test_a_server_that_keeps_only_the_first_fragment_fails_citing_transport_24(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        CoalescingWebSocketProtocol, "send_receive_event_to_app", first_fragment_only()
    )
    verdict, requirement, message = asyncio.run(_frag_01())
    assert verdict is Verdict.FAIL, message
    assert requirement == "TRANSPORT-24", message
