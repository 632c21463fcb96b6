"""The normative pages of spec/, read in place, and the requirement IDs they define.

The site renders ``spec/*.md`` directly (the hook adds them as files at build time), so
there is no second copy to drift. The requirement IDs come from the requirement index that
tests/spec generates from those pages.
"""

from __future__ import annotations

import re
from pathlib import Path

import canaux_schemas

from .paths import SPEC

__all__ = [
    "defined_requirements",
    "page_title",
    "requirement_sort_key",
    "spec_sources",
]

_LINK_RE = re.compile(r"\]\(\s*(?:\./)?([A-Za-z0-9_.-]+\.md)(?:#[^)]*)?\)")
_NUMBERED_RE = re.compile(r"^\s*\d+\.\s+(.*)$", re.MULTILINE)
_HEADING_RE = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)


def spec_sources(spec_dir: Path = SPEC) -> list[Path]:
    """Every page of the spec, in reading order.

    ``index.md`` comes first; then the pages of its numbered table of contents, in that
    order; then pages it links elsewhere; then any other page, by name — so a new page shows
    up even before it is linked.
    """
    pages = sorted(spec_dir.glob("*.md"))
    by_name = {page.name: page for page in pages}
    ordered: list[Path] = []
    index = by_name.get("index.md")
    if index is not None:
        ordered.append(index)
        text = index.read_text(encoding="utf-8")
        contents = [m for line in _NUMBERED_RE.findall(text) for m in _LINK_RE.findall(line)]
        for name in contents + _LINK_RE.findall(text):
            page = by_name.get(name)
            if page is not None and page not in ordered:
                ordered.append(page)
    ordered.extend(page for page in pages if page not in ordered)
    return ordered


def page_title(page: Path) -> str:
    """The page's first level-1 heading, else its file name made readable."""
    match = _HEADING_RE.search(page.read_text(encoding="utf-8"))
    if match:
        return match.group(1).strip()
    return page.stem.replace("-", " ").capitalize()


def defined_requirements(spec_dir: Path = SPEC) -> dict[str, Path]:
    """Requirement ID → the spec page that defines it, in spec order.

    Read from the requirement index (``schemas/requirements.json``), which tests/spec
    regenerates from spec/ and keeps in step with it: one parser of the spec, not two.
    """
    return {entry["id"]: spec_dir / entry["page"] for entry in canaux_schemas.requirements()}


def requirement_sort_key(requirement: str) -> tuple[int, int, str]:
    """Order IDs as the spec defines them (``OPS-2`` before ``OPS-10``); unknown IDs last."""
    order = _spec_order()
    prefix, _, number = requirement.rpartition("-")
    rank = order.get(prefix, len(order))
    return (rank, int(number) if number.isdigit() else 0, requirement)


def _spec_order() -> dict[str, int]:
    """Each requirement prefix → the rank of its first appearance in the spec."""
    order: dict[str, int] = {}
    for entry in canaux_schemas.requirements():
        order.setdefault(entry["id"].rpartition("-")[0], len(order))
    return order
