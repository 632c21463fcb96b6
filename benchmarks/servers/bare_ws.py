"""The floor: a bare ``websockets`` server that broadcasts each received text frame to all.

It does no parsing, no validation and no bookkeeping, so it is the most a Python WebSocket
server can deliver on this machine; the harness reports the others as ratios of it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from websockets.asyncio.server import ServerConnection, broadcast, serve

__all__ = ["main"]

_CONNECTIONS: set[ServerConnection] = set()


async def _handler(connection: ServerConnection) -> None:
    _CONNECTIONS.add(connection)
    try:
        async for message in connection:
            broadcast(_CONNECTIONS, message)
    finally:
        _CONNECTIONS.discard(connection)


async def _main(host: str, port: int) -> None:
    async with serve(_handler, host, port, max_size=None, ping_interval=None) as server:
        bound = server.sockets[0].getsockname()[1]
        print(f"listening on ws://{host}:{bound}/", flush=True)
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        asyncio.run(_main(args.host, args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
