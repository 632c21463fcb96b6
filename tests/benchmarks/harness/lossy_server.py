"""A deliberately broken peer: a bare broadcast server that never delivers every fifth frame to
the first connection. The harness must report the row as not delivered."""

from __future__ import annotations

import asyncio

from websockets.asyncio.server import ServerConnection, serve

__all__ = ["main"]

_CONNECTIONS: list[ServerConnection] = []


async def _handler(connection: ServerConnection) -> None:
    _CONNECTIONS.append(connection)
    count = 0
    try:
        async for message in connection:
            count += 1
            for i, other in enumerate(list(_CONNECTIONS)):
                if i == 0 and count % 5 == 0:
                    continue  # the flaw: this one never gets it
                await other.send(message)
    finally:
        _CONNECTIONS.remove(connection)


async def _main() -> None:
    async with serve(_handler, "127.0.0.1", 0, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on ws://127.0.0.1:{port}/", flush=True)
        await server.serve_forever()


def main() -> None:
    asyncio.run(_main())


if __name__ == "__main__":
    main()
