"""``python -m examples.soniquebay.backend``: run the backend (FastAPI + Canaux at /canaux).

Prints one line once it listens (``soniquebay backend: listening on http://HOST:PORT``), which
is how ``--port 0`` (a free port) tells its port. Ctrl-C or SIGTERM stops it gracefully: every
Canaux client gets close code 1001 and reconnects by itself when the backend is back.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from canaux.server import ServerConfig
from canaux.server.run import CanauxUvicornServer, uvicorn_config
from examples.soniquebay.backend.app import MOUNT_PATH, create_backend

MUSIC_ENV = "SONIQUEBAY_MUSIC"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.soniquebay.backend",
        description="The SoniqueBay backend: FastAPI with Canaux mounted at /canaux.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8001, help="port to listen on (8001; 0 picks a free one)"
    )
    parser.add_argument(
        "--music",
        type=Path,
        default=Path(os.environ[MUSIC_ENV]) if os.environ.get(MUSIC_ENV) else None,
        help=f"the music folder a scan walks (default ${MUSIC_ENV}; unset: no scans)",
    )
    parser.add_argument(
        "--chunk-delay",
        type=float,
        default=0.15,
        help="seconds the demo chat agent waits before each word of its reply (0.15)",
    )
    parser.add_argument("--log-level", default="warning", help="uvicorn's log level (warning)")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    config = ServerConfig(host=args.host, port=args.port, log_level=args.log_level)
    backend = create_backend(args.music, chunk_delay_s=args.chunk_delay, config=config)
    server = CanauxUvicornServer(uvicorn_config(backend.api, config), backend.canaux)

    def listening(host: str, port: int) -> None:
        print(f"soniquebay backend: listening on http://{host}:{port}", flush=True)
        print(f"soniquebay backend: Canaux at ws://{host}:{port}{MOUNT_PATH}/ws", flush=True)

    server.on_listening = listening
    await server.serve()


def main(argv: list[str] | None = None) -> int:
    try:
        asyncio.run(serve(parse_args(argv)))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
