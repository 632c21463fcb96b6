"""Browser check 1: the built site renders its mermaid diagrams offline, without console errors.

Opens the home page and a spec page in headless chromium, served from 127.0.0.1 with every
request to any other host refused and recorded, and checks that each diagram became an SVG.
Material draws diagrams into *closed* shadow roots, which page scripts cannot see, so the
check reads the DOM through the DevTools protocol (``DOM.getDocument`` with ``pierce``).
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Route
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from docs.sitegen.linkcheck import spec_page_html
from docs.sitegen.spec_pages import spec_sources

pytestmark = pytest.mark.slow

_MERMAID_FENCE = re.compile(r"^\s*```mermaid\s*$", re.MULTILINE)
_TIMEOUT_MS = 30_000
_COUNT_PAGE_ERRORS = """
window.__canauxPageErrors = 0;
window.addEventListener("error", () => { window.__canauxPageErrors += 1; });
window.addEventListener("unhandledrejection", () => { window.__canauxPageErrors += 1; });
"""


def _rendered_diagrams(page: Page) -> list[dict[str, str]]:
    """For each ``div.mermaid``: the kind of diagram its SVG declares (``error`` if it failed)."""
    cdp = page.context.new_cdp_session(page)
    try:
        document: dict[str, Any] = cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})
    finally:
        cdp.detach()
    found: list[dict[str, str]] = []

    def attributes(node: dict[str, Any]) -> dict[str, str]:
        flat = node.get("attributes", [])
        return dict(zip(flat[::2], flat[1::2], strict=True))

    def first_svg(node: dict[str, Any]) -> dict[str, Any] | None:
        if node.get("nodeName", "").lower() == "svg":
            return node
        for child in node.get("children", []) + node.get("shadowRoots", []):
            svg = first_svg(child)
            if svg is not None:
                return svg
        return None

    def walk(node: dict[str, Any]) -> None:
        if node.get("nodeName") == "DIV" and "mermaid" in attributes(node).get("class", "").split():
            svg = None
            for root in node.get("shadowRoots", []):
                svg = svg or first_svg(root)
            svg_attributes = attributes(svg) if svg else {}
            found.append(
                {
                    "svg": "yes" if svg else "no",
                    "kind": svg_attributes.get("aria-roledescription", "unknown"),
                    "children": str(len(svg.get("children", [])) if svg else 0),
                }
            )
        for child in node.get("children", []) + node.get("shadowRoots", []):
            walk(child)
        if "contentDocument" in node:
            walk(node["contentDocument"])

    walk(document["root"])
    return found


def _pages_with_diagrams(site: Path) -> dict[str, Path]:
    """Screenshot name → built page, for the home page and every page that has a diagram.

    At least one spec page must have one: the spec's sequence diagrams are part of what
    this check is for.
    """
    pages = {"site-home": site / "index.html"}
    for page in spec_sources():
        if _MERMAID_FENCE.search(page.read_text(encoding="utf-8")):
            pages[f"site-spec-{page.stem}"] = spec_page_html(site, page)
    if len(pages) == 1:
        pytest.fail("no page of spec/ contains a ```mermaid diagram to check")
    for html in sorted(site.rglob("*.html")):
        name = "site-" + "-".join(html.relative_to(site).parent.parts)
        if html not in pages.values() and 'class="mermaid"' in html.read_text(encoding="utf-8"):
            pages[name] = html
    return pages


@pytest.mark.timeout(300)
def test_pages_render_their_diagrams_offline_without_console_errors(
    built_site: Path, browser: Browser, checks_dir: Path, serve: Any
) -> None:
    targets = _pages_with_diagrams(built_site)
    outside: list[str] = []
    problems: list[str] = []

    def only_loopback(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:  # the site must work offline: nothing may come from a CDN
            outside.append(route.request.url)
            route.abort()

    with serve(built_site) as base:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.route("**/*", only_loopback)
        try:
            for name, html in targets.items():
                page = context.new_page()
                problems += _check_page(page, base, built_site, html, name, checks_dir)
        finally:
            context.close()
    assert outside == [], f"the site loaded resources from outside 127.0.0.1: {outside}"
    assert problems == [], "\n".join(problems)


def _check_page(
    page: Page, base: str, site: Path, html: Path, name: str, checks_dir: Path
) -> list[str]:
    """Open one page; what is wrong with its diagrams or console (empty when all is well)."""
    expected = html.read_text(encoding="utf-8").count('class="mermaid"')
    if expected == 0:
        return [f"{name}: the page has no diagram to render"]
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.add_init_script(_COUNT_PAGE_ERRORS)
    path = "/" + html.relative_to(site).as_posix().removesuffix("index.html")
    try:
        page.goto(base + path, wait_until="load", timeout=_TIMEOUT_MS)
        # Material swaps each <pre class="mermaid"> for a <div class="mermaid"> once drawn; a
        # diagram that fails to parse stays a <pre> and raises in the page, which ends the wait.
        with contextlib.suppress(PlaywrightTimeoutError):
            page.wait_for_function(
                "n => document.querySelectorAll('div.mermaid').length === n"
                " || window.__canauxPageErrors > 0",
                arg=expected,
                timeout=_TIMEOUT_MS,
            )
        diagrams = _rendered_diagrams(page)
        page.screenshot(path=checks_dir / f"{name}.png", full_page=True)
    finally:
        page.close()
    problems = [f"{name}: console error: {error}" for error in errors]
    if len(diagrams) != expected:
        problems.append(f"{name}: {len(diagrams)} of {expected} diagrams were drawn")
    for diagram in diagrams:
        if diagram["svg"] != "yes" or diagram["kind"] == "error" or diagram["children"] == "0":
            problems.append(f"{name}: a diagram did not render as an SVG: {diagram}")
    return problems
