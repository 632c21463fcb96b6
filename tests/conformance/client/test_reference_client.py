"""The reference client passes every client case over real loopback sockets (issue 12).

One ``--quick`` client run against ``python -m canaux.conformance_adapter``, shared by the tests
of this module; its reports are written as the CLI writes them.
"""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from canaux_conformance.client.runner import ClientRunConfig, run_client
from canaux_conformance.outcomes import Verdict
from canaux_conformance.report import write_reports
from canaux_conformance.results import RunResult

KNOWN_REFERENCE_FAILURES = {
    "CL-HS-02": "TRANSPORT-8: the reference closes with 1000, not 1002 (asked of r-client, BOARD)",
    "CL-ERR-01": "OPS-19: an unknown error code makes the reference drop the connection and "
    "never answer the publish (asked of r-client, BOARD)",
}
"""Cases the reference client fails today, each with the requirement and who fixes it. A case
listed here may pass or fail; remove it once the reference is fixed."""


@pytest.fixture(scope="module")
def reference_run() -> RunResult:
    return asyncio.run(run_client(ClientRunConfig(budget="quick", seed=12)))


def test_the_reference_client_fails_and_errs_on_no_client_case(reference_run: RunResult) -> None:
    bad = {
        r.id: f"{r.verdict}: {r.message}"
        for r in reference_run.results
        if r.verdict in (Verdict.FAIL, Verdict.ERROR) and r.id not in KNOWN_REFERENCE_FAILURES
    }
    assert not bad, "\n".join(f"{k}: {v}" for k, v in bad.items())
    assert {r.verdict for r in reference_run.results} - {Verdict.FAIL} <= {
        Verdict.PASS,
        Verdict.NON_STRICT,
        Verdict.SKIPPED,
    }


def test_the_run_says_it_checked_a_client(reference_run: RunResult, tmp_path: Path) -> None:
    assert reference_run.party == "client"
    assert reference_run.client is not None
    assert reference_run.client["backoff"]["configurable"] is True
    assert "client" in reference_run.reproduce_command().split()
    written = write_reports(reference_run, tmp_path)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["party"] == "client"
    assert {c["id"] for c in report["cases"]} == {r.id for r in reference_run.results}
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    assert len(junit.findall(".//testcase")) == len(reference_run.results)
    assert tmp_path / "report.html" in written
