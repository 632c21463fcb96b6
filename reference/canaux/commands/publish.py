"""``canaux publish CHANNEL JSON``: publish one message and wait for its ack
(operations.md, client.md).

Exit status: 0 when the server acked; 1 when it answered an ``error`` (its code is printed);
3 when no connection could be made in time or the server closed it for good.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from canaux.client.client import Client
from canaux.client.compat import resolve_ws_url
from canaux.client.errors import ClientError, PublishRejected
from canaux.protocol.client import OutboxFull

__all__ = ["EXIT_NOT_DELIVERED", "EXIT_REJECTED", "add_parser", "run"]

EXIT_REJECTED = 1
EXIT_NOT_DELIVERED = 3


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``publish`` sub-command."""
    parser = subparsers.add_parser(
        "publish",
        help="publish one JSON message on a channel",
        description="Publish JSON on CHANNEL and wait for the server's ack.",
    )
    parser.add_argument("channel", metavar="CHANNEL")
    parser.add_argument("data", metavar="JSON", help="the message data, as JSON text")
    parser.add_argument(
        "--url", default=None, help="WebSocket URL (default: $WS_URL or ws://localhost:8001/ws)"
    )
    parser.add_argument("--token", default=None, help="token sent in hello")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for the ack (default 10)"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``canaux publish``; returns the exit status."""
    try:
        data = json.loads(args.data)
    except ValueError as exc:
        print(f"canaux: JSON argument is not valid JSON: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_publish(args, data))


async def _publish(args: argparse.Namespace, data: Any) -> int:
    url = resolve_ws_url(args.url)
    client = Client(url, token=args.token)
    try:
        async with asyncio.timeout(args.timeout):
            await client.connect()
            await client.send(args.channel, data)
    except PublishRejected as exc:
        where = f" at {exc.pointer}" if exc.pointer else ""
        print(f"canaux: rejected: {exc.code}{where}: {exc.message}", file=sys.stderr)
        return EXIT_REJECTED
    except TimeoutError:
        print(f"canaux: no ack from {url} within {args.timeout:g} s", file=sys.stderr)
        return EXIT_NOT_DELIVERED
    except (ClientError, OutboxFull) as exc:
        print(f"canaux: {exc}", file=sys.stderr)
        return EXIT_NOT_DELIVERED
    except ValueError as exc:
        print(f"canaux: {exc}", file=sys.stderr)
        return 2
    finally:
        await client.close()
    print(json.dumps({"channel": args.channel, "acked": True}), flush=True)
    return 0
