"""report.json: the whole run as data, for tools (spec "Conformance").

Top level: suite, target, seed, budget, counts per verdict and per profile, the welcome the
server sent, a requirement table (text, cases, worst verdict), the compliance matrix (every
requirement of the spec: party, testable or why not, cases, verdict) and every case with its
transcript and replayable frames.
"""

from __future__ import annotations

from pathlib import Path

from canaux_conformance.ijson import readable_json
from canaux_conformance.matrix import compliance_matrix
from canaux_conformance.results import RunResult

__all__ = ["render_json", "write_json"]


def render_json(run: RunResult) -> str:
    data = run.as_dict()
    data["matrix"] = [row.as_dict() for row in compliance_matrix(run)]
    return readable_json(data, indent=2, default=str) + "\n"


def write_json(run: RunResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_json(run), encoding="utf-8")
    return path
