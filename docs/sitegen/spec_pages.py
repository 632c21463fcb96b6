"""The normative pages of spec/, read in place, and the requirement IDs they define.

The site renders ``spec/*.md`` directly (the hook adds them as files at build time), so
there is no second copy to drift. Requirement IDs are the ones listed in the contract's
"Requirement IDs" section; a definition reads ``<a id="RESUME-3"></a>**[RESUME-3]** …``.
"""

from __future__ import annotations

import re
from pathlib import Path

from .paths import SPEC

__all__ = [
    "REQUIREMENT_PREFIXES",
    "defined_requirements",
    "page_title",
    "requirement_sort_key",
    "spec_sources",
]

REQUIREMENT_PREFIXES = (
    "TRANSPORT",
    "HANDSHAKE",
    "CHANNEL",
    "OPS",
    "DELIVERY",
    "RESUME",
    "HEARTBEAT",
    "SECURITY",
    "CHAT",
    "QUEUE",
    "SYSTEM",
    "PROGRESS",
    "CONF",
    "LIMIT",
    "SSE",
    "LEGACY",
    "HTTP",
    "CLIENT",
)

# A definition is a statement that starts with the bold bracketed ID (after an optional list
# marker and the ID's own anchor); a citation or an example mid-sentence is not one.
_DEFINITION_RE = re.compile(
    r"^[ \t]*(?:[-*+][ \t]+|\d+\.[ \t]+)?(?:<a\s[^>]*></a>[ \t]*)?"
    r"\*\*\[((?:" + "|".join(REQUIREMENT_PREFIXES) + r")-\d+)\]\*\*",
    re.MULTILINE,
)
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
    """Requirement ID → the spec page that defines it (its first definition)."""
    found: dict[str, Path] = {}
    for page in spec_sources(spec_dir):
        for requirement in _DEFINITION_RE.findall(page.read_text(encoding="utf-8")):
            found.setdefault(requirement, page)
    return found


def requirement_sort_key(requirement: str) -> tuple[int, int, str]:
    """Order IDs by the contract's prefix order, then by number (``OPS-2`` before ``OPS-10``)."""
    prefix, _, number = requirement.rpartition("-")
    rank = REQUIREMENT_PREFIXES.index(prefix) if prefix in REQUIREMENT_PREFIXES else 99
    return (rank, int(number) if number.isdigit() else 0, requirement)
