"""Every requirement that binds clients has a client case or a reason (issue 12, "Done when")."""

from __future__ import annotations

from datetime import UTC, datetime

import canaux_schemas
from canaux_conformance.client.cases import all_client_cases
from canaux_conformance.client.coverage import NOT_CHECKED, PENDING
from canaux_conformance.matrix import compliance_matrix
from canaux_conformance.outcomes import Verdict
from canaux_conformance.results import CaseResult, RunResult


def _binds_clients() -> dict[str, dict[str, object]]:
    return {
        e["id"]: e
        for e in canaux_schemas.requirements()
        if e["party"] in ("client", "both") and e["testable"]
    }


def test_every_testable_client_requirement_has_a_case_or_a_reason() -> None:
    named = {r for case in all_client_cases() for r in case.requirements}
    missing = sorted(set(_binds_clients()) - named - set(NOT_CHECKED) - set(PENDING))
    assert not missing, f"requirements binding clients with no client case and no reason: {missing}"


def test_reasons_are_only_for_requirements_without_a_case() -> None:
    named = {r for case in all_client_cases() for r in case.requirements}
    stale = sorted((set(NOT_CHECKED) | set(PENDING)) & named)
    assert not stale, f"these now have a client case: remove their reason: {stale}"
    unknown = sorted((set(NOT_CHECKED) | set(PENDING)) - set(_binds_clients()))
    assert not unknown, f"reasons for requirements that do not bind clients: {unknown}"


def test_a_client_runs_matrix_has_client_rows_only_and_shows_the_reasons() -> None:
    run = RunResult("client: x", "r", 1, "quick", False, datetime.now(UTC), party="client")
    run.results = [CaseResult("CL-X-01", "x", "core", "MUST", ("CLIENT-3",), Verdict.PASS)]
    rows = {row.id: row for row in compliance_matrix(run)}
    parties = {row.party for row in rows.values()}
    assert parties <= {"client", "both"}
    assert rows["CLIENT-3"].status == "pass"
    reason = next(iter(NOT_CHECKED))
    assert rows[reason].status.startswith("no case: ")
    assert NOT_CHECKED[reason] in rows[reason].status
