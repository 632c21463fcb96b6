"""Test support: run a reference server in-process on a free port (spec index.md).

::

    from canaux.server import ServerConfig
    from canaux.server.testing import running_server

    async with running_server(ServerConfig(conformance=True)) as server:
        async with websockets.asyncio.client.connect(server.ws_url, subprotocols=["canaux.v1"]):
            ...

The server listens on ``config.host`` (127.0.0.1 by default) and a free port (``port=0``);
entering waits until uvicorn has started, leaving shuts it down gracefully (clients get 1001)
and waits until it has stopped. Everything is bounded by ``timeout_s`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette

from canaux.server.app import create_app, runtime_of
from canaux.server.config import ServerConfig
from canaux.server.run import CanauxUvicornServer, uvicorn_config
from canaux.server.runtime import ServerRuntime

__all__ = ["RunningServer", "running_server", "serve_app"]


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A server started by :func:`running_server`: its address and its internals."""

    host: str
    port: int
    app: Starlette
    uvicorn: CanauxUvicornServer
    prefix: str = ""
    """Path prefix of the Canaux app (``/canaux`` when mounted there)."""

    @property
    def runtime(self) -> ServerRuntime:
        return runtime_of(self.app)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}{self.prefix}"

    @property
    def ws_base(self) -> str:
        return f"ws://{self.host}:{self.port}{self.prefix}"

    @property
    def ws_url(self) -> str:
        return f"{self.ws_base}/ws"

    @property
    def events_url(self) -> str:
        return f"{self.base_url}/events"


@contextlib.asynccontextmanager
async def serve_app(
    asgi_app: Starlette,
    canaux_app: Starlette,
    config: ServerConfig,
    *,
    prefix: str = "",
    port: int = 0,
    timeout_s: float = 20.0,
) -> AsyncIterator[RunningServer]:
    """Serve ``asgi_app`` (which is ``canaux_app`` or mounts it at ``prefix``) on ``port``.

    ``port`` is 0 (a free port) unless given: ``config.port`` is ignored, since its default is
    8001, the very port a Canaux user's own backend listens on.
    """
    settings = uvicorn_config(
        asgi_app,
        dataclasses.replace(config, port=port),
        log_level="warning",
    )
    server = CanauxUvicornServer(settings, canaux_app)
    # The test runner keeps its own signal handling (Ctrl-C must still stop pytest).
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    listening = asyncio.Event()
    server.on_listening = lambda host, port: listening.set()
    task = asyncio.create_task(server.serve(), name="canaux test server")
    try:
        async with asyncio.timeout(timeout_s):
            # Either the server is listening, or serve() ended (a startup failure).
            waiter = asyncio.create_task(listening.wait())
            await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
        if not listening.is_set():
            task.result()  # raises the startup error, if any
            raise RuntimeError("the server stopped during startup")
        yield RunningServer(config.host, server.bound_port, canaux_app, server, prefix)
    finally:
        server.should_exit = True
        async with asyncio.timeout(timeout_s):
            with contextlib.suppress(asyncio.CancelledError):
                await task


@contextlib.asynccontextmanager
async def running_server(
    config: ServerConfig | None = None, *, port: int = 0, timeout_s: float = 20.0
) -> AsyncIterator[RunningServer]:
    """Run a reference server on ``config.host`` and ``port`` (default: a free port)."""
    config = dataclasses.replace(config if config is not None else ServerConfig(), port=port)
    app = create_app(config)
    async with serve_app(app, app, config, port=port, timeout_s=timeout_s) as server:
        yield server
