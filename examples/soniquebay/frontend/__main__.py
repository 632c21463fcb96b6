"""``python -m examples.soniquebay.frontend``: run the NiceGUI frontend.

``WS_URL`` is the backend's base URL as in the seed note (default ``ws://127.0.0.1:8001``) and
``CANAUX_MOUNT_PATH`` the path Canaux is mounted at (default ``/canaux``). Prints one line once
it listens (``soniquebay frontend: http://HOST:PORT/``), which is how ``--port 0`` tells its
port.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
from types import FrameType

import uvicorn
from fastapi import FastAPI
from nicegui import ui

from canaux.client.compat import MOUNT_PATH_ENV, WS_URL_ENV
from examples.soniquebay.frontend.app import setup


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.soniquebay.frontend",
        description="The SoniqueBay frontend (NiceGUI); WS_URL and CANAUX_MOUNT_PATH name "
        "the backend's Canaux endpoint.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8080, help="port to listen on (8080; 0 picks a free one)"
    )
    parser.add_argument("--log-level", default="warning", help="uvicorn's log level (warning)")
    return parser.parse_args(argv)


class _Server(uvicorn.Server):
    """uvicorn, printing where it listens, and exiting 0 after a graceful stop (SIGTERM)."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # uvicorn re-raises the signal once stopped (status -15 or 130); the stop was graceful.
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured.clear()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            port = next(
                int(sock.getsockname()[1]) for server in self.servers for sock in server.sockets
            )
            print(f"soniquebay frontend: http://{self.config.host}:{port}/", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault(WS_URL_ENV, "ws://127.0.0.1:8001")
    os.environ.setdefault(MOUNT_PATH_ENV, "/canaux")
    api = FastAPI()
    setup()
    ui.run_with(api, title="SoniqueBay", show_welcome_message=False)
    config = uvicorn.Config(api, host=args.host, port=args.port, log_level=args.log_level)
    try:
        asyncio.run(_Server(config).serve())
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
