"""JUnit XML: one ``<testcase>`` per conformance case, for CI dashboards (spec "Conformance").

``fail`` → ``<failure>``, ``error`` → ``<error>``, ``skipped`` → ``<skipped>``. A ``non-strict``
result (a SHOULD not met) is a passing test with a warning in ``<system-out>``, or a failure
when the run is ``--strict``, matching the exit status.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from canaux_conformance.outcomes import Verdict
from canaux_conformance.results import CaseResult, RunResult

__all__ = ["render_junit", "write_junit"]


# XML 1.0 cannot hold most control characters, which a transcript of bad frames may contain.
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_safe(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _failure_text(result: CaseResult) -> str:
    parts = [result.message]
    if result.traceback:
        parts += ["", result.traceback]
    if result.transcript_text:
        parts += ["", "transcript:", result.transcript_text]
    return _xml_safe("\n".join(parts))


def _testcase(result: CaseResult, *, strict: bool) -> ET.Element:
    element = ET.Element(
        "testcase",
        {
            "classname": f"canaux_conformance.{result.profile}",
            "name": _xml_safe(f"{result.id} {result.title}"),
            "time": f"{result.duration:.3f}",
        },
    )
    cited = result.requirement or ", ".join(result.requirements)
    summary = _xml_safe(f"[{cited}] {result.message}")
    if result.verdict is Verdict.FAIL or (strict and result.verdict is Verdict.NON_STRICT):
        failure = ET.SubElement(element, "failure", {"message": summary, "type": result.level})
        failure.text = _failure_text(result)
    elif result.verdict is Verdict.ERROR:
        error = ET.SubElement(
            element, "error", {"message": _xml_safe(result.message), "type": "suite-error"}
        )
        error.text = _failure_text(result)
    elif result.verdict is Verdict.SKIPPED:
        ET.SubElement(element, "skipped", {"message": _xml_safe(result.message)})
    elif result.verdict is Verdict.NON_STRICT:
        out = ET.SubElement(element, "system-out")
        out.text = _xml_safe(
            f"non-strict ({result.level} not met): {summary}\n{result.transcript_text}"
        )
    properties = ET.SubElement(element, "properties")
    for req in result.requirements:
        ET.SubElement(properties, "property", {"name": "requirement", "value": req})
    ET.SubElement(properties, "property", {"name": "level", "value": result.level})
    ET.SubElement(properties, "property", {"name": "verdict", "value": str(result.verdict)})
    return element


def render_junit(run: RunResult) -> str:
    """The JUnit XML document of ``run``."""
    cases = [_testcase(r, strict=run.strict) for r in run.results]
    failures = sum(1 for c in cases if c.find("failure") is not None)
    errors = sum(1 for c in cases if c.find("error") is not None)
    skipped = sum(1 for c in cases if c.find("skipped") is not None)
    attrs = {
        "name": "canaux-conformance",
        "tests": str(len(cases)),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": str(skipped),
        "time": f"{run.duration:.3f}",
    }
    root = ET.Element("testsuites", attrs)
    suite = ET.SubElement(
        root, "testsuite", {**attrs, "timestamp": run.started.isoformat(timespec="seconds")}
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("target", run.target_url),
        ("seed", str(run.seed)),
        ("budget", run.budget),
        ("profiles", ",".join(run.profiles)),
        ("strict", str(run.strict).lower()),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": value})
    suite.extend(cases)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(run: RunResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_junit(run), encoding="utf-8")
    return path
