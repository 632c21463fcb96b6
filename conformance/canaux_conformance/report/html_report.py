"""report.html: one self-contained page (inline CSS, no external resource) for people.

It shows the verdict counts, then every case (problems first and unfolded) with its
requirement text, the finding and the transcript, then the compliance matrix (every
requirement: party, cases, verdict, or why it cannot be tested over the wire).
"""

from __future__ import annotations

import html
from importlib import resources
from pathlib import Path
from string import Template

from canaux_conformance import __version__
from canaux_conformance.ijson import readable_json
from canaux_conformance.matrix import compliance_matrix
from canaux_conformance.outcomes import Verdict
from canaux_conformance.results import VERDICT_ORDER, CaseResult, RunResult, requirement_index

__all__ = ["render_html", "write_html"]


def _template() -> Template:
    text = (
        resources.files("canaux_conformance")
        .joinpath("templates", "report.html")
        .read_text(encoding="utf-8")
    )
    return Template(text)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _badge(verdict: Verdict | str) -> str:
    return f'<span class="badge v-{_e(verdict)}">{_e(verdict)}</span>'


def _summary(run: RunResult) -> str:
    head = "".join(f"<th>{_badge(v)}</th>" for v in VERDICT_ORDER)
    rows = []
    for profile, counts in sorted(run.by_profile().items()):
        cells = "".join(f'<td class="num">{counts.get(v, 0)}</td>' for v in VERDICT_ORDER)
        rows.append(f"<tr><td>{_e(profile)}</td>{cells}<td class='num'>{counts.total()}</td></tr>")
    total = run.counts()
    cells = "".join(f'<td class="num"><b>{total.get(v, 0)}</b></td>' for v in VERDICT_ORDER)
    rows.append(f"<tr><td><b>all</b></td>{cells}<td class='num'><b>{total.total()}</b></td></tr>")
    return (
        f"<table><thead><tr><th>profile</th>{head}<th>total</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _requirement_text(result: CaseResult) -> str:
    index = requirement_index()
    items = []
    for req in result.requirements:
        text = index.get(req, {}).get("text") or "(text not in the requirement index)"
        items.append(f"<dt>{_e(req)}</dt><dd>{_e(text)}</dd>")
    return f'<dl class="reqtext">{"".join(items)}</dl>'


def _case(result: CaseResult) -> str:
    problem = result.verdict in (Verdict.FAIL, Verdict.ERROR, Verdict.NON_STRICT)
    parts = [_requirement_text(result)]
    if result.message:
        cited = f"[{result.requirement}] " if result.requirement else ""
        css = "message" if problem else "message neutral"
        parts.append(f'<div class="{css}">{_e(cited + result.message)}</div>')
    if result.traceback:
        parts.append(f"<pre>{_e(result.traceback)}</pre>")
    if result.transcript_text and problem:
        parts.append(f"<pre>{_e(result.transcript_text)}</pre>")
    elif result.replay:
        replay = readable_json(result.replay)
        parts.append(f"<details><summary>frames sent</summary><pre>{_e(replay)}</pre></details>")
    reqs = ", ".join(result.requirements)
    return (
        f'<details class="case" id="{_e(result.id)}"{" open" if problem else ""}>'
        f"<summary>{_badge(result.verdict)} <span class='id'>{_e(result.id)}</span>"
        f" {_e(result.title)} <span class='reqs'>{_e(result.level)} · {_e(reqs)} · "
        f"{result.duration:.2f}s</span></summary>"
        f'<div class="body">{"".join(parts)}</div></details>'
    )


def _requirements(run: RunResult) -> str:
    """The compliance matrix: every requirement, whom it binds, its cases and its verdict."""
    rows = []
    for row in compliance_matrix(run):
        links = " ".join(f'<a href="#{_e(c)}">{_e(c)}</a>' for c in row.cases)
        if row.verdict is not None and row.testable:
            status = _badge(row.verdict)
        else:
            status = f'<span class="untested">{_e(row.status)}</span>'
        rows.append(
            f"<tr><td class='id'>{_e(row.id)}</td><td>{_e(row.party)}</td><td>{status}</td>"
            f"<td>{_e(row.text)}</td><td>{links}</td></tr>"
        )
    return (
        "<table><thead><tr><th>requirement</th><th>party</th><th>verdict</th><th>text</th>"
        f"<th>cases</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def render_html(run: RunResult) -> str:
    """The report page of ``run``."""
    status = run.exit_status
    status_class = {0: "ok", 1: "bad", 2: "broken"}[status]
    status_text = run.verdict_text()
    meta = (
        f"target <code>{_e(run.target_url)}</code>"
        + (" (reference server started by the suite)" if run.reference_server else "")
        + f" · {_e(run.started.isoformat(timespec='seconds'))} · {run.duration:.1f}s"
        + f" · budget {_e(run.budget)} · seed {run.seed}"
        + f" · profiles {_e(', '.join(run.profiles))}"
    )
    ordered = sorted(run.results, key=lambda r: (VERDICT_ORDER.index(r.verdict), r.id))
    notes = "".join(f"<li>{_e(n)}</li>" for n in run.notes)
    notes += "".join(
        f"<li>unchecked {_e(req)}: {_e(reasons[0])}</li>"
        for req, reasons in run.unverified().items()
    )
    return _template().substitute(
        title=_e(f"Canaux conformance: {run.target_url}"),
        meta=meta,
        status_class=status_class,
        status_text=_e(f"exit {status}: {status_text}"),
        summary=_summary(run),
        notes=f'<ul class="notes">{notes}</ul>' if notes else "",
        cases="".join(_case(r) for r in ordered),
        requirements=_requirements(run),
        version=_e(__version__),
        seed=run.seed,
        reproduce=_e(run.reproduce_command()),
    )


def write_html(run: RunResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(run), encoding="utf-8")
    return path
