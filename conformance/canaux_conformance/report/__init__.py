"""Reports of a run: terminal (rich), report.json, JUnit XML, report.html (spec: Conformance).

Every writer takes the same :class:`~canaux_conformance.results.RunResult`, so the four views
always agree. :func:`write_reports` writes the three files of a report directory.
"""

from __future__ import annotations

from pathlib import Path

from canaux_conformance.report.html_report import render_html, write_html
from canaux_conformance.report.json_report import write_json
from canaux_conformance.report.junit import render_junit, write_junit
from canaux_conformance.report.terminal import LiveProgress, print_summary
from canaux_conformance.results import RunResult

__all__ = [
    "LiveProgress",
    "print_summary",
    "render_html",
    "render_junit",
    "write_html",
    "write_json",
    "write_junit",
    "write_reports",
]


def write_reports(run: RunResult, directory: Path, *, junit: Path | None = None) -> list[Path]:
    """Write report.json, junit.xml and report.html into ``directory`` (and ``junit`` if given)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [
        write_json(run, directory / "report.json"),
        write_junit(run, directory / "junit.xml"),
        write_html(run, directory / "report.html"),
    ]
    if junit is not None:
        written.append(write_junit(run, junit))
    return written
