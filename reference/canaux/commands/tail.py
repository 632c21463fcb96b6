"""``canaux tail CHANNEL...``: print every event of some channels, one JSON line each (client.md).

The command is a :class:`~canaux.client.Client` like any other: it reconnects by itself,
resumes its session, and says on stderr when a lost session forced a resynchronisation.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from typing import Any

from canaux.client.client import Client, ClientState
from canaux.client.compat import resolve_ws_url
from canaux.client.errors import ClientError

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``tail`` sub-command."""
    parser = subparsers.add_parser(
        "tail",
        help="print the events of channels as JSON lines",
        description=(
            "Subscribe to CHANNELs and print each event as one JSON line "
            '{"channel": ..., "data": ...}; reconnects and resumes by itself.'
        ),
    )
    parser.add_argument("channels", nargs="+", metavar="CHANNEL", help="channel to follow")
    parser.add_argument(
        "--url", default=None, help="WebSocket URL (default: $WS_URL or ws://localhost:8001/ws)"
    )
    parser.add_argument("--token", default=None, help="token sent in hello")
    parser.add_argument(
        "--count", type=int, default=None, help="exit after printing this many events"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``canaux tail``; returns the exit status."""
    try:
        return asyncio.run(_tail(args))
    except KeyboardInterrupt:
        return 130


async def _tail(args: argparse.Namespace) -> int:
    url = resolve_ws_url(args.url)
    count: int | None = args.count
    printed = 0
    done = asyncio.Event()
    client = Client(url, token=args.token)

    def printer(channel: str) -> Any:
        def show(data: Any) -> None:
            nonlocal printed
            if done.is_set():
                return
            line = json.dumps({"channel": channel, "data": data}, ensure_ascii=False)
            print(line, flush=True)
            printed += 1
            if count is not None and printed >= count:
                done.set()

        return show

    def on_state(state: ClientState) -> None:
        print(f"canaux: {state.value} ({url})", file=sys.stderr, flush=True)
        if state is ClientState.CLOSED:
            done.set()

    def on_reset() -> None:
        print("canaux: session lost; events may have been missed", file=sys.stderr, flush=True)

    for channel in args.channels:
        client.register_handler(channel, printer(channel))
    client.on_state(on_state)
    client.on_reset(on_reset)
    try:
        await client.wait_ready()
        print(f"canaux: following {', '.join(args.channels)}", file=sys.stderr, flush=True)
        await done.wait()
    except ClientError as exc:
        print(f"canaux: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        with contextlib.suppress(ClientError):
            await client.close()
    if count is not None and printed >= count:
        return 0
    # Only a connection closed for good (CLIENT-4) ends the wait without the count reached.
    print("canaux: connection closed by the server", file=sys.stderr, flush=True)
    return 1
