"""The app's ``/ws`` served ahead of Starlette's middleware stack (issue #14), standalone,
mounted under a prefix, and through middleware an app was given."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from starlette._utils import get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send

from canaux.server import create_app
from canaux.server.app import _route_path, runtime_of
from canaux.server.testing import serve_app
from canaux.server.websocket import WebSocketLink

from .wire import make_config, request, session

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("path", "root_path"),
    [
        ("/ws", ""),
        ("/canaux/ws", "/canaux"),
        ("/canaux", "/canaux"),
        ("/canauxws", "/canaux"),
        ("/ws", "/canaux"),  # a server that cut the path itself (Starlette before 0.33)
        ("/a/b/ws", "/a/b"),
    ],
)
def test_the_route_path_is_starlettes(path: str, root_path: str) -> None:
    scope: dict[str, Any] = {"type": "websocket", "path": path, "root_path": root_path}
    assert _route_path(scope) == get_route_path(scope)


def _awaited(link: WebSocketLink) -> list[str]:
    """The qualified names of the coroutines the connection's task is suspended in."""
    assert link._task is not None
    names = []
    coro: Any = link._task.get_coro()
    while coro is not None and hasattr(coro, "cr_code"):
        names.append(coro.cr_code.co_qualname)
        coro = coro.cr_await
    return names


class _Seen:
    """A pure ASGI middleware noting the scope types it passes on."""

    def __init__(self, app: ASGIApp, seen: list[str]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append(scope["type"])
        await self.app(scope, receive, send)


@pytest.mark.parametrize("prefix", ["", "/canaux"])
async def test_ws_goes_from_the_app_straight_to_the_door(prefix: str) -> None:
    config = make_config()
    canaux_app = create_app(config)
    outer: Any = canaux_app
    if prefix:
        outer = FastAPI()
        outer.mount(prefix, canaux_app)
    async with (
        serve_app(outer, canaux_app, config, prefix=prefix) as server,
        session(server) as (ws, _welcome),
    ):
        await request(ws, {"type": "subscribe", "id": "s", "channel": "conformance.a"})
        (link,) = runtime_of(canaux_app).connections
        assert isinstance(link, WebSocketLink)
        names = _awaited(link)
        at = names.index("_CanauxApp.__call__")
        # No error or exception middleware, router or route in between.
        assert names[at + 1] == "websocket_endpoint", names
        # uvicorn's task runs the app directly (ws_protocol ends it in a done callback).
        assert names[0] == "WebSocketsSansIOProtocol.run_asgi", names


async def test_an_app_given_middleware_serves_ws_through_it() -> None:
    config = make_config()
    canaux_app = create_app(config)
    seen: list[str] = []
    canaux_app.add_middleware(_Seen, seen=seen)
    async with (
        serve_app(canaux_app, canaux_app, config) as server,
        session(server) as (ws, _welcome),
    ):
        await request(ws, {"type": "subscribe", "id": "s", "channel": "conformance.a"})
        (link,) = runtime_of(canaux_app).connections
        assert isinstance(link, WebSocketLink)
        assert "_Seen.__call__" in _awaited(link)
        assert "websocket" in seen
