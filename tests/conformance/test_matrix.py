"""The compliance matrix of a run (canaux_conformance/matrix.py): every requirement, one row."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from canaux_conformance.matrix import NOT_CHECKED, UNCHECKED, compliance_matrix, requirement_verdict
from canaux_conformance.outcomes import Verdict
from canaux_conformance.results import VERDICT_ORDER, CaseResult, RunResult
from canaux_conformance.runner import NO_PEER

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


# --------------------------------------------------------------------------- clusters (#13)

CLUSTER_INDEX = {
    **INDEX,
    "CLUSTER-3": {"id": "CLUSTER-3", "level": "MUST", "party": "server", "testable": True},
}


def _unchecked(id: str, requirements: tuple[str, ...]) -> CaseResult:
    """A case that needs two nodes, in a run given no peer (what the runner records)."""
    return CaseResult(
        id, id, "core", "MUST", requirements, Verdict.SKIPPED,
        message=NO_PEER, applicable=False, unchecked=True,
    )  # fmt: skip


def test_a_requirement_only_cases_needing_a_peer_check_is_not_checked_not_skipped() -> None:
    run = _run(
        _unchecked("PEER-01", ("CLUSTER-3", "OPS-1")), _case("X-1", ("OPS-1",), Verdict.PASS)
    )
    rows = {r.id: r for r in compliance_matrix(run, CLUSTER_INDEX)}
    assert rows["CLUSTER-3"].verdict is None
    assert rows["CLUSTER-3"].status == f"{NOT_CHECKED}: {NO_PEER}"
    assert rows["CLUSTER-3"].status.startswith("not checked: no peer given")
    assert rows["CLUSTER-3"].cases == ("PEER-01",)
    # A case the run could not run says nothing about a requirement other cases checked.
    assert (rows["OPS-1"].verdict, rows["OPS-1"].cases) == (Verdict.PASS, ("PEER-01", "X-1"))
    assert rows["OPS-2"].status == UNCHECKED
    table = run.requirements()
    assert table["CLUSTER-3"]["not_checked"] == NO_PEER
    assert table["OPS-1"]["verdict"] == "pass"
    assert "not_checked" not in table["OPS-1"]


def test_a_run_without_a_peer_is_neither_failed_nor_incomplete_for_it() -> None:
    run = _run(
        _unchecked("PEER-01", ("CLUSTER-3", "RESUME-2")), _case("X-1", ("OPS-1",), Verdict.PASS)
    )
    run.profiles = ["core"]
    assert run.unverified() == {}
    assert run.exit_status == 0


def test_with_a_peer_a_cluster_requirement_no_case_could_check_makes_the_run_incomplete() -> None:
    skipped = CaseResult(
        "PEER-01", "t", "core", "MUST", ("CLUSTER-3",), Verdict.SKIPPED,
        message="conformance.* is off", applicable=True,
    )  # fmt: skip
    run = _run(skipped)
    run.profiles = ["core"]
    assert run.exit_status == 0  # without a peer a deployment's requirements are out of scope
    run.peers = ["ws://b/ws"]
    assert list(run.unverified()) == ["CLUSTER-3"]
    assert run.exit_status == 2
    assert "clusters: CLUSTER-3 could not be checked" in run.verdict_text()


def test_the_reproduce_command_names_the_peers() -> None:
    run = _run()
    run.peers = ["ws://b/ws", "ws://c/ws"]
    assert run.reproduce_command().startswith(
        "canaux-conformance ws://x/ws --peer ws://b/ws --peer ws://c/ws --seed 1"
    )
