"""What a conformance run found: one result per case, and the run around them (spec §17).

Reports (terminal, JSON, JUnit XML, HTML) are all written from a :class:`RunResult`; nothing
else is shared between them, so they always agree.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from canaux_conformance.outcomes import Verdict

__all__ = [
    "VERDICT_ORDER",
    "CaseResult",
    "RunResult",
    "exit_status",
    "requirement_index",
]

VERDICT_ORDER: tuple[Verdict, ...] = (
    Verdict.FAIL,
    Verdict.ERROR,
    Verdict.NON_STRICT,
    Verdict.SKIPPED,
    Verdict.PASS,
)
"""Worst first: how verdicts sort in reports, and which one a requirement inherits."""


@dataclass
class CaseResult:
    """The outcome of one case."""

    id: str
    title: str
    profile: str
    level: str
    requirements: tuple[str, ...]
    verdict: Verdict
    message: str = ""
    requirement: str | None = None
    """The requirement a failure is attributed to."""
    duration: float = 0.0
    transcript: list[dict[str, Any]] = field(default_factory=list)
    transcript_text: str = ""
    replay: dict[str, list[Any]] = field(default_factory=dict)
    traceback: str | None = None
    """For ``error`` verdicts: where the suite itself broke."""

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON data; the full transcript only where there is a problem (the
        frames sent, ``replay``, are always there)."""
        problem = self.verdict in (Verdict.FAIL, Verdict.ERROR, Verdict.NON_STRICT)
        return {
            "id": self.id,
            "title": self.title,
            "profile": self.profile,
            "level": self.level,
            "requirements": list(self.requirements),
            "verdict": str(self.verdict),
            "message": self.message,
            "requirement": self.requirement,
            "duration_s": round(self.duration, 4),
            "transcript": self.transcript if problem else [],
            "replay": self.replay,
            "traceback": self.traceback,
        }


def exit_status(results: list[CaseResult], *, strict: bool) -> int:
    """0 iff no MUST failed (nor a SHOULD under ``strict``) and the suite did not break.

    1: the server failed a case; 2: no failure, but a case errored (the verdicts are incomplete).
    """
    verdicts = {r.verdict for r in results}
    if Verdict.FAIL in verdicts or (strict and Verdict.NON_STRICT in verdicts):
        return 1
    if Verdict.ERROR in verdicts:
        return 2
    return 0


@cache
def requirement_index() -> dict[str, dict[str, Any]]:
    """Requirement ID → entry of ``canaux_schemas.requirements()``; empty if not available."""
    try:
        import canaux_schemas

        entries = canaux_schemas.requirements()
    except (OSError, ValueError, KeyError, ImportError):
        return {}
    index: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            index[entry["id"]] = entry
    return index


@dataclass
class RunResult:
    """A whole run: the target, the options, every case result."""

    target_url: str
    run_id: str
    seed: int
    budget: str
    strict: bool
    started: datetime
    duration: float = 0.0
    profiles: list[str] = field(default_factory=list)
    reference_server: bool = False
    welcome: dict[str, Any] | None = None
    results: list[CaseResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Things worth knowing about the run (probe findings, endpoints detected)."""

    @property
    def exit_status(self) -> int:
        return exit_status(self.results, strict=self.strict)

    def counts(self) -> Counter[Verdict]:
        return Counter(r.verdict for r in self.results)

    def by_profile(self) -> dict[str, Counter[Verdict]]:
        table: dict[str, Counter[Verdict]] = {}
        for result in self.results:
            table.setdefault(result.profile, Counter())[result.verdict] += 1
        return table

    def problems(self) -> list[CaseResult]:
        """Failed, errored and non-strict results, worst first."""
        bad = (Verdict.FAIL, Verdict.ERROR, Verdict.NON_STRICT)
        found = [r for r in self.results if r.verdict in bad]
        return sorted(found, key=lambda r: (VERDICT_ORDER.index(r.verdict), r.id))

    def requirements(self) -> dict[str, dict[str, Any]]:
        """Requirement ID → its text (when known), the cases checking it and the worst verdict."""
        index = requirement_index()
        table: dict[str, dict[str, Any]] = {}
        for result in self.results:
            for req in result.requirements:
                row = table.setdefault(
                    req,
                    {
                        "text": str(index.get(req, {}).get("text", "")),
                        "level": str(index.get(req, {}).get("level", "")),
                        "cases": [],
                        "verdict": str(Verdict.PASS),
                    },
                )
                row["cases"].append(result.id)
                # A failure counts against the requirement it names, not every one the case cites.
                verdict = result.verdict
                if verdict in (Verdict.FAIL, Verdict.NON_STRICT) and result.requirement not in (
                    None,
                    req,
                ):
                    verdict = Verdict.PASS
                if VERDICT_ORDER.index(verdict) < VERDICT_ORDER.index(Verdict(row["verdict"])):
                    row["verdict"] = str(verdict)
        return dict(sorted(table.items(), key=lambda kv: _req_key(kv[0])))

    def reproduce_command(self) -> str:
        """The command line that runs the same cases with the same seed and budget."""
        parts = ["canaux-conformance"]
        if not self.reference_server:
            parts.append(self.target_url)
        parts += ["--seed", str(self.seed)]
        if self.budget != "default":
            parts.append(f"--{self.budget}")
        return " ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        from canaux_conformance import __version__

        return {
            "suite": "canaux-conformance",
            "suite_version": __version__,
            "target": self.target_url,
            "reference_server": self.reference_server,
            "run_id": self.run_id,
            "seed": self.seed,
            "budget": self.budget,
            "strict": self.strict,
            "started": self.started.isoformat(),
            "duration_s": round(self.duration, 3),
            "profiles": self.profiles,
            "exit_status": self.exit_status,
            "reproduce": self.reproduce_command(),
            "counts": {str(v): self.counts().get(v, 0) for v in VERDICT_ORDER},
            "by_profile": {
                profile: {str(v): counts.get(v, 0) for v in VERDICT_ORDER}
                for profile, counts in sorted(self.by_profile().items())
            },
            "welcome": self.welcome,
            "notes": self.notes,
            "requirements": self.requirements(),
            "cases": [r.as_dict() for r in self.results],
        }


def _req_key(req: str) -> tuple[str, int]:
    prefix, _, number = req.partition("-")
    return (prefix, int(number) if number.isdigit() else 0)
