"""The compliance matrix of a run (canaux_conformance/matrix.py): every requirement, one row."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from canaux_conformance.matrix import UNCHECKED, compliance_matrix, requirement_verdict
from canaux_conformance.outcomes import Verdict
from canaux_conformance.results import VERDICT_ORDER, CaseResult, RunResult

__all__: list[str] = []

INDEX = {
    "OPS-1": {"id": "OPS-1", "level": "MUST", "party": "server", "testable": True, "text": "t1"},
    "OPS-2": {"id": "OPS-2", "level": "MUST", "party": "server", "testable": True, "text": "t2"},
    "SECURITY-9": {
        "id": "SECURITY-9",
        "level": "MUST",
        "party": "server",
        "testable": False,
        "reason": "logs",
        "text": "t3",
    },
}


def _run(*results: CaseResult) -> RunResult:
    run = RunResult("ws://x/ws", "r", 1, "quick", False, datetime.now(UTC))
    run.results = list(results)
    return run


def _case(
    id: str, requirements: tuple[str, ...], verdict: Verdict, cited: str | None = None
) -> CaseResult:
    return CaseResult(id, id, "core", "MUST", requirements, verdict, requirement=cited)


def test_every_requirement_of_the_index_has_a_row_in_order() -> None:
    rows = compliance_matrix(_run(), INDEX)
    assert [r.id for r in rows] == ["OPS-1", "OPS-2", "SECURITY-9"]
    assert [r.status for r in rows] == [UNCHECKED, UNCHECKED, "not testable over the wire: logs"]
    assert rows[0].party == "server"


def test_a_failure_counts_against_the_requirement_it_names_only() -> None:
    rows = compliance_matrix(
        _run(_case("X-1", ("OPS-1", "OPS-2"), Verdict.FAIL, cited="OPS-2")), INDEX
    )
    assert [(r.id, r.verdict) for r in rows[:2]] == [
        ("OPS-1", Verdict.PASS),
        ("OPS-2", Verdict.FAIL),
    ]
    assert rows[0].cases == ("X-1",)


def test_ids_the_index_does_not_know_come_last() -> None:
    rows = compliance_matrix(_run(_case("X-1", ("FUTURE-7",), Verdict.PASS)), INDEX)
    assert rows[-1].id == "FUTURE-7"
    assert rows[-1].as_dict()["status"] == "pass"


def test_the_worst_verdict_wins_in_the_suites_order() -> None:
    assert requirement_verdict([]) is Verdict.PASS
    for worse, better in itertools.pairwise(VERDICT_ORDER):
        assert requirement_verdict([better, worse]) is worse


def test_the_reports_carry_the_matrix_of_every_requirement() -> None:
    import json

    import canaux_schemas
    from canaux_conformance.report.html_report import render_html
    from canaux_conformance.report.json_report import render_json

    run = _run(_case("ISO-05", ("OPS-13",), Verdict.PASS))
    matrix = json.loads(render_json(run))["matrix"]
    assert [row["id"] for row in matrix] == [e["id"] for e in canaux_schemas.requirements()]
    row = next(r for r in matrix if r["id"] == "OPS-13")
    assert (row["party"], row["cases"], row["status"]) == ("server", ["ISO-05"], "pass")
    untestable = next(r for r in matrix if not r["testable"])
    assert untestable["status"] == f"not testable over the wire: {untestable['reason']}"
    page = render_html(run)
    assert "<th>party</th>" in page
    assert "not testable over the wire: " in page
