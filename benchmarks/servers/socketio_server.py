"""What a user might pick instead: python-socketio under uvicorn, every client in one room.

A ``publish`` event from any client is emitted as ``event`` to the room, the sender included,
which is the same work the bare server and ``canaux serve`` do in the fan-out scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from typing import Any

import socketio
import uvicorn

__all__ = ["main"]

ROOM = "bench"


def build_app() -> Any:
    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")

    @sio.event  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: dict[str, Any]) -> None:
        await sio.enter_room(sid, ROOM)

    @sio.event  # type: ignore[untyped-decorator]
    async def publish(sid: str, data: Any) -> None:
        await sio.emit("event", data, room=ROOM)

    return socketio.ASGIApp(sio)


async def _main(host: str, port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    config = uvicorn.Config(build_app(), log_level="warning", ws="websockets", lifespan="off")
    server = uvicorn.Server(config)
    print(f"listening on ws://{host}:{bound}/socket.io/", flush=True)
    await server.serve(sockets=[sock])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(_main(args.host, args.port))


if __name__ == "__main__":
    main()
