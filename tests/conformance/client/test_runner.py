"""Tests of the client runner (conformance/canaux_conformance/client/runner.py) and of what a
client run's result says (party, reproduce command, requirements left unchecked)."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from canaux_conformance.client.runner import ClientRunConfig, run_client
from canaux_conformance.outcomes import Verdict
from canaux_conformance.results import CaseResult, RunResult

TOY = Path(__file__).with_name("toy_adapter.py")


def test_a_run_of_another_client_names_its_command_and_reproduces_with_it() -> None:
    argv = [sys.executable, str(TOY), "honest"]
    run = asyncio.run(run_client(ClientRunConfig(argv=argv, only=["CL-DUP-01"], seed=5)))
    assert [(r.id, r.verdict) for r in run.results] == [("CL-DUP-01", Verdict.PASS)]
    assert run.party == "client"
    assert run.reference_server is False
    assert run.client is not None
    assert run.client["name"] == "toy (honest)"
    command = run.reproduce_command()
    assert command.startswith("canaux-conformance client --seed 5 -- ")
    assert command.endswith(" ".join(argv))
    assert run.exit_status == 0


def test_a_client_run_counts_client_requirements_left_unchecked_not_server_ones() -> None:
    run = RunResult("client: x", "r", 1, "quick", False, datetime.now(UTC), party="client",
                    profiles=["core"])  # fmt: skip
    run.results = [
        CaseResult("CL-A-01", "a", "core", "MUST", ("CLIENT-7",), Verdict.SKIPPED, "no adapter"),
        CaseResult("CL-B-01", "b", "core", "MUST", ("OPS-1",), Verdict.SKIPPED, "why"),
    ]
    assert set(run.unverified()) == {"CLIENT-7"}
    assert run.exit_status == 2
