"""Origin checking from the command line and in a FastAPI mount (#10 finding 4): a page on a
foreign origin gets HTTP 403 before the upgrade and never a welcome [SECURITY-8, SECURITY-14].
"""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from fastapi import FastAPI
from websockets.exceptions import InvalidStatus

from canaux.cli import build_parser
from canaux.commands.serve import config_from_args
from canaux.server import ServerConfig, create_app
from canaux.server.testing import RunningServer, running_server, serve_app
from tests.reference.server.wire import TIMEOUT, open_ws, session

from .watcher import Watcher

pytestmark = pytest.mark.anyio

EVIL = "http://evil.example"
APP = "https://app.example"


def served(*flags: str) -> ServerConfig:
    """The config `canaux serve --port 0 --conformance FLAGS…` runs."""
    args = build_parser().parse_args(["serve", "--port", "0", "--conformance", *flags])
    return dataclasses.replace(config_from_args(args), log_level="warning")


async def assert_refused(server: RunningServer, origin: str) -> None:
    for path in ("/ws", "/ws/chat", "/api/ws"):
        with pytest.raises(InvalidStatus) as refused:
            async with open_ws(server, path, origin=origin):
                pass
        assert refused.value.response.status_code == 403, path
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        response = await client.get(
            server.events_url + "?channels=system", headers={"Origin": origin}
        )
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")


def test_allowed_origin_is_repeatable_and_normalised() -> None:
    config = served("--allowed-origin", "https://App.Example", "--allowed-origin", EVIL + ":8080")
    assert config.allowed_origins == frozenset({APP, EVIL + ":8080"})
    assert served().allowed_origins is None


@pytest.mark.parametrize("value", ["app.example", "https://app.example/", "https://a.b/path"])
def test_an_origin_that_could_never_match_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="--allowed-origin"):
        served("--allowed-origin", value)


def test_help_tells_the_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    help_text = capsys.readouterr().out
    for flag in ("--allowed-origin", "--max-connections", "--max-handshakes"):
        assert flag in help_text
    assert "--handshake-timeout-ms" in help_text


async def test_canaux_serve_refuses_a_foreign_origin() -> None:
    """SECURITY-14: 403 on /ws, the legacy sockets and /events; the allowed origin and
    non-browser clients (no Origin) are welcomed; a watcher notices nothing."""
    async with (
        running_server(served("--allowed-origin", APP)) as server,
        Watcher.watching(server) as watcher,
    ):
        await assert_refused(server, EVIL)
        async with session(server, connect_options={"origin": APP}) as (_, welcome):
            assert welcome["type"] == "welcome"
        await watcher.check()


async def test_a_fastapi_mount_refuses_a_foreign_origin() -> None:
    """SECURITY-14 in the mount of the guide: ``ServerConfig(allowed_origins=...)``."""
    config = dataclasses.replace(served(), allowed_origins=frozenset({APP}))
    canaux_app = create_app(config)
    api = FastAPI()
    api.mount("/canaux", canaux_app)
    async with serve_app(api, canaux_app, config, prefix="/canaux") as server:
        await assert_refused(server, EVIL)
        async with session(server, connect_options={"origin": APP}) as (_, welcome):
            assert welcome["type"] == "welcome"
