"""Fixtures for the site checks: a strictly built site, a static server, Debian's chromium.

The browser checks drive the system chromium through Playwright (``executable_path``); they
never download a browser. When chromium is missing they fail, naming the command that
installs it (``make docs-deps``): a browser check that silently skips proves nothing.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `docs.sitegen` is imported from the checkout, not installed
    sys.path.insert(0, str(REPO))

from playwright.sync_api import Browser, sync_playwright  # noqa: E402

from canaux_conformance.client.browser.adapter import (  # noqa: E402
    CHROMIUM_FLAGS,
    DEFAULT_EXECUTABLE,
)

CHROMIUM = DEFAULT_EXECUTABLE
# Without the background-networking flags chromium keeps dialling out, and this machine's
# closed network refuses it; the other flags make it a quiet, fresh, headless browser (the
# conformance suite's browser adapter launches it with the same ones).
CHROMIUM_ARGS = list(CHROMIUM_FLAGS)
CHECKS_DIR = REPO / "build" / "browser-checks"
"""Screenshots of the browser checks land here, for people to look at."""


def build_site(destination: Path) -> Path:
    """``mkdocs build --strict`` into ``destination``; fails the test with mkdocs' output."""
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(destination)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}")
    return destination


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output clean: one line per request is noise here."""


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1 (a free port); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="static-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def site_builder() -> Callable[[Path], Path]:
    """``site_builder(folder)`` runs ``mkdocs build --strict`` into ``folder``."""
    return build_site


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once per test session with ``mkdocs build --strict``."""
    return build_site(tmp_path_factory.mktemp("site") / "site")


ServeDirectory = Callable[[Path], contextlib.AbstractContextManager[str]]


@pytest.fixture(scope="session")
def serve() -> ServeDirectory:
    """``with serve(folder) as base_url:`` serves a folder on 127.0.0.1 while the block runs."""
    return serve_directory


@pytest.fixture(scope="session")
def checks_dir() -> Path:
    CHECKS_DIR.mkdir(parents=True, exist_ok=True)
    return CHECKS_DIR


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian chromium, driven by Playwright; a missing chromium fails loudly.

    Module scope: Playwright's sync API runs an event loop in the main thread for as long as
    it is open, and asyncio tests of other folders cannot start theirs until it is closed.
    """
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} not found: the browser checks need Debian's chromium "
            "(`make docs-deps` installs it: apt-get install -y chromium)"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=60_000
        )
        try:
            yield launched
        finally:
            launched.close()
