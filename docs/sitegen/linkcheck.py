"""Checks on the built site: internal links and anchors resolve, nothing loads from outside,
and every requirement ID defined in spec/ has its own anchor on its page.

Run after ``mkdocs build``::

    python -m docs.sitegen.linkcheck site

It prints one line per problem and exits 1 when there is any (CloudEvents' ``verify.py``
plays the same role for its spec).
"""

from __future__ import annotations

import posixpath
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .paths import SPEC
from .spec_pages import defined_requirements

__all__ = [
    "SITE_URL",
    "check_links",
    "check_requirement_anchors",
    "main",
    "spec_page_html",
]

SITE_URL = "https://canaux.dev/"
"""mkdocs.yml's ``site_url``: absolute links under it are internal links."""

# Tags and attributes that make a browser fetch something when the page is shown.
_LOADING = {("script", "src"), ("img", "src"), ("source", "src"), ("iframe", "src")}
_LOADING_LINK_RELS = {"stylesheet", "icon", "preload", "modulepreload", "manifest"}


@dataclass
class _Page(HTMLParser):
    ids: Counter[str] = field(default_factory=Counter)
    links: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        HTMLParser.__init__(self, convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if "id" in values:
            self.ids[values["id"]] += 1
        if tag == "a" and "name" in values:
            self.ids[values["name"]] += 1
        for attr in ("href", "src"):
            if attr in values:
                self.links.append(values[attr])
                loads = (tag, attr) in _LOADING or (
                    tag == "link"
                    and _LOADING_LINK_RELS & set(values.get("rel", "").lower().split())
                )
                if loads:
                    self.resources.append(values[attr])


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    page.close()
    return page


def _target(site: Path, page: Path, link: str) -> tuple[Path, str] | None:
    """The file and fragment an internal link points to; ``None`` for an external link."""
    if link.startswith(SITE_URL):
        link = "/" + link.removeprefix(SITE_URL)
    parts = urlsplit(link)
    if parts.scheme or parts.netloc:
        return None
    if not parts.path:
        return page, unquote(parts.fragment)
    if parts.path.startswith("/"):
        relative = parts.path.lstrip("/")
    else:
        here = page.parent.relative_to(site).as_posix()
        relative = posixpath.normpath(posixpath.join(here, unquote(parts.path)))
    target = site / relative
    if parts.path.endswith("/") or target.is_dir():
        target = target / "index.html"
    return target, unquote(parts.fragment)


def check_links(site: Path) -> list[str]:
    """Every broken internal link or anchor, and every resource loaded from outside the site."""
    site = site.resolve()
    pages = sorted(site.rglob("*.html"))
    parsed = {page: _parse(page) for page in pages}
    problems: list[str] = []
    for page, content in parsed.items():
        name = page.relative_to(site).as_posix()
        for resource in content.resources:
            remote = urlsplit(resource).scheme in ("http", "https") or resource.startswith("//")
            if remote and not resource.startswith(SITE_URL):
                problems.append(f"{name}: loads {resource} from outside the site")
        for link in content.links:
            if urlsplit(link).scheme in ("mailto", "data", "javascript", "tel"):
                continue
            found = _target(site, page, link)
            if found is None:
                continue
            target, fragment = found
            if site not in target.resolve().parents:
                problems.append(f"{name}: {link} leaves the site")
                continue
            if not target.is_file():
                problems.append(f"{name}: {link} → {target.relative_to(site)} does not exist")
                continue
            if fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if fragment not in ids:
                    problems.append(f"{name}: {link} → no anchor #{fragment}")
    return problems


def spec_page_html(site: Path, spec_page: Path) -> Path:
    """The built HTML of a spec page: ``spec/x.md`` → ``spec/x/index.html`` (directory URLs)."""
    if spec_page.stem == "index":
        return site / "spec" / "index.html"
    return site / "spec" / spec_page.stem / "index.html"


def check_requirement_anchors(site: Path, spec_dir: Path = SPEC) -> list[str]:
    """Each requirement ID defined in spec/ must be the id of exactly one element of its page."""
    problems: list[str] = []
    for requirement, page in defined_requirements(spec_dir).items():
        html = spec_page_html(site, page)
        if not html.is_file():
            problems.append(f"{requirement}: {html.relative_to(site)} was not built")
            continue
        count = _parse(html).ids[requirement]
        if count != 1:
            problems.append(
                f"{requirement}: {count} elements with id={requirement!r} in "
                f"{html.relative_to(site)} (expected exactly 1)"
            )
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    site = Path(args[0] if args else "site")
    if not (site / "index.html").is_file():
        print(f"{site}: no built site here (run mkdocs build first)", file=sys.stderr)
        return 2
    problems = check_links(site) + check_requirement_anchors(site)
    for problem in problems:
        print(problem)
    requirements = len(defined_requirements())
    pages = sum(1 for _ in site.rglob("*.html"))
    print(
        f"{site}: {pages} pages, {requirements} requirement anchors checked, "
        f"{len(problems)} problem(s)"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
