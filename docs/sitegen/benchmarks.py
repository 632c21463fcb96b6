"""The benchmarks section, from the recorded results in benchmarks/results/ (when there are any).

Each ``*.md`` result becomes its own page under ``benchmarks/``, next to the other files of the
folder (raw data, plots), so a result's relative links keep working; an index page lists them.
"""

from __future__ import annotations

from pathlib import Path

from .paths import BENCHMARK_RESULTS
from .spec_pages import page_title

__all__ = ["render_index", "result_files", "site_files"]


def result_files(folder: Path = BENCHMARK_RESULTS) -> list[Path]:
    """Recorded result pages, by name (names are expected to sort by date)."""
    return sorted(folder.glob("*.md")) if folder.is_dir() else []


def site_files(folder: Path = BENCHMARK_RESULTS) -> list[Path]:
    """Every file of the results folder (pages and what they link to), kept out: ``tmp/``."""
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and "tmp" not in path.relative_to(folder).parts[:-1]
    )


def render_index(files: list[Path]) -> str:
    """The landing page of the section: one line per recorded result, newest first."""
    lines = [
        "# Benchmarks",
        "",
        "Results recorded with the harness in `benchmarks/` and committed in",
        "`benchmarks/results/`. Numbers depend on the machine they were measured on; each",
        "result says how it was run.",
        "",
    ]
    lines += [f"- [{page_title(path)}]({path.name})" for path in reversed(files)]
    lines.append("")
    return "\n".join(lines)
