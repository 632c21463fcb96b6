"""A deliberately limited peer: a bare broadcast server that completes the first LIMIT opening
handshakes (its one argument) and leaves every later one unanswered, as a server that cannot
hold more connections does. The idle scenario must fail saying how far it got."""

from __future__ import annotations

import asyncio
import sys

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

__all__ = ["main"]


async def _handler(connection: ServerConnection) -> None:
    async for _message in connection:
        pass


async def _main(limit: int) -> None:
    seen = 0
    never = asyncio.Event()

    async def process_request(connection: ServerConnection, request: Request) -> Response | None:
        nonlocal seen
        seen += 1
        if seen > limit:
            await never.wait()  # the flaw: this handshake is never answered
        return None

    async with serve(
        _handler, "127.0.0.1", 0, ping_interval=None, process_request=process_request,
        open_timeout=None,
    ) as server:  # fmt: skip
        port = server.sockets[0].getsockname()[1]
        print(f"listening on ws://127.0.0.1:{port}/", flush=True)
        await server.serve_forever()


def main() -> None:
    asyncio.run(_main(int(sys.argv[1])))


if __name__ == "__main__":
    main()
