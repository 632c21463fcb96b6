"""Proof of power for clients: each deliberately broken client fails on what it breaks (index.md).

Each broken client is the reference client's adapter with one guarantee patched out
(``tests/conformance/broken_clients/``). The client suite's runner runs the client case meant
to catch it, which must FAIL (or be non-strict, for a SHOULD) citing one of the requirements
the broken client breaks. ``tests/conformance/client/test_reference_client.py`` shows the same
cases pass against the unbroken reference client: a check that cannot fail, or one that fails
a correct client, is a defect of the suite.

Each broken client runs the one case meant to catch it, two at a time; those caught by a case
that measures time run alone afterwards (a busy machine blurs delays).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from canaux_conformance.cases import BUDGETS
from canaux_conformance.client.cases import all_client_cases
from canaux_conformance.client.context import ClientCaseContext
from canaux_conformance.client.runner import run_client_case
from canaux_conformance.outcomes import Verdict
from canaux_conformance.results import CaseResult

if TYPE_CHECKING:
    from tests.conformance.broken_clients.patches import BROKEN_CLIENTS
else:  # pytest puts tests/conformance (no __init__.py) on sys.path
    from broken_clients.patches import BROKEN_CLIENTS

pytestmark = pytest.mark.slow

PROGRAM = Path(__file__).parent / "broken_clients"
SEED = 20261202
WAIT = 8.0
"""Seconds per wait (an adapter's ready gets twice that): generous for a loaded machine."""

CATCHERS: dict[str, tuple[str, str]] = {
    "reconnects-after-no": ("CL-CLOSE-01", "quick"),
    "no-resume": ("CL-RES-01", "quick"),
    "resumes-one-seq-early": ("CL-RES-01", "quick"),
    "delivers-duplicates": ("CL-DUP-01", "quick"),
    "passes-gaps": ("CL-GAP-01", "quick"),
    "forgets-unanswered-publishes": ("CL-RES-03", "quick"),
    "resends-with-new-ids": ("CL-RES-03", "quick"),
    "forgets-subscriptions": ("CL-RES-02", "quick"),
    "no-reset": ("CL-RES-02", "quick"),
    "never-pongs": ("CL-PING-01", "quick"),
    "sends-oversize-frames": ("CL-LIMIT-01", "quick"),
    "accepts-binary-frames": ("CL-TRANS-01", "quick"),
    "first-fragment-only": ("CL-FRAG-01", "quick"),
    "sse-forgets-position": ("CL-SSE-01", "quick"),
    "sse-delivers-duplicates": ("CL-SSE-01", "quick"),
    "sse-no-reset": ("CL-SSE-03", "quick"),
    "sse-passes-gaps": ("CL-SSE-04", "quick"),
}
"""The case meant to catch each broken client, and its budget."""
TIMING: dict[str, tuple[str, str]] = {
    "ignores-silence": ("CL-HB-01", "quick"),
    "no-jitter": ("CL-BACKOFF-01", "quick"),
    "no-backoff-reset": ("CL-BACKOFF-01", "default"),
    "resets-on-welcome": ("CL-BACKOFF-02", "default"),
    "ignores-4429": ("CL-BACKOFF-03", "quick"),
}
"""Broken clients caught by a case that measures time: run one at a time, after the others
(a busy machine blurs delays), with the budget that makes the verdict certain."""


async def _run(name: str, case_id: str, budget: str) -> CaseResult:
    case = next(c for c in all_client_cases() if c.id == case_id)
    ctx = ClientCaseContext(
        adapter_argv=[sys.executable, str(PROGRAM), name],
        case_id=case.id,
        seed=SEED,
        budget=BUDGETS[budget],
        timeout=WAIT,
    )
    timeout = case.timeout or BUDGETS[budget].case_timeout
    return await run_client_case(case, ctx, case_timeout=timeout)


async def _run_all() -> dict[str, CaseResult]:
    results: dict[str, CaseResult] = {}
    gate = asyncio.Semaphore(2)

    async def one(name: str, case_id: str, budget: str) -> None:
        async with gate:
            results[name] = await _run(name, case_id, budget)

    await asyncio.gather(*(one(name, *how) for name, how in CATCHERS.items()))
    for name, (case_id, budget) in TIMING.items():
        results[name] = await _run(name, case_id, budget)
    return results


@pytest.fixture(scope="module")
def runs() -> dict[str, CaseResult]:
    return asyncio.run(_run_all())


def test_there_are_at_least_twelve_broken_clients_each_with_its_case() -> None:
    assert len(BROKEN_CLIENTS) >= 12
    assert set(CATCHERS) | set(TIMING) == set(BROKEN_CLIENTS)
    assert not set(CATCHERS) & set(TIMING)
    cases = {c.id: c for c in all_client_cases()}
    for name, (case_id, _) in {**CATCHERS, **TIMING}.items():
        # The case meant to catch a broken client checks one of the requirements it breaks.
        assert set(cases[case_id].requirements) & set(BROKEN_CLIENTS[name].breaks), name


@pytest.mark.parametrize("name", sorted(BROKEN_CLIENTS))
def test_each_broken_client_is_caught_on_what_it_breaks(
    name: str, runs: dict[str, CaseResult]
) -> None:
    broken = BROKEN_CLIENTS[name]
    result = runs[name]
    assert result.verdict in (Verdict.FAIL, Verdict.NON_STRICT), (
        f"{name} ({broken.summary}): {result.id} gave {result.verdict.value}: {result.message}"
    )
    assert result.requirement in broken.breaks, (
        f"{name}: {result.id} failed on {result.requirement}, not on {broken.breaks}: "
        f"{result.message}"
    )


def test_every_requirement_a_broken_client_breaks_is_checked_by_a_case() -> None:
    broken = {req for b in BROKEN_CLIENTS.values() for req in b.breaks}
    checked = {req for c in all_client_cases() for req in c.requirements}
    assert broken <= checked, f"broken clients break what no case checks: {broken - checked}"
