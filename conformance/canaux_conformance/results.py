"""What a conformance run found: one result per case, and the run around them (spec "Conformance").

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
    "PROFILE_AREAS",
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

PROFILE_AREAS: dict[str, tuple[str, ...]] = {
    "core": (
        "TRANSPORT", "HANDSHAKE", "CHANNEL", "OPS", "DELIVERY", "RESUME", "HEARTBEAT", "LIMIT",
        "SECURITY", "CONF", "CLIENT",
    ),
    "chat": ("CHAT",),
    "playqueue": ("QUEUE",),
    "system": ("SYSTEM",),
    "progress": ("PROGRESS",),
    "sse": ("SSE",),
    "legacy": ("LEGACY",),
}  # fmt: skip
"""The requirement areas each profile covers (spec/index.md "Conformance"); HTTP publish is
outside the profiles; CLIENT requirements bind clients and are checked by client runs."""


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
    applicable: bool = True
    """For ``skipped``: ``True`` when what the case checks applies to the server but could not
    be checked (see :class:`~canaux_conformance.outcomes.CaseSkipped`)."""
    unchecked: bool = False
    """For ``skipped``: the run could not run the case at all (it needs two nodes and no peer
    was given): a fact about the run, so it counts for no requirement's verdict."""

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
            "applicable": self.applicable,
            "unchecked": self.unchecked,
        }


def exit_status(results: list[CaseResult], *, strict: bool, incomplete: bool = False) -> int:
    """0 iff no MUST failed (nor a SHOULD under ``strict``), the suite did not break and every
    requirement of the tested profiles was checked.

    1: the server failed a case (not conformant); 2: no failure, but a case errored or a
    requirement of a tested profile could not be checked (``incomplete``).
    """
    verdicts = {r.verdict for r in results}
    if Verdict.FAIL in verdicts or (strict and Verdict.NON_STRICT in verdicts):
        return 1
    if Verdict.ERROR in verdicts or incomplete:
        return 2
    return 0


def _profile_of(requirement: str) -> str | None:
    area = requirement.partition("-")[0]
    return next((p for p, areas in PROFILE_AREAS.items() if area in areas), None)


CLUSTER_AREA = "CLUSTER"
"""The requirements of a deployment of several nodes (spec "Clusters"), outside the profiles:
a run with ``--peer`` checks them, and is incomplete when it could not."""


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
    party: str = "server"
    """Who was checked: ``server`` (a server run) or ``client`` (``canaux-conformance client``)."""
    client: dict[str, Any] | None = None
    """For client runs: what the adapter's ``ready`` declared (name, version, backoff)."""
    peers: list[str] = field(default_factory=list)
    """The other nodes of the target's deployment the run was given (``--peer``)."""

    @property
    def exit_status(self) -> int:
        return exit_status(self.results, strict=self.strict, incomplete=bool(self.unverified()))

    def unverified(self) -> dict[str, list[str]]:
        """Requirement ID → why no case checked it, for the requirements of the tested
        profiles that some case would check here but none could (spec/index.md "Conformance").

        A requirement counts when it binds servers, belongs to a profile of the run (or, with a
        peer, is a CLUSTER requirement), every case citing it was skipped, and at least one was
        skipped although the requirement applies (``applicable``); one that only cases about
        absent features cite does not apply.
        """
        index = requirement_index()
        cases: dict[str, list[CaseResult]] = {}
        for result in self.results:
            for req in result.requirements:
                cases.setdefault(req, []).append(result)
        found: dict[str, list[str]] = {}
        for req, citing in cases.items():
            if self._scope_of(req) not in self.profiles and not (
                self.peers and self._scope_of(req) == "cluster"
            ):
                continue
            # A requirement binding only the other party says nothing about this one.
            if index.get(req, {}).get("party") == (
                "server" if self.party == "client" else "client"
            ):
                continue
            if any(r.verdict is not Verdict.SKIPPED for r in citing):
                continue
            reasons = [f"{r.id}: {r.message}" for r in citing if r.applicable]
            if reasons:
                found[req] = reasons
        return dict(sorted(found.items(), key=lambda kv: _req_key(kv[0])))

    @staticmethod
    def _scope_of(requirement: str) -> str | None:
        """The profile of a requirement, or ``cluster`` for the CLUSTER ones."""
        if requirement.partition("-")[0] == CLUSTER_AREA:
            return "cluster"
        return _profile_of(requirement)

    def incomplete_profiles(self) -> dict[str, list[str]]:
        """Profile (or ``cluster``) → its requirements no case could check (see
        :meth:`unverified`)."""
        table: dict[str, list[str]] = {}
        for req in self.unverified():
            table.setdefault(str(self._scope_of(req)), []).append(req)
        return table

    def verdict_text(self) -> str:
        """The run's verdict in words: conformant, not conformant, or incomplete (and why)."""
        status = self.exit_status
        if status == 1:
            return "not conformant: a " + (
                "requirement failed" if self.strict else "MUST requirement failed"
            )
        if status == 2:
            why = []
            errors = self.counts().get(Verdict.ERROR, 0)
            if errors:
                why.append(f"the suite broke on {errors} case(s) (verdict error)")
            for profile, reqs in self.incomplete_profiles().items():
                shown = ", ".join(reqs[:8]) + (
                    f" and {len(reqs) - 8} more" if len(reqs) > 8 else ""
                )
                scope = "clusters" if profile == "cluster" else f"profile {profile}"
                why.append(f"{scope}: {shown} could not be checked")
            return "incomplete: " + "; ".join(why)
        return "conformant: no MUST requirement failed" + (
            " and no SHOULD (--strict)" if self.strict else ""
        )

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
        """Requirement ID → its text (when known), the cases checking it and the worst verdict.

        A case the run could not run (``unchecked``: no peer given) is listed but counts for no
        verdict; a requirement only such cases cite is ``skipped`` with ``not_checked``, the
        reason (the compliance matrix shows it as "not checked: ...")."""
        index = requirement_index()
        table: dict[str, dict[str, Any]] = {}
        for result in sorted(self.results, key=lambda r: r.unchecked):
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
                if result.unchecked:
                    if row["cases"] == [result.id]:
                        row["verdict"] = str(Verdict.SKIPPED)
                        row["not_checked"] = result.message
                    continue
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
        if self.party == "client":
            parts.append("client")
        elif not self.reference_server:
            parts.append(self.target_url)
            for peer in self.peers:
                parts += ["--peer", peer]
        parts += ["--seed", str(self.seed)]
        if self.budget != "default":
            parts.append(f"--{self.budget}")
        if self.party == "client" and not self.reference_server:
            parts += ["--", self.target_url.removeprefix("client: ")]
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
            "verdict": self.verdict_text(),
            "unverified": self.unverified(),
            "reproduce": self.reproduce_command(),
            "counts": {str(v): self.counts().get(v, 0) for v in VERDICT_ORDER},
            "by_profile": {
                profile: {str(v): counts.get(v, 0) for v in VERDICT_ORDER}
                for profile, counts in sorted(self.by_profile().items())
            },
            "welcome": self.welcome,
            "party": self.party,
            "client": self.client,
            "peers": self.peers,
            "notes": self.notes,
            "requirements": self.requirements(),
            "cases": [r.as_dict() for r in self.results],
        }


def _req_key(req: str) -> tuple[str, int]:
    prefix, _, number = req.partition("-")
    return (prefix, int(number) if number.isdigit() else 0)
