"""A standalone server whose own background task publishes (guide "Publish from your app").

Run it from the repository root with ``python -m docs.examples.standalone_server``; the tests
start it on a free port and stop it with SIGTERM (tests/docs/test_examples.py).
"""

from __future__ import annotations

# --8<-- [start:standalone]
import asyncio
from datetime import UTC, datetime

from canaux.server import ServerConfig, create_app, runtime_of, serve_async

from .library_channel import ScanResult, config

app = create_app(config)
server = runtime_of(app)


async def rescan(every_s: float) -> None:
    """A background task in the server's own loop: publish a fresh scan now and then."""
    while True:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        result = ScanResult(root="/music", files=0, bytes=0, finished=now)
        await server.publish("library", result.model_dump())
        await asyncio.sleep(every_s)


async def main(config: ServerConfig = config, every_s: float = 3600.0) -> None:
    scanner = asyncio.create_task(rescan(every_s))
    try:
        await serve_async(config, app=app)  # until Ctrl-C or SIGTERM
    finally:
        scanner.cancel()


# --8<-- [end:standalone]

if __name__ == "__main__":
    import argparse
    import dataclasses

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=config.port)
    parser.add_argument("--every", type=float, default=3600.0, help="seconds between scans")
    options = parser.parse_args()
    asyncio.run(main(dataclasses.replace(config, port=options.port), options.every))
