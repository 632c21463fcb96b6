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
