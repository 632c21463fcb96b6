"""SLOW-01 against the slow-consumer faults that break a SHOULD (limits.md LIMIT-15).

The proof of power (test_proof_of_power.py) holds every broken server to a ``fail``; a fault
that breaks a SHOULD is caught as ``non-strict`` instead, citing that requirement, and the
verdict stays ``pass`` for the reference behind the same relay (the proof of power runs it).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from canaux.protocol.limits import Limits
from canaux.server.config import ServerConfig
from canaux.server.testing import running_server
from canaux_conformance.outcomes import Verdict
from canaux_conformance.runner import RunConfig, run

if TYPE_CHECKING:
    from tests.conformance.broken.frame_proxy import Fault, FrameProxy
    from tests.conformance.broken.slow_faults import SHOULD_SERVERS
else:  # pytest puts tests/conformance (no __init__.py) on sys.path
    from broken.frame_proxy import Fault, FrameProxy
    from broken.slow_faults import SHOULD_SERVERS

pytestmark = pytest.mark.slow


async def _verdicts(fault: Fault, cases: tuple[str, ...]) -> dict[str, tuple[Verdict, str]]:
    config = ServerConfig(conformance=True, limits=Limits(heartbeat_ms=1000))
    async with (
        running_server(config) as server,
        FrameProxy("127.0.0.1", server.port, fault) as relay,
    ):
        result = await run(
            RunConfig(url=relay.ws_url, only=cases, budget="quick", seed=20261202, timeout=3.0)
        )
    return {r.id: (r.verdict, f"[{r.requirement}] {r.message}") for r in result.results}


@pytest.mark.parametrize(
    ("fault", "cases", "breaks", "setup"), SHOULD_SERVERS, ids=lambda v: getattr(v, "name", "")
)
def test_a_should_fault_is_caught_as_non_strict_citing_it(
    fault: type[Fault], cases: tuple[str, ...], breaks: tuple[str, ...], setup: str
) -> None:
    assert setup == "open"
    verdicts = asyncio.run(_verdicts(fault(), cases))
    assert sorted(verdicts) == sorted(cases), verdicts
    caught = {
        case: message
        for case, (verdict, message) in verdicts.items()
        if verdict is Verdict.NON_STRICT
    }
    assert caught, f"{fault.name} ({fault.description}) was not caught: {verdicts}"
    assert all(any(f"[{rid}]" in m for rid in breaks) for m in caught.values()), caught
