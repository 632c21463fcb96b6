"""The compliance matrix: every requirement of the spec, whom it binds, its cases, its verdict.

One row per requirement of the index (``canaux_schemas.requirements()``, generated from spec/):
its party (``server``, ``client`` or ``both``), the cases of the run that name it, and one
verdict — or, for the few requirements no peer can show on the wire, "not testable over the
wire: <reason>" instead, and for the cluster requirements of a run given no second node,
"not checked: no peer given" (their cases need ``--peer``). Reports (HTML, JSON) and the
site's compliance page are written from these rows, and a requirement's verdict is always
:func:`requirement_verdict` of its cases, so the suite and the site cannot order verdicts
differently (#9).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from canaux_conformance.outcomes import Verdict
from canaux_conformance.results import VERDICT_ORDER, RunResult, requirement_index

__all__ = [
    "NOT_CHECKED",
    "UNCHECKED",
    "MatrixRow",
    "compliance_matrix",
    "requirement_verdict",
]

UNCHECKED = "no case"
"""The status of a testable requirement that no case of the run names."""

NOT_CHECKED = "not checked"
"""The status (with the reason) of a requirement that only cases the run could not run cite:
cases that need a second node of the deployment when no peer was given (``--peer``). Not a
failure, not "skipped" (nothing about the server decided it), and not incomplete."""


def requirement_verdict(verdicts: Iterable[Verdict | str]) -> Verdict:
    """One verdict from several: the worst in :data:`VERDICT_ORDER` (pass if there are none)."""
    ranks = [VERDICT_ORDER.index(Verdict(v)) for v in verdicts]
    return VERDICT_ORDER[min(ranks)] if ranks else Verdict.PASS


@dataclass(frozen=True)
class MatrixRow:
    """One requirement in the matrix."""

    id: str
    level: str
    party: str
    testable: bool
    reason: str
    text: str
    cases: tuple[str, ...]
    verdict: Verdict | None
    """``None`` when no case of the run names it, only cases the run could not run name it,
    or it is not testable."""
    not_checked: str = ""
    """Why the run could not run any of its cases (no peer given), when that is so."""

    @property
    def status(self) -> str:
        """What the matrix shows: the verdict, the reason it cannot be tested, "not checked"
        with the reason the run could not run its cases, or "no case" (with the reason a
        client run does not check it, when there is one)."""
        if not self.testable:
            return f"not testable over the wire: {self.reason}"
        if self.verdict is None and self.not_checked:
            return f"{NOT_CHECKED}: {self.not_checked}"
        if self.verdict is None and self.reason:
            return f"{UNCHECKED}: {self.reason}"
        return str(self.verdict) if self.verdict is not None else UNCHECKED

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "level": self.level,
            "party": self.party,
            "testable": self.testable,
            "reason": self.reason,
            "cases": list(self.cases),
            "verdict": None if self.verdict is None else str(self.verdict),
            "status": self.status,
            "not_checked": self.not_checked,
        }


def _case_verdict(result_verdict: Verdict, cited: str | None, requirement: str) -> Verdict:
    # A failure counts against the requirement it names, not every one the case cites.
    if result_verdict in (Verdict.FAIL, Verdict.NON_STRICT) and cited not in (None, requirement):
        return Verdict.PASS
    return result_verdict


def _client_reason(requirement: str) -> str:
    from canaux_conformance.client.coverage import NOT_CHECKED, PENDING

    return NOT_CHECKED.get(requirement) or PENDING.get(requirement, "")


def compliance_matrix(
    run: RunResult, index: Mapping[str, Mapping[str, Any]] | None = None
) -> list[MatrixRow]:
    """The rows for ``run``: every requirement of the index in spec order, then any ID the
    cases name that the index does not know."""
    index = requirement_index() if index is None else index
    cases: dict[str, list[str]] = {}
    verdicts: dict[str, list[Verdict]] = {}
    not_checked: dict[str, str] = {}
    for result in run.results:
        for requirement in result.requirements:
            cases.setdefault(requirement, []).append(result.id)
            if result.unchecked:
                # The run could not run it (no peer): it says nothing about the requirement.
                not_checked.setdefault(requirement, result.message)
                continue
            verdicts.setdefault(requirement, []).append(
                _case_verdict(result.verdict, result.requirement, requirement)
            )
    rows: list[MatrixRow] = []
    other = "server" if run.party == "client" else "client"
    for requirement in [*index, *(r for r in cases if r not in index)]:
        entry = index.get(requirement, {})
        if run.party == "client" and entry.get("party") == other:
            continue  # a client run judges what binds clients only
        testable = bool(entry.get("testable", True))
        named = tuple(cases.get(requirement, ()))
        reason = str(entry.get("reason", ""))
        if run.party == "client" and testable and not named:
            reason = _client_reason(requirement)
        rows.append(
            MatrixRow(
                id=requirement,
                level=str(entry.get("level", "")),
                party=str(entry.get("party", "")),
                testable=testable,
                reason=reason,
                text=str(entry.get("text", "")),
                cases=named,
                verdict=(
                    requirement_verdict(verdicts[requirement]) if requirement in verdicts else None
                ),
                not_checked="" if requirement in verdicts else not_checked.get(requirement, ""),
            )
        )
    return rows
