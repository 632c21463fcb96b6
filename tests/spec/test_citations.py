"""Code, tests and docs cite the spec by page, never by a section number (spec/index.md).

The spec's pages carry no numbers (``transport.md``, ``limits.md``…); the section numbers of an
earlier numbered layout went stale as pages came and moved. A section sign followed by a digit
is only for another document's sections (RFC 6455 §5.4, WHATWG HTML §9.2), and that document is
named before it on the same line, or on the line before when a wrapped line opens with the
section sign. ``tests/conformance/test_cli.py`` checks the CLI help the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__: list[str] = []

REPO = Path(__file__).resolve().parents[2]
ROOTS = ("reference", "conformance", "tests", "docs/content", "README.md")
SUFFIXES = frozenset({".py", ".md", ".html", ".js", ".css", ".txt", ".toml", ".json"})
SECTION = re.compile("\u00a7\\s*\\d")
"""A section sign followed by a digit (spelt out so that this file does not match itself)."""
OUTSIDE = re.compile(r"\b(RFC|WHATWG|ECMA|IETF|W3C|ISO)\b|rfc\d", re.IGNORECASE)
"""The outside documents whose numbered sections may be cited."""
SPEC_PAGE = re.compile(r"\bspec ([a-z][a-z-]*\.md)\b")


def _files() -> list[Path]:
    found: list[Path] = []
    for root in ROOTS:
        path = REPO / root
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        found += [
            p
            for p in candidates
            if p.is_file() and p.suffix in SUFFIXES and "__pycache__" not in p.parts
        ]
    return found


def _lines() -> list[tuple[str, int, str, str]]:
    """(file, line number, line, the line before) of every file scanned."""
    rows: list[tuple[str, int, str, str]] = []
    for path in _files():
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            continue
        name = str(path.relative_to(REPO))
        rows += [(name, i + 1, line, lines[i - 1] if i else "") for i, line in enumerate(lines)]
    return rows


def _outside(line: str, before: str) -> bool:
    """Whether every section sign with a digit in ``line`` follows an outside document's name
    on the line, or opens the line after a line that names one."""
    for found in SECTION.finditer(line):
        head = line[: found.start()]
        if not OUTSIDE.search(head) and (head.strip() or not OUTSIDE.search(before)):
            return False
    return True


def test_the_scan_sees_the_code_tests_and_docs() -> None:
    names = {row[0] for row in _lines()}
    assert "README.md" in names
    assert any(n.startswith("reference/canaux/") for n in names)
    assert any(n.startswith("conformance/canaux_conformance/") for n in names)
    assert any(n.startswith("docs/content/") for n in names)


def test_no_section_numbers_of_the_spec_are_cited() -> None:
    stale = [
        f"{name}:{number}: {line.strip()}"
        for name, number, line, before in _lines()
        if SECTION.search(line) and not _outside(line, before)
    ]
    assert not stale, "cite the spec page (limits.md…), not a section number:\n" + "\n".join(stale)


def test_the_rule_tells_outside_documents_from_stale_spec_sections() -> None:
    sign = "\u00a7"
    assert _outside(f"a frame (RFC 6455 {sign}5.2) is", "")
    assert _outside(f"(WHATWG HTML {sign}9.2 event stream)", "")
    assert _outside(f"{sign}15.5.9); SECURITY-13 bounds", "on an idle connection, RFC 9110")
    assert not _outside(f"the limits (spec {sign}11)", "")
    assert not _outside(f"(spec {sign}12) and RFC 6455", "")
    assert not _outside(f"{sign}12 registries", "see the spec")


def test_spec_pages_cited_as_spec_page_md_exist() -> None:
    missing = [
        f"{name}:{number}: spec {page}"
        for name, number, line, _ in _lines()
        for page in SPEC_PAGE.findall(line)
        if not (REPO / "spec" / page).is_file()
    ]
    assert not missing, "\n".join(missing)
