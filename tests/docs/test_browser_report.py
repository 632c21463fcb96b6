"""Browser check 2: a conformance report.html shows its summary and a failing case's transcript.

The report is written by the suite's own writers (``canaux_conformance.report``) from a run
with one case of each verdict, the failing one carrying a real transcript: a resumed session
whose replay repeats an event (RESUME-3). The same report.json then feeds the site's
compliance matrix, so the matrix is checked against what the suite really writes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage

from canaux_conformance.outcomes import Verdict
from canaux_conformance.report import write_reports
from canaux_conformance.results import CaseResult, RunResult
from canaux_conformance.transcript import Direction, Transcript, TranscriptEntry
from docs.sitegen import compliance

SESSION = "q1ZpX8vB3kT0aLm2Nc7RdA"
_TIMEOUT_MS = 30_000


def _failing_transcript() -> Transcript:
    """What the suite saw: after a resume, seq 42 arrives twice."""
    transcript = Transcript()
    frames: list[tuple[Direction, Any]] = [
        ("open", "ws://127.0.0.1:8001/ws (canaux.v1)"),
        ("send", {"type": "hello", "version": 1}),
        ("recv", {"type": "welcome", "version": 1, "session": SESSION, "resumed": False}),
        ("send", {"type": "subscribe", "id": "c1", "channel": "conformance.r1"}),
        ("recv", {"type": "ack", "id": "c1"}),
        (
            "recv",
            {"type": "event", "seq": 41, "channel": "conformance.r1", "data": {"mark": "m41"}},
        ),
        ("close", "connection cut by the fault proxy"),
        ("open", "ws://127.0.0.1:8001/ws (canaux.v1)"),
        ("send", {"type": "hello", "version": 1, "resume": {"session": SESSION, "seq": 41}}),
        ("recv", {"type": "welcome", "version": 1, "session": SESSION, "resumed": True}),
        (
            "recv",
            {"type": "event", "seq": 42, "channel": "conformance.r1", "data": {"mark": "m42"}},
        ),
        (
            "recv",
            {"type": "event", "seq": 42, "channel": "conformance.r1", "data": {"mark": "m42"}},
        ),
    ]
    # Entries are made directly (Transcript.add reads the asyncio clock, and Playwright's sync
    # API already owns this thread's event loop).
    for step, (direction, frame) in enumerate(frames):
        text = frame if isinstance(frame, str) else json.dumps(frame)
        transcript.entries.append(TranscriptEntry("A", direction, 0.05 * step, text))
    transcript.entries.append(
        TranscriptEntry("suite", "note", 0.6, "seq 42 delivered twice after resume")
    )
    return transcript


def _run() -> RunResult:
    transcript = _failing_transcript()

    def result(
        case_id: str, verdict: Verdict, requirements: tuple[str, ...], **extra: Any
    ) -> CaseResult:
        return CaseResult(
            id=case_id,
            title=extra.pop("title", f"{case_id} checks {', '.join(requirements)}"),
            profile=extra.pop("profile", "core"),
            level=extra.pop("level", "MUST"),
            requirements=requirements,
            verdict=verdict,
            duration=0.25,
            **extra,
        )

    results = [
        result(
            "RESUME-03",
            Verdict.FAIL,
            ("RESUME-3", "DELIVERY-6"),
            title="a resumed session gets every missed event once, in order",
            message="event seq 42 was delivered twice after resume",
            requirement="RESUME-3",
            transcript=[entry.as_dict() for entry in transcript.entries],
            transcript_text=transcript.render(),
            replay=transcript.replay(),
        ),
        result("ROUTE-01", Verdict.PASS, ("DELIVERY-2",)),
        result(
            "HANDSHAKE-03",
            Verdict.NON_STRICT,
            ("HANDSHAKE-3",),
            level="SHOULD",
            message="hello timeout is 30 s; the spec recommends at most 10 s",
        ),
        result(
            "SSE-01",
            Verdict.SKIPPED,
            ("SSE-1",),
            profile="sse",
            message="the server offers no SSE binding",
        ),
        result(
            "HEARTBEAT-01",
            Verdict.ERROR,
            ("HEARTBEAT-1",),
            traceback="Traceback (most recent call last):\n  ...\nOSError: connection refused",
        ),
    ]
    return RunResult(
        target_url="ws://127.0.0.1:8001/ws",
        run_id="c0ffee00",
        seed=1234,
        budget="quick",
        strict=False,
        started=datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
        duration=3.5,
        profiles=["core", "sse"],
        results=results,
    )


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    write_reports(_run(), folder)
    return folder


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_report_shows_summary_and_failing_transcript(
    report_dir: Path, browser: Browser, checks_dir: Path, serve: Any
) -> None:
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # The browser asks any server for /favicon.ico by itself; the report does not use one.
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            errors.append(f"{message.text} ({message.location.get('url')})")

    with serve(report_dir) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            page.on("console", on_console)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{base}/report.html", wait_until="load", timeout=_TIMEOUT_MS)

            summary = page.locator("table").first
            summary.wait_for(state="visible", timeout=_TIMEOUT_MS)
            summary_text = summary.inner_text()
            for verdict in ("fail", "error", "non-strict", "skipped", "pass"):
                assert verdict in summary_text, summary_text

            failing = page.locator("details.case", has_text="RESUME-03")
            assert failing.count() == 1
            assert failing.get_attribute("open") is not None, "a failing case must be unfolded"
            finding = failing.get_by_text("event seq 42 was delivered twice", exact=False).first
            assert finding.is_visible()
            transcript = failing.locator("pre", has_text='"resumed": true').first
            transcript.wait_for(state="visible", timeout=_TIMEOUT_MS)
            transcript.scroll_into_view_if_needed(timeout=_TIMEOUT_MS)
            text = transcript.inner_text()
            assert text.count('"seq": 42') == 2, text
            assert "replay" in text, text

            passing = page.locator("details.case", has_text="ROUTE-01")
            assert passing.get_attribute("open") is None, "passing cases start folded"

            page.screenshot(path=checks_dir / "report-summary.png")
            failing.screenshot(path=checks_dir / "report-failing-case.png")
        finally:
            page.close()
    assert errors == [], errors


def test_compliance_matrix_from_the_suites_report_json(report_dir: Path, tmp_path: Path) -> None:
    report = report_dir / "report.json"
    page = compliance.render_page(report)
    assert "No conformance run is available" not in page
    resume_row = next(line for line in page.splitlines() if line.startswith("| [RESUME-3]"))
    assert 'class="verdict v-fail"' in resume_row
    assert "RESUME-03" in resume_row
    # The failure names RESUME-3, so DELIVERY-6, also cited by the case, is not failed by it.
    delivery_row = next(line for line in page.splitlines() if line.startswith("| [DELIVERY-6]"))
    assert 'class="verdict v-pass"' in delivery_row.split("|")[3]
    assert "reproduce" in page.lower()

    missing = compliance.render_page(tmp_path / "nothing" / "report.json")
    assert "No conformance run is available" in missing
    assert "make demo" in missing


def test_site_builds_its_compliance_page_from_a_report(
    report_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    site_builder: Callable[[Path], Path],
) -> None:
    shutil.copyfile(report_dir / "report.json", tmp_path / "report.json")
    monkeypatch.setenv("CANAUX_SITE_REPORT", str(tmp_path / "report.json"))
    site = site_builder(tmp_path / "site")
    html = (site / "compliance" / "index.html").read_text(encoding="utf-8")
    assert "RESUME-03" in html
    assert 'href="../spec/resume/#RESUME-3"' in html
