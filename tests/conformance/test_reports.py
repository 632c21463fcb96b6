"""Tests of the report writers: report.json, JUnit XML, report.html, terminal summary (index.md)."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from canaux_conformance.outcomes import Verdict
from canaux_conformance.report import print_summary, render_html, render_junit, write_reports
from canaux_conformance.results import CaseResult, RunResult, exit_status

HOSTILE = '<script>alert("x")</script> & \x00\x07 control'


def _result(case_id: str, verdict: Verdict, level: str = "MUST", **extra: object) -> CaseResult:
    return CaseResult(
        id=case_id,
        title=f"title of {case_id}",
        profile="core" if not case_id.startswith("SSE") else "sse",
        level=level,
        requirements=("OPS-1", "CHANNEL-7"),
        verdict=verdict,
        duration=0.25,
        **extra,  # type: ignore[arg-type]
    )


def sample_run(*, strict: bool = False) -> RunResult:
    transcript = [{"client": "A", "direction": "recv", "at": 0.1, "text": HOSTILE}]
    run = RunResult(
        target_url="ws://127.0.0.1:9/ws",
        run_id="abcd1234",
        seed=42,
        budget="quick",
        strict=strict,
        started=datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
        duration=3.5,
        profiles=["core", "sse"],
    )
    run.results = [
        _result("HS-01", Verdict.PASS, replay={"A": [{"type": "hello", "version": 1}]}),
        _result(
            "HS-02",
            Verdict.FAIL,
            message="closed with 1000, expected 4400",
            requirement="OPS-1",
            transcript=transcript,
            transcript_text=f"0.100s A <- {HOSTILE}",
        ),
        _result("HS-03", Verdict.NON_STRICT, level="SHOULD", message="slow", requirement="OPS-1"),
        _result("SSE-STREAM-01", Verdict.SKIPPED, message="no SSE endpoint"),
        _result("HS-04", Verdict.ERROR, message="the suite broke", traceback="Traceback: boom"),
    ]
    return run


class TestExitStatus:
    def test_must_failure_is_1(self) -> None:
        assert exit_status([_result("A-1", Verdict.FAIL)], strict=False) == 1

    def test_should_failure_only_counts_under_strict(self) -> None:
        results = [_result("A-1", Verdict.NON_STRICT, level="SHOULD"), _result("A-2", Verdict.PASS)]
        assert exit_status(results, strict=False) == 0
        assert exit_status(results, strict=True) == 1

    def test_suite_error_without_failure_is_2(self) -> None:
        assert exit_status([_result("A-1", Verdict.ERROR)], strict=False) == 2

    def test_skips_and_passes_are_0(self) -> None:
        results = [_result("A-1", Verdict.SKIPPED), _result("A-2", Verdict.PASS)]
        assert exit_status(results, strict=True) == 0


class TestJunit:
    def test_one_testcase_per_case_with_failures_errors_and_skips(self) -> None:
        root = ET.fromstring(render_junit(sample_run()))
        suite = root.find("testsuite")
        assert suite is not None
        cases = suite.findall("testcase")
        assert len(cases) == 5
        assert suite.get("failures") == "1"
        assert suite.get("errors") == "1"
        assert suite.get("skipped") == "1"
        by_name = {c.get("name", "").split()[0]: c for c in cases}
        failure = by_name["HS-02"].find("failure")
        assert failure is not None
        assert "[OPS-1] closed with 1000, expected 4400" in failure.get("message", "")
        # The transcript (with its control characters made printable) is in the failure text.
        assert "alert" in (failure.text or "")
        assert "\\x00" in (failure.text or "")
        assert by_name["HS-03"].find("failure") is None  # non-strict passes unless --strict

    def test_strict_turns_non_strict_into_failure(self) -> None:
        root = ET.fromstring(render_junit(sample_run(strict=True)))
        suite = root.find("testsuite")
        assert suite is not None
        assert suite.get("failures") == "2"


class TestJson:
    def test_counts_cases_and_requirements(self, tmp_path: Path) -> None:
        written = write_reports(sample_run(), tmp_path / "r", junit=tmp_path / "ci.xml")
        names = sorted(p.name for p in written)
        assert names == ["ci.xml", "junit.xml", "report.html", "report.json"]
        data = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
        assert data["counts"] == {"fail": 1, "error": 1, "non-strict": 1, "skipped": 1, "pass": 1}
        assert data["by_profile"]["sse"]["skipped"] == 1
        assert data["exit_status"] == 1
        assert data["seed"] == 42
        assert [c["id"] for c in data["cases"]][:2] == ["HS-01", "HS-02"]
        assert data["cases"][1]["transcript"][0]["text"] == HOSTILE
        # The failure counts against OPS-1 (the requirement it names), not CHANNEL-7.
        assert data["requirements"]["OPS-1"]["verdict"] == "fail"
        assert data["requirements"]["CHANNEL-7"]["verdict"] == "error"
        assert data["reproduce"] == "canaux-conformance ws://127.0.0.1:9/ws --seed 42 --quick"


class TestHtml:
    def test_self_contained_and_escaped(self) -> None:
        page = render_html(sample_run())
        assert page.startswith("<!DOCTYPE html>")
        # No external resource of any kind: no src/href to another origin, no <link>.
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
        assert "<link" not in page
        assert "<script>" not in page  # the hostile transcript is escaped
        assert "&lt;script&gt;" in page
        for case_id in ("HS-01", "HS-02", "HS-03", "HS-04", "SSE-STREAM-01"):
            assert f'id="{case_id}"' in page

    def test_requirement_text_comes_from_the_index(self) -> None:
        from canaux_conformance.results import requirement_index

        index = requirement_index()
        if "OPS-1" not in index:
            pytest.skip("requirements.json not generated yet")
        page = render_html(sample_run())
        assert index["OPS-1"]["text"].split()[0] in page
        assert "(text not in the requirement index)" not in page


def test_terminal_summary_lists_problems_with_requirements_and_seed() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, color_system=None)
    print_summary(sample_run(), console)
    text = buffer.getvalue()
    assert "HS-02" in text
    assert "OPS-1" in text
    assert "HS-01" not in text  # passing cases are counted, not listed
    assert "seed 42" in text
    assert "exit 1" in text
    assert "closed with 1000, expected 4400" in text


class TestIncompleteVerdict:
    """spec/index.md "Conformance": a run whose checks of a tested profile could not be made
    is incomplete (exit 2), never conformant."""

    @staticmethod
    def _run(*results: CaseResult, profiles: tuple[str, ...] = ("core",)) -> RunResult:
        run = RunResult(
            target_url="ws://127.0.0.1:9/ws",
            run_id="abcd1234",
            seed=1,
            budget="quick",
            strict=False,
            started=datetime(2026, 12, 1, tzinfo=UTC),
            profiles=list(profiles),
        )
        run.results = list(results)
        return run

    @staticmethod
    def _case(case_id: str, verdict: Verdict, *reqs: str, applicable: bool = True) -> CaseResult:
        return CaseResult(
            case_id, case_id, "core", "MUST", reqs, verdict, message="why", applicable=applicable
        )

    def test_a_requirement_no_case_could_check_makes_the_run_incomplete(self) -> None:
        run = self._run(
            self._case("HS-01", Verdict.PASS, "TRANSPORT-2"),
            self._case("ROUTE-01", Verdict.SKIPPED, "DELIVERY-2"),
        )
        assert run.exit_status == 2
        assert run.unverified() == {"DELIVERY-2": ["ROUTE-01: why"]}
        assert run.incomplete_profiles() == {"core": ["DELIVERY-2"]}
        assert run.verdict_text().startswith("incomplete: profile core: DELIVERY-2")
        assert run.as_dict()["unverified"] == {"DELIVERY-2": ["ROUTE-01: why"]}

    def test_a_requirement_another_case_checked_is_not_lost(self) -> None:
        run = self._run(
            self._case("ROUTE-01", Verdict.SKIPPED, "DELIVERY-2"),
            self._case("ROUTE-02", Verdict.PASS, "DELIVERY-2"),
        )
        assert run.exit_status == 0
        assert run.verdict_text().startswith("conformant")

    def test_a_requirement_that_does_not_apply_is_not_lost(self) -> None:
        run = self._run(self._case("ENV-X", Verdict.SKIPPED, "CHANNEL-4", applicable=False))
        assert run.exit_status == 0

    def test_requirements_outside_the_tested_profiles_do_not_count(self) -> None:
        run = self._run(
            self._case("HTTP-PUB-01", Verdict.SKIPPED, "HTTP-1"),
            self._case("SSE-STREAM-01", Verdict.SKIPPED, "SSE-1"),
        )
        assert run.exit_status == 0
        assert self._run(
            self._case("SSE-STREAM-01", Verdict.SKIPPED, "SSE-1"), profiles=("core", "sse")
        ).incomplete_profiles() == {"sse": ["SSE-1"]}

    def test_a_failure_outranks_incomplete(self) -> None:
        run = self._run(
            self._case("HS-01", Verdict.FAIL, "TRANSPORT-2"),
            self._case("ROUTE-01", Verdict.SKIPPED, "DELIVERY-2"),
        )
        assert run.exit_status == 1
        assert run.verdict_text().startswith("not conformant")

    def test_the_terminal_summary_lists_what_was_not_checked(self) -> None:
        run = self._run(self._case("ROUTE-01", Verdict.SKIPPED, "DELIVERY-2"))
        out = io.StringIO()
        print_summary(run, Console(file=out, width=200, color_system=None))
        text = out.getvalue()
        assert "unchecked DELIVERY-2: ROUTE-01: why" in text
        assert "incomplete" in text
        assert "conformant ·" not in text
