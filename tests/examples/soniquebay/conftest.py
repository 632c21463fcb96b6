"""Fixtures of the seed app's browser test: the running app and Debian's chromium."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

# The browser fixture is the docs checks' one (Debian chromium, module scope), not a copy.
from tests.docs.conftest import browser as browser
from tests.examples.soniquebay.seed_app import TRACKS, SeedApp, spawn, start_backend


@pytest.fixture(scope="module")
def seed_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeedApp]:
    """Backend and frontend, started once for the module and stopped at its end.

    The frontend is not waited for here: it starts while chromium does.
    """
    music = tmp_path_factory.mktemp("music")
    for relative in TRACKS:
        (music / relative).parent.mkdir(parents=True, exist_ok=True)
        (music / relative).write_bytes(b"")
    (music / "cover.jpg").write_bytes(b"")  # not a track: the scan skips it
    backend, port = start_backend(music, 0)
    frontend = spawn(
        "frontend",
        "examples.soniquebay.frontend",
        "--port",
        "0",
        env={"WS_URL": f"ws://127.0.0.1:{port}", "CANAUX_MOUNT_PATH": "/canaux"},
    )
    with httpx.Client(timeout=10) as http:
        app = SeedApp(music=music, backend=backend, backend_port=port, frontend=frontend, http=http)
        try:
            yield app
        finally:
            app.stop()
