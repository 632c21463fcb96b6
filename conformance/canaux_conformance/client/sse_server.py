"""A scripted SSE endpoint: the suite plays the server side of the SSE binding (spec sse.md).

:class:`ScriptedSSEServer` listens on 127.0.0.1, port 0, and answers every ``GET`` with status
200 and ``text/event-stream``; each request becomes an :class:`SSEStream` handed to the case in
arrival order, with the ``Last-Event-ID`` the client sent. Nothing is written unless the case
writes it, so a case can send a welcome, events, a repeated seq, comments, stay silent, or cut
the TCP connection. Plain asyncio streams: the response body is delimited by the connection's
end (``Connection: close``), as an SSE response may be.
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.transcript import Transcript

__all__ = ["SSEStream", "ScriptedSSEServer"]

_HEAD_LIMIT = 65536


@dataclass
class SSEStream:
    """One ``GET`` the client made, and its response stream."""

    number: int
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Request headers, names in lower case."""
    requested_at: float
    writer: asyncio.StreamWriter
    transcript: Transcript
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def name(self) -> str:
        return f"sse#{self.number}"

    @property
    def last_event_id(self) -> str | None:
        """The resume position asked for: the header, else the ``last_event_id`` parameter."""
        value = self.headers.get("last-event-id")
        if value is None and self.query.get("last_event_id"):
            value = self.query["last_event_id"][0]
        return value

    @property
    def channels(self) -> list[str]:
        raw = self.query.get("channels", [""])[0]
        return [c for c in raw.split(",") if c]

    async def message(self, event: str, frame: Any, *, id: str | None = None) -> None:
        """One SSE message: ``event:``, optional ``id:``, ``data:`` the frame as JSON."""
        data = json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
        lines = [f"event: {event}"] + ([f"id: {id}"] if id is not None else []) + [f"data: {data}"]
        await self._write("\n".join(lines) + "\n\n")

    async def event(self, session: str, seq: int, channel: str, data: Any) -> None:
        frame = {"type": "event", "seq": seq, "channel": channel, "data": data}
        await self.message(channel, frame, id=f"{session}:{seq}")

    async def retry(self, milliseconds: int) -> None:
        """A ``retry:`` field: the reconnection time an ``EventSource`` waits after a drop."""
        await self._write(f"retry: {milliseconds}\n\n")

    async def comment(self, text: str = "ping") -> None:
        await self._write(f": {text}\n\n")

    async def _write(self, text: str) -> None:
        self.transcript.add(self.name, "send", text.rstrip("\n"))
        with contextlib.suppress(ConnectionError):
            self.writer.write(text.encode())
            await self.writer.drain()

    def cut(self) -> None:
        """Drop the TCP connection at once."""
        self.transcript.add(self.name, "close", "server cuts the TCP connection")
        self.writer.transport.abort()
        self.ended.set()

    async def wait_closed(self, *, timeout: float) -> bool:
        """Whether the client ended the stream within ``timeout``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.ended.wait()
        return self.ended.is_set()


@dataclass
class ScriptedSSEServer:
    """A loopback SSE endpoint whose every message the case writes."""

    transcript: Transcript
    path: str = "/events"
    streams: list[SSEStream] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _incoming: asyncio.Queue[SSEStream] = field(default_factory=asyncio.Queue)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the server first"
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}{self.path}"

    async def start(self) -> ScriptedSSEServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def aclose(self) -> None:
        for stream in self.streams:
            stream.writer.transport.abort()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5.0):
                    await self._server.wait_closed()

    async def accept(self, *, timeout: float, requirement: str) -> SSEStream:
        """The next stream the client opens; a CaseFailed on ``requirement`` if none comes."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                return await self._incoming.get()
        raise CaseFailed(
            f"the SSE client opened no stream within {timeout:g}s", requirement=requirement
        )

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.transport.abort()
            return
        requested_at = loop.time()
        lines = head[:_HEAD_LIMIT].decode("latin-1").split("\r\n")
        method, target = [*lines[0].split(" "), "", ""][:2]
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        parts = urlsplit(target)
        stream = SSEStream(
            number=len(self.streams) + 1,
            path=parts.path,
            query=parse_qs(parts.query),
            headers=headers,
            requested_at=requested_at,
            writer=writer,
            transcript=self.transcript,
        )
        self.streams.append(stream)
        self.transcript.add(stream.name, "recv", f"{method} {target} {headers}")
        if method != "GET" or parts.path != self.path:
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Connection: close\r\n\r\n"
        )
        await self._incoming.put(stream)
        # The client sends nothing more: EOF (or a reset) means it closed the stream.
        with contextlib.suppress(ConnectionError):
            while await reader.read(4096):
                pass
        if not stream.ended.is_set():
            self.transcript.add(stream.name, "close", "the client closed the stream")
            stream.ended.set()
