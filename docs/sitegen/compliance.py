"""The compliance matrix: requirement → party → conformance cases → verdict, from a report.json.

The page is generated at build time from the JSON report of a conformance run of the
reference server (``make demo`` writes ``reports/demo/report.json``). Without a report the
page says so plainly instead of showing stale or invented results. Whom each requirement
binds, and why the few untestable ones cannot be tested, come from the requirement index
(generated from spec/); a requirement's verdict is the suite's own
(:func:`canaux_conformance.matrix.requirement_verdict`), so the site and the reports agree.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import canaux_schemas
from canaux_conformance.matrix import requirement_verdict as _suite_verdict
from canaux_conformance.results import VERDICT_ORDER

from .paths import DEMO_REPORT, SPEC
from .spec_pages import defined_requirements, requirement_sort_key

__all__ = [
    "DEFAULT_REPORT",
    "VERDICTS",
    "CaseResult",
    "load_cases",
    "render_page",
    "requirement_verdict",
]

DEFAULT_REPORT = DEMO_REPORT
VERDICTS: tuple[str, ...] = tuple(str(v) for v in VERDICT_ORDER)
"""The suite's verdicts, worst first (its order decides a requirement's verdict)."""
# Coloured labels (styled in docs/content/assets/canaux.css): no emoji font needed offline.
_BADGE = {v: f'<span class="verdict v-{v}">{v}</span>' for v in VERDICTS}


@dataclass(frozen=True)
class CaseResult:
    """One case of a run, as the matrix needs it."""

    id: str
    title: str
    requirements: tuple[str, ...]
    verdict: str
    level: str


def load_cases(report: Mapping[str, Any]) -> list[CaseResult]:
    """The cases of a parsed report.json, checked for the members the matrix relies on."""
    raw_cases = report.get("cases")
    if not isinstance(raw_cases, list):
        raise ValueError("report.json has no 'cases' list")
    results: list[CaseResult] = []
    for raw in raw_cases:
        verdict = str(raw.get("verdict", ""))
        if verdict not in VERDICTS:
            raise ValueError(f"case {raw.get('id')!r}: unknown verdict {verdict!r}")
        results.append(
            CaseResult(
                id=str(raw["id"]),
                title=str(raw.get("title", "")),
                requirements=tuple(str(r) for r in raw.get("requirements", ())),
                verdict=verdict,
                level=str(raw.get("level", "MUST")),
            )
        )
    return results


def requirement_verdict(verdicts: Iterable[str]) -> str:
    """One verdict for a requirement from its cases' verdicts: the suite's worst one wins."""
    return str(_suite_verdict(verdicts))


def _reported_verdict(report: Mapping[str, Any], requirement: str) -> str | None:
    """The report's own verdict for a requirement: it knows which requirement a failure is
    attributed to, so a case citing several requirements fails only the one it broke."""
    table = report.get("requirements")
    row = table.get(requirement) if isinstance(table, Mapping) else None
    verdict = row.get("verdict") if isinstance(row, Mapping) else None
    return verdict if verdict in VERDICTS else None


def _not_checked(report: Mapping[str, Any], requirement: str) -> str:
    """Why the run could not run any case of a requirement (its cases need a second node and
    no peer was given), or ``""``: such a row says "not checked", not a verdict."""
    table = report.get("requirements")
    row = table.get(requirement) if isinstance(table, Mapping) else None
    reason = row.get("not_checked") if isinstance(row, Mapping) else None
    return reason if isinstance(reason, str) else ""


def _spec_link(requirement: str, pages: Mapping[str, Path]) -> str:
    page = pages.get(requirement)
    if page is None:
        return f"`{requirement}`"
    return f"[{requirement}](spec/{page.name}#{requirement})"


def render_page(report_path: Path, spec_dir: Path = SPEC) -> str:
    """The compliance page for the report at ``report_path`` (which may not exist)."""
    lines = [
        "---",
        "hide:",
        "  - navigation",
        "---",
        "",
        "# Compliance matrix",
        "",
        "Each normative requirement of the specification, the conformance cases that check it,",
        "and their verdicts in a run of the suite against the **reference server**, then (section",
        "*Client conformance*) in a run against the **reference client**. The page is generated",
        "from those runs' `report.json` files when the site is built.",
        "",
    ]
    if not report_path.is_file():
        lines += [
            '!!! warning "No conformance run is available"',
            "",
            f"    This build found no report at `{report_path.name}` (looked for "
            "`reports/demo/report.json`), so no verdicts are shown. Run `make demo`, which runs",
            "    the suite against the embedded reference server and writes the report, then",
            "    rebuild the site.",
            "",
        ]
        return "\n".join(lines)

    report = json.loads(report_path.read_text(encoding="utf-8"))
    cases = load_cases(report)
    pages = defined_requirements(spec_dir)
    by_requirement: dict[str, list[CaseResult]] = {}
    for result in cases:
        for requirement in result.requirements:
            by_requirement.setdefault(requirement, []).append(result)

    counts = {verdict: sum(1 for c in cases if c.verdict == verdict) for verdict in VERDICTS}
    facts = [f"{len(cases)} cases against `{report.get('target', '?')}`"]
    if report.get("reference_server"):
        facts.append("the reference server, started by the suite")
    with contextlib.suppress(KeyError, TypeError, ValueError):
        started = datetime.fromisoformat(report["started"]).astimezone(UTC)
        facts.append(f"started {started:%Y-%m-%d %H:%M} UTC")
    for key in ("budget", "seed"):
        if key in report:
            facts.append(f"{key} `{report[key]}`")
    if "suite_version" in report:
        facts.append(f"canaux-conformance {report['suite_version']}")
    lines += [
        "Run: " + " · ".join(facts) + ".",
        "",
        "| " + " | ".join(_BADGE[v] for v in VERDICTS) + " |",
        "| " + " | ".join("---:" for _ in VERDICTS) + " |",
        "| " + " | ".join(str(counts[v]) for v in VERDICTS) + " |",
        "",
        *(
            [f"Reproduce it with `{report['reproduce']}`.", ""]
            if isinstance(report.get("reproduce"), str)
            else []
        ),
        "## Requirements",
        "",
        "Every requirement of the specification: whom it binds (*party*: `server`, `client` or",
        "`both`), the cases of the run that check it and its verdict, the worst of its cases'.",
        "The few requirements that no peer can show on the wire say why instead, and those that",
        "only the cluster cases check (they need `--peer`, a second node) say *not checked*.",
        "",
        "| Requirement | Party | Verdict | Cases |",
        "| --- | --- | --- | --- |",
    ]
    index = {entry["id"]: entry for entry in canaux_schemas.requirements()}
    ordered = sorted(set(pages) | set(by_requirement), key=requirement_sort_key)
    uncovered: dict[str, list[str]] = {}
    for requirement in ordered:
        entry = index.get(requirement, {})
        party = str(entry.get("party", "")) or "?"
        results = by_requirement.get(requirement)
        link = _spec_link(requirement, pages)
        if not entry.get("testable", True):
            reason = str(entry.get("reason", "")).replace("|", "\\|")
            lines.append(f"| {link} | {party} | *not testable over the wire: {reason}* | |")
            continue
        if not results:
            uncovered.setdefault(party, []).append(requirement)
            lines.append(f"| {link} | {party} | *no case* | |")
            continue
        listed = ", ".join(f"[`{r.id}`](#{r.id.lower()}) {_BADGE[r.verdict]}" for r in results)
        unchecked = _not_checked(report, requirement)
        if unchecked:
            shown = unchecked.replace("|", "\\|")
            lines.append(f"| {link} | {party} | *not checked: {shown}* | {listed} |")
            continue
        verdict = _reported_verdict(report, requirement) or requirement_verdict(
            r.verdict for r in results
        )
        lines.append(f"| {link} | {party} | {_BADGE[verdict]} | {listed} |")
    lines.append("")
    if uncovered:
        lines += [
            "## Requirements no case checks",
            "",
            "Requirements on clients are for client conformance, which this run (of a server)",
            "does not judge (see *Client conformance* below); a server or `both` requirement",
            "listed here is a gap of the suite.",
            "",
        ]
        for party in sorted(uncovered):
            listed = ", ".join(_spec_link(r, pages) for r in uncovered[party])
            lines += [f"- **{party}**: {listed}"]
        lines.append("")
    lines += ["## Cases", "", "| Case | Level | Verdict | Requirements | Title |"]
    lines.append("| --- | --- | --- | --- | --- |")
    for result in sorted(cases, key=lambda c: c.id):
        requirements = ", ".join(_spec_link(r, pages) for r in result.requirements)
        title = result.title.replace("|", "\\|")
        lines.append(
            f'| <span id="{result.id.lower()}"></span>`{result.id}` | {result.level} | '
            f"{_BADGE[result.verdict]} | {requirements} | {title} |"
        )
    lines.append("")
    lines += _client_section(report_path.parent / CLIENT_REPORT, pages)
    return "\n".join(lines)


CLIENT_REPORT = Path("client") / "report.json"
"""Where the client run's report sits next to the server run's (``make demo-client``)."""


def _client_section(path: Path, pages: Mapping[str, Path]) -> list[str]:
    """The client direction (issue 12): the suite played the server against the reference
    client; its matrix rows (requirements binding clients), from that run's report.json."""
    lines = ["## Client conformance", ""]
    if not path.is_file():
        return [
            *lines,
            "No client run was found next to the server run. `make demo-client` runs",
            "`canaux-conformance client`, which plays a scripted server against the reference",
            "client through its adapter (see the",
            "[client adapter protocol](spec/client-adapter.md)), and writes the report this",
            "section is built from.",
            "",
        ]
    report = json.loads(path.read_text(encoding="utf-8"))
    cases = load_cases(report)
    counts = {verdict: sum(1 for c in cases if c.verdict == verdict) for verdict in VERDICTS}
    client = report.get("client") if isinstance(report.get("client"), Mapping) else {}
    name = f"{client.get('name', '?')} {client.get('version', '')}".strip()
    lines += [
        f"{len(cases)} client cases against `{name}` (`{report.get('target', '?')}`), "
        f"budget `{report.get('budget', '?')}`, seed `{report.get('seed', '?')}`.",
        "",
        "| " + " | ".join(_BADGE[v] for v in VERDICTS) + " |",
        "| " + " | ".join("---:" for _ in VERDICTS) + " |",
        "| " + " | ".join(str(counts[v]) for v in VERDICTS) + " |",
        "",
        "| Requirement | Party | Verdict | Client cases |",
        "| --- | --- | --- | --- |",
    ]
    rows = report.get("matrix") if isinstance(report.get("matrix"), list) else []
    for row in rows:
        if not isinstance(row, Mapping) or row.get("party") not in ("client", "both"):
            continue
        requirement = str(row.get("id"))
        verdict = row.get("verdict")
        shown = (
            _BADGE[verdict]
            if verdict in VERDICTS
            else f"*{str(row.get('status', '')).replace('|', chr(92) + '|')}*"
        )
        listed = ", ".join(f"`{c}`" for c in row.get("cases", ()))
        lines.append(
            f"| {_spec_link(requirement, pages)} | {row.get('party')} | {shown} | {listed} |"
        )
    lines.append("")
    return lines
