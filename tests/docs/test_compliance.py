"""The site's compliance page: party per requirement, untestable reasons, the suite's verdicts.

docs/sitegen/compliance.py renders the page from a report.json; these tests feed it a small
report written by hand and check what a reader sees.
"""

from __future__ import annotations

import json
from pathlib import Path

import canaux_schemas
from canaux_conformance.matrix import requirement_verdict as suite_verdict
from docs.sitegen import compliance

__all__: list[str] = []


def _report(tmp_path: Path, cases: list[dict[str, object]]) -> Path:
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"target": "ws://x/ws", "cases": cases}), encoding="utf-8")
    return path


def _row(page: str, requirement: str) -> list[str]:
    line = next(line for line in page.splitlines() if line.startswith(f"| [{requirement}]"))
    return [cell.strip() for cell in line.split("|")[1:-1]]


def test_every_requirement_has_a_row_with_its_party(tmp_path: Path) -> None:
    case: dict[str, object] = {"id": "ISO-05", "requirements": ["OPS-13"], "verdict": "pass"}
    page = compliance.render_page(_report(tmp_path, [case]))
    for entry in canaux_schemas.requirements():
        row = _row(page, entry["id"])
        assert row[1] == entry["party"], row
    assert "ISO-05" in _row(page, "OPS-13")[3]


def test_an_untestable_requirement_shows_its_reason_not_a_verdict(tmp_path: Path) -> None:
    untestable = next(e for e in canaux_schemas.requirements() if not e["testable"])
    page = compliance.render_page(_report(tmp_path, []))
    row = _row(page, untestable["id"])
    assert row[2] == f"*not testable over the wire: {untestable['reason']}*"


def test_a_requirement_no_case_names_says_so(tmp_path: Path) -> None:
    page = compliance.render_page(_report(tmp_path, []))
    assert _row(page, "CLIENT-1")[2] == "*no case*"
    assert "## Requirements no case checks" in page


def test_the_site_orders_verdicts_as_the_suite_does(tmp_path: Path) -> None:
    for verdicts in (["pass", "skipped"], ["skipped", "non-strict"], ["error", "fail"], ["pass"]):
        assert compliance.requirement_verdict(verdicts) == str(suite_verdict(verdicts))
    cases: list[dict[str, object]] = [
        {"id": "A-1", "requirements": ["OPS-1"], "verdict": "pass"},
        {"id": "A-2", "requirements": ["OPS-1"], "verdict": "skipped"},
    ]
    page = compliance.render_page(_report(tmp_path, cases))
    assert 'v-skipped">skipped' in _row(page, "OPS-1")[2]


def test_a_client_run_next_to_the_server_run_gets_its_section(tmp_path: Path) -> None:
    server = _report(tmp_path, [])
    assert "make demo-client" in compliance.render_page(server)
    (tmp_path / "client").mkdir()
    client_report = {
        "target": "client: python -m canaux.conformance_adapter",
        "party": "client",
        "client": {"name": "canaux", "version": "0.1.0"},
        "cases": [{"id": "CL-DUP-01", "requirements": ["CLIENT-3"], "verdict": "pass"}],
        "matrix": [
            {"id": "CLIENT-3", "party": "client", "verdict": "pass", "cases": ["CL-DUP-01"],
             "status": "pass"},
            {"id": "CLIENT-8", "party": "client", "verdict": None, "cases": [],
             "status": "no case: the bound is the client's own"},
            {"id": "OPS-1", "party": "server", "verdict": None, "cases": [], "status": "no case"},
        ],
    }  # fmt: skip
    (tmp_path / "client" / "report.json").write_text(json.dumps(client_report), encoding="utf-8")
    page = compliance.render_page(server)
    section = page.split("## Client conformance", 1)[1]
    assert "canaux 0.1.0" in section
    assert "`CL-DUP-01`" in _row(section, "CLIENT-3")[3]
    assert "no case: the bound is the client's own" in _row(section, "CLIENT-8")[2]
    assert "[OPS-1]" not in section


def test_a_requirement_only_cases_needing_a_peer_check_says_not_checked(tmp_path: Path) -> None:
    """[#13] The demo runs one node: CLUSTER rows say why nothing checked them, not "skipped",
    and the cases the run could not run leave the other requirements' verdicts alone."""
    from datetime import UTC, datetime

    from canaux_conformance.outcomes import Verdict
    from canaux_conformance.report.json_report import render_json
    from canaux_conformance.results import CaseResult, RunResult
    from canaux_conformance.runner import NO_PEER

    run = RunResult("ws://x/ws", "r", 1, "quick", False, datetime.now(UTC), profiles=["core"])
    run.results = [
        CaseResult("PEER-03", "t", "core", "MUST", ("CLUSTER-1", "RESUME-2"), Verdict.SKIPPED,
                   message=NO_PEER, applicable=False, unchecked=True),
        CaseResult("RECON-01", "t", "core", "MUST", ("RESUME-2",), Verdict.PASS),
    ]  # fmt: skip
    path = tmp_path / "report.json"
    path.write_text(render_json(run), encoding="utf-8")
    page = compliance.render_page(path)
    row = _row(page, "CLUSTER-1")
    assert row[2].startswith("*not checked: no peer given"), row
    assert "PEER-03" in row[3]
    assert 'v-pass">pass' in _row(page, "RESUME-2")[2]
