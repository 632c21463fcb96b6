"""The built site: strict build, links and anchors, requirement anchors, pages from sources.

The site is built once per session (``mkdocs build --strict``, see ``conftest.py``); these
tests then read the HTML. The checkers are also run on deliberately damaged copies, to
show that they can fail.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

import canaux_schemas
from docs.sitegen import benchmarks, schema_pages
from docs.sitegen.linkcheck import check_links, check_requirement_anchors, spec_page_html
from docs.sitegen.spec_pages import defined_requirements, page_title, spec_sources

_ID_RE = re.compile(r'\bid="([^"]+)"')


def _ids(html: Path) -> set[str]:
    return set(_ID_RE.findall(html.read_text(encoding="utf-8")))


def test_every_internal_link_and_anchor_resolves(built_site: Path) -> None:
    assert check_links(built_site) == []


def test_every_requirement_id_of_the_spec_has_its_own_anchor(built_site: Path) -> None:
    requirements = defined_requirements()
    assert requirements, "spec/ defines no requirement"
    assert check_requirement_anchors(built_site) == []


def test_every_spec_page_is_rendered_from_spec(built_site: Path) -> None:
    for page in spec_sources():
        html = spec_page_html(built_site, page)
        assert html.is_file(), f"{page.name} was not built"
        text = html.read_text(encoding="utf-8")
        # The page's own heading, as written in spec/, is the built page's title.
        assert page_title(page).split("`")[0].strip() in text


def test_registries_have_their_own_pages(built_site: Path) -> None:
    for registry in ("error-codes", "close-codes"):
        html = built_site / "spec" / registry / "index.html"
        assert html.is_file(), f"spec/{registry}.md is missing or was not built"


def test_schema_reference_has_a_page_per_schema_with_every_definition(built_site: Path) -> None:
    schemas = canaux_schemas.all_schemas()
    assert "frame.json" in schemas
    for path, schema in schemas.items():
        page = built_site / schema_pages.page_uri(path).removesuffix(".md") / "index.html"
        assert page.is_file(), f"no reference page for {path}"
        ids = _ids(page)
        missing = [name for name in schema.get("$defs", {}) if name not in ids]
        assert missing == [], f"{path}: no section for {missing}"
        raw = built_site / "schemas" / path
        assert json.loads(raw.read_text(encoding="utf-8")) == schema, f"{path} not published as is"


def test_the_site_ships_its_own_mermaid(built_site: Path) -> None:
    mermaid = built_site / "assets" / "vendor" / "mermaid.min.js"
    assert mermaid.stat().st_size > 100_000
    home = (built_site / "index.html").read_text(encoding="utf-8")
    assert "assets/vendor/mermaid.min.js" in home
    assert "fonts.googleapis.com" not in home


def test_link_checker_reports_broken_links_anchors_and_outside_resources(
    built_site: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    shutil.copytree(built_site, site)
    home = site / "index.html"
    html = home.read_text(encoding="utf-8")
    html = html.replace(
        "</body>",
        '<a href="guides/nowhere/">x</a><a href="guides/client/#no-such-anchor">y</a>'
        '<script src="https://cdn.example.org/lib.js"></script></body>',
    )
    home.write_text(html, encoding="utf-8")
    problems = check_links(site)
    assert any("guides/nowhere/" in p and "does not exist" in p for p in problems), problems
    assert any("#no-such-anchor" in p for p in problems), problems
    assert any("cdn.example.org" in p for p in problems), problems


def test_requirement_check_reports_a_missing_anchor(built_site: Path, tmp_path: Path) -> None:
    requirement, page = next(iter(defined_requirements().items()))
    site = tmp_path / "site"
    shutil.copytree(built_site, site)
    html = spec_page_html(site, page)
    html.write_text(
        html.read_text(encoding="utf-8").replace(f'id="{requirement}"', 'id="renamed"'),
        encoding="utf-8",
    )
    problems = check_requirement_anchors(site)
    assert problems == [
        f"{requirement}: 0 elements with id={requirement!r} in "
        f"{html.relative_to(site)} (expected exactly 1)"
    ]


def test_benchmarks_section_appears_with_results_and_keeps_their_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site_builder: Callable[[Path], Path]
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "2026-11-26-loopback.md").write_text(
        "# Fan-out on loopback\n\n| clients | events/s |\n| --- | --- |\n| 100 | 12000 |\n\n"
        "Raw numbers: [2026-11-26-loopback.json](2026-11-26-loopback.json)\n",
        encoding="utf-8",
    )
    (results / "2026-11-26-loopback.json").write_text('{"clients": 100}', encoding="utf-8")
    monkeypatch.setenv("CANAUX_SITE_BENCHMARKS", str(results))
    site = site_builder(tmp_path / "site")
    index = (site / "benchmarks" / "index.html").read_text(encoding="utf-8")
    assert "Fan-out on loopback" in index
    page = site / "benchmarks" / "2026-11-26-loopback" / "index.html"
    assert "12000" in page.read_text(encoding="utf-8")
    assert (site / "benchmarks" / "2026-11-26-loopback.json").is_file()
    assert check_links(site) == []


def test_benchmarks_section_exists_exactly_when_results_do(built_site: Path) -> None:
    has_results = bool(benchmarks.result_files())
    assert (built_site / "benchmarks" / "index.html").is_file() == has_results
    home = (built_site / "index.html").read_text(encoding="utf-8")
    assert ('href="benchmarks/"' in home) == has_results  # the navigation tab
