"""The reference client and the compatibility services pass every client case (issue 12).

One ``--quick`` client run over real loopback sockets for each of ``python -m
canaux.conformance_adapter`` (the ``Client``) and ``... --client compat``
(``CentralWebSocketService``), shared by the tests of this module; the reports are written as
the CLI writes them.
"""

from __future__ import annotations

import asyncio
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from canaux_conformance.client.runner import REFERENCE_ADAPTER, ClientRunConfig, run_client
from canaux_conformance.outcomes import Verdict
from canaux_conformance.report import write_reports
from canaux_conformance.results import RunResult

KNOWN_REFERENCE_FAILURES: dict[str, str] = {}
"""Cases the reference client fails today, each with the requirement and who fixes it. A case
listed here may pass or fail; remove it once the reference is fixed."""


pytestmark = pytest.mark.slow

ADAPTERS = {
    "reference": None,
    "compat": (sys.executable, "-m", "canaux.conformance_adapter", "--client", "compat"),
}

SAME_AS_REFERENCE = {"compat": ("CL-BACKOFF-*", "CL-MACHINE-*")}
"""Cases left out of a run because they judge code the reference run already judged: the
compatibility services reconnect through the same ``Client`` (its backoff and its machine-driven
interleavings), and those cases are the slowest of a run (timing cases run alone)."""


@pytest.fixture(scope="module", params=sorted(ADAPTERS))
def reference_run(request: pytest.FixtureRequest) -> RunResult:
    argv = ADAPTERS[request.param]
    exclude = SAME_AS_REFERENCE.get(request.param, ())
    config = ClientRunConfig(argv=argv, exclude=exclude, budget="quick", seed=12)
    return asyncio.run(run_client(config))


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
    assert reference_run.target_url.startswith("client: " + " ".join(REFERENCE_ADAPTER))
    assert reference_run.client["backoff"]["configurable"] is True
    assert reference_run.reproduce_command().split()[:2] == ["canaux-conformance", "client"]
    written = write_reports(reference_run, tmp_path)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["party"] == "client"
    assert {c["id"] for c in report["cases"]} == {r.id for r in reference_run.results}
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    assert len(junit.findall(".//testcase")) == len(reference_run.results)
    assert tmp_path / "report.html" in written
