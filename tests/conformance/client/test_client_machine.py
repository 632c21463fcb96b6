"""The client state machine catches a broken client, with a replayable minimal example.

The reference client passes the machine in ``test_reference_client.py`` (CL-MACHINE-01 is one of
the client cases). The machine is random by design: with a fixed seed and a small budget this
run takes a few seconds; the other broken clients are caught by their own cases
(``tests/conformance/test_client_proof_of_power.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from canaux_conformance.client.machine import run_client_machine
from canaux_conformance.machine_run import MachineBudget
from canaux_conformance.outcomes import CaseFailed

pytestmark = pytest.mark.slow

BROKEN = Path(__file__).parent.parent / "broken_clients"
SEED = 20261202


@pytest.mark.parametrize(
    ("name", "requirement"),
    [("resends-with-new-ids", "CLIENT-7")],
)
def test_the_machine_catches_a_broken_client(name: str, requirement: str) -> None:
    with pytest.raises(CaseFailed) as failure:
        run_client_machine(
            [sys.executable, str(BROKEN), name],
            MachineBudget(max_examples=12, step_count=20, shrink_seconds=5.0),
            seed=SEED,
            timeout=4.0,
        )
    assert failure.value.requirement == requirement
    assert "minimal example" in failure.value.message or "transcript" in failure.value.message
