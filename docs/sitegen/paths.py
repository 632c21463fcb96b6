"""Where the site's sources live in the checkout (one place, so no module guesses a path)."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "BENCHMARK_RESULTS",
    "DEMO_REPORT",
    "DOCS",
    "NODE_MODULES",
    "REPO",
    "SCHEMAS",
    "SPEC",
]

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
SPEC = REPO / "spec"
SCHEMAS = REPO / "schemas"
NODE_MODULES = DOCS / "node_modules"
DEMO_REPORT = REPO / "reports" / "demo" / "report.json"
"""Written by ``make demo``; the compliance matrix is generated from it when present."""
BENCHMARK_RESULTS = REPO / "benchmarks" / "results"
