"""Client cases judge a client that is not the reference, and each can fail (issue 12).

``toy_adapter.py`` is a small client written straight on ``websockets``; each flaw breaks one
requirement the broken reference clients (tests/conformance/broken_clients/) leave alone, and
the client case naming it must fail on exactly that requirement. The honest toy passes the same
cases, so the failures are the flaws'.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from canaux_conformance.client.runner import ClientRunConfig, run_client
from canaux_conformance.outcomes import Verdict

TOY = Path(__file__).with_name("toy_adapter.py")

FLAWS = {
    "no-subprotocol": ("CL-HS-01", "TRANSPORT-1"),
    "early-subscribe": ("CL-HS-01", "HANDSHAKE-11"),
    "strict-members": ("CL-TOL-01", "TRANSPORT-7"),
    "first-duplicate": ("CL-TOL-02", "TRANSPORT-12"),
    "numbers-as-text": ("CL-NUM-01", "TRANSPORT-19"),
    "ack-after-event-lost": ("CL-ORDER-01", "OPS-7"),
    "v1-limits-only": ("CL-TOL-03", "LIMIT-14"),
    "trusts-early-frames": ("CL-HS-03", "CLIENT-14"),
}
"""Flaw → the case that must catch it and the requirement it must name."""


def _run(flaw: str, cases: list[str]) -> dict[str, tuple[Verdict, str | None, str]]:
    config = ClientRunConfig(argv=[sys.executable, str(TOY), flaw], only=cases, budget="quick",
                             seed=7)  # fmt: skip
    result = asyncio.run(run_client(config))
    return {r.id: (r.verdict, r.requirement, r.message) for r in result.results}


def test_the_honest_toy_passes_the_cases_its_flaws_fail() -> None:
    cases = sorted({case for case, _ in FLAWS.values()})
    results = _run("honest", cases)
    assert {case: verdict for case, (verdict, _, _) in results.items()} == dict.fromkeys(
        cases, Verdict.PASS
    ), results


@pytest.mark.parametrize("flaw", sorted(FLAWS))
def test_each_flaw_fails_its_case_on_its_requirement(flaw: str) -> None:
    case, requirement = FLAWS[flaw]
    verdict, cited, message = _run(flaw, [case])[case]
    assert (verdict, cited) == (Verdict.FAIL, requirement), message
