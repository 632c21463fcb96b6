"""The reference client's conformance adapter (spec appendix "Client adapter protocol", v1).

``canaux-conformance client`` starts this program and plays the server; the program plays the
application: it reads one JSON command per line on stdin (connect, subscribe, unsubscribe,
publish, close) and writes one JSON message per line on stdout for what the application sees
(events, resets, answers to its publishes, state changes with close codes)::

    python -m canaux.conformance_adapter                # canaux.Client
    python -m canaux.conformance_adapter --client compat  # CentralWebSocketService

An ``sse`` command reads channels with :class:`~canaux.client.SSEReader` instead. It only uses
the client's public API, so it is also the example to copy for another client.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import canaux
from canaux.client import (
    CentralWebSocketService,
    Client,
    ClientClosed,
    ClientState,
    ConnectionClosedByServer,
    FrameTooLarge,
    OutboxFull,
    PublishRejected,
    SSEReader,
)
from canaux.protocol.backoff import DEFAULT_BASE, DEFAULT_CAP

__all__ = ["PROTOCOL", "Adapter", "main"]

PROTOCOL = 1
"""The adapter protocol version this program speaks."""


def write(message: dict[str, Any]) -> None:
    """One message, one line, flushed (ASCII escapes keep any string valid UTF-8)."""
    sys.stdout.write(json.dumps(message, allow_nan=False) + "\n")
    sys.stdout.flush()


def error_kind(exc: BaseException) -> str:
    """The adapter protocol's name for a client error the application saw."""
    if isinstance(exc, FrameTooLarge):
        return "too_large"  # [LIMIT-7]
    if isinstance(exc, OutboxFull):
        return "outbox_full"  # [CLIENT-8]
    if isinstance(exc, ClientClosed | ConnectionClosedByServer):
        return "closed"
    if isinstance(exc, ValueError | TypeError):
        return "invalid"
    return "other"


class Adapter:
    """The application: one client, driven by commands, reporting what it observes."""

    def __init__(self, flavour: str) -> None:
        self.flavour = flavour
        self.app: Client | CentralWebSocketService | None = None
        self.handlers: dict[str, Callable[[Any], None]] = {}
        """One handler per channel the application listens to, in subscription order."""
        self.tasks: set[asyncio.Task[None]] = set()
        self.readers: list[tuple[SSEReader, asyncio.Task[None]]] = []

    def listen(self, channel: str) -> None:
        def handler(data: Any) -> None:
            write({"msg": "event", "channel": channel, "data": data})

        self.handlers[channel] = handler
        if self.app is not None:
            self.app.register_handler(channel, handler)

    async def on_state(self, state: ClientState) -> None:
        message: dict[str, Any] = {"msg": "state", "state": state.value}
        if state is ClientState.CLOSED and self.app is not None:
            try:
                await self.app.connect()  # raises why the client stopped
            except ConnectionClosedByServer as exc:
                if exc.code is not None:
                    message["code"] = exc.code
                if exc.reason:
                    message["reason"] = exc.reason
            except Exception:
                pass  # closed by the application: no code to report
        write(message)

    def on_reset(self) -> None:
        write({"msg": "reset"})

    async def connect(self, cmd: dict[str, Any]) -> dict[str, Any]:
        if self.app is not None:
            return {"error": {"kind": "other", "message": "already connected"}}
        backoff = cmd.get("backoff") or {}
        options: dict[str, Any] = {
            "backoff_base": backoff.get("base_ms", DEFAULT_BASE * 1000) / 1000,
            "backoff_cap": backoff.get("cap_ms", DEFAULT_CAP * 1000) / 1000,
        }
        tokens: list[str] | None = cmd.get("tokens")
        token: Any = cmd.get("token")
        if tokens:
            given = iter(range(len(tokens)))
            token = lambda: tokens[min(next(given, len(tokens) - 1), len(tokens) - 1)]  # noqa: E731
        if self.flavour == "compat":
            self.app = CentralWebSocketService(cmd["url"], token=token, shared=False, **options)
        else:
            self.app = Client(cmd["url"], token=token, **options)
        self.app.on_state(self.on_state)
        self.app.on_reset(self.on_reset)
        for channel, handler in self.handlers.items():
            self.app.register_handler(channel, handler)
        self.spawn(self.wait_connected())
        return {}

    async def wait_connected(self) -> None:
        assert self.app is not None
        # The outcome is reported by the state messages; a refusal for good is one of them.
        try:
            await self.app.connect()
        except Exception as exc:
            print(f"connect ended: {exc!r}", file=sys.stderr)

    def subscribe(self, cmd: dict[str, Any]) -> dict[str, Any]:
        if cmd["channel"] not in self.handlers:
            self.listen(cmd["channel"])
        return {}

    def unsubscribe(self, cmd: dict[str, Any]) -> dict[str, Any]:
        handler = self.handlers.pop(cmd["channel"], None)
        if handler is not None and self.app is not None:
            self.app.unregister_handler(cmd["channel"], handler)
        return {}

    async def publish(self, cmd: dict[str, Any]) -> dict[str, Any]:
        if "id" in cmd:
            return {"unsupported": "publish.id"}
        if self.app is None:
            return {"error": {"kind": "other", "message": "publish before connect"}}
        n = cmd["n"]
        sending = asyncio.ensure_future(self.app.send(cmd["channel"], cmd["data"]))
        await asyncio.sleep(0)  # let send() run up to its wait for the answer
        if sending.done() and sending.exception() is not None:
            exc = sending.exception()
            assert exc is not None
            return {"error": {"kind": error_kind(exc), "message": str(exc)}}
        self.spawn(self.outcome(n, sending))
        return {}

    async def outcome(self, n: int, sending: asyncio.Future[str]) -> None:
        try:
            op_id = await sending
        except PublishRejected as exc:
            write({"msg": "refused", "n": n, "code": exc.code, "message": exc.message,
                   "pointer": exc.pointer})  # fmt: skip
        except Exception as exc:
            write({"msg": "failed", "n": n, "kind": error_kind(exc), "message": str(exc)})
        else:
            write({"msg": "ack", "n": n, "id": op_id})

    def sse(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """An SSE stream of ``channels`` (read-only): its events are reported like the others."""
        backoff = cmd.get("backoff") or {}
        reader = SSEReader(
            cmd["url"],
            cmd["channels"],
            token=cmd.get("token"),
            backoff_base=backoff.get("base_ms", DEFAULT_BASE * 1000) / 1000,
            backoff_cap=backoff.get("cap_ms", DEFAULT_CAP * 1000) / 1000,
        )
        reader.on_reset(self.on_reset)
        self.readers.append((reader, asyncio.ensure_future(self.read_sse(reader))))
        return {}

    async def read_sse(self, reader: SSEReader) -> None:
        try:
            async for event in reader:
                write({"msg": "event", "channel": event.channel, "data": event.data})
        except Exception as exc:
            print(f"sse stream ended: {exc!r}", file=sys.stderr)

    async def close(self, cmd: dict[str, Any] | None = None) -> dict[str, Any]:
        for reader, task in self.readers:
            task.cancel()  # a stream waiting for its next message ends now
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await reader.aclose()
        if self.app is not None:
            await self.app.close()
        for task in list(self.tasks):
            await task
        return {}

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        stdin = asyncio.StreamReader(limit=2**26)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
        write({"msg": "ready", "protocol": PROTOCOL,
               "client": {"name": f"canaux {self.flavour} (Python reference)",
                          "version": canaux.__version__, "language": "python"},
               "backoff": {"base_ms": int(DEFAULT_BASE * 1000),
                           "cap_ms": int(DEFAULT_CAP * 1000), "configurable": True},
               "unsupported": ["publish.id"]})  # fmt: skip
        commands: dict[str, Callable[[dict[str, Any]], Any]] = {
            "connect": self.connect,
            "subscribe": self.subscribe,
            "unsubscribe": self.unsubscribe,
            "publish": self.publish,
            "close": self.close,
            "sse": self.sse,
        }
        while line := await stdin.readline():
            cmd = json.loads(line)
            do = commands.get(cmd.get("cmd"))
            if do is None:
                answer: dict[str, Any] = {"unsupported": str(cmd.get("cmd"))}
            else:
                answer = do(cmd)
                if asyncio.iscoroutine(answer):
                    answer = await answer
            write({"msg": "done", "n": cmd["n"], **answer})
        await self.close()  # stdin closed: the case is over


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m canaux.conformance_adapter",
        description="Drive the reference client for canaux-conformance (adapter protocol v1).",
    )
    parser.add_argument(
        "--client",
        choices=("reference", "compat"),
        default="reference",
        help="canaux.Client (default) or the compatibility CentralWebSocketService",
    )
    args = parser.parse_args(argv)
    try:
        asyncio.run(Adapter(args.client).run())
    except Exception as exc:
        write({"msg": "fatal", "message": repr(exc)})
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
