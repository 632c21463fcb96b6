"""An SSE reader for the suite: ``GET /events`` read message by message (spec sse.md).

The suite parses text/event-stream itself (the HTML standard's format: ``event:``, ``id:`` and
``data:`` fields, comment lines starting with ``:``, a blank line dispatching a message) so
that nothing between the server and the checks can smooth over a malformed stream. Every
message and comment lands in the case's :class:`~canaux_conformance.wire.Transcript`.

Every message of every stream is audited as it arrives, read by the case or not
(:class:`~canaux_conformance.audit.EventStreamAudit`: welcome first, ids, seq contiguity, no
event of a channel the stream did not ask for), and checked against the schemas (frame.json,
then the channel's event data as the welcome's catalogue names it); an error answer is checked
for its JSON body [SSE-15]. Findings fail the case at its next wait or when it ends.
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Self

import httpx

from canaux_conformance.audit import (
    AuditFailure,
    EventStreamAudit,
    Finding,
    http_error_findings,
)
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.transcript import Transcript
from canaux_conformance.validation import catalogue_entry, shared_validator

__all__ = ["SseMessage", "SseStream", "split_lines"]


async def split_lines(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
    """The stream's lines, each without its end: only CRLF, LF and CR end a line [SSE-1].

    Not httpx's ``aiter_lines``: it splits like ``str.splitlines``, also at U+2028, U+2029 and
    U+0085, which JSON carries unescaped inside a ``data:`` value; the suite then cut a
    correct server's frame in two and failed it.
    """
    partial, after_cr = "", False
    async for chunk in chunks:
        if not chunk:
            continue
        if after_cr and chunk.startswith("\n"):
            chunk = chunk[1:]  # the LF of a CRLF split across two chunks
        after_cr = chunk.endswith("\r")
        pieces = chunk.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        pieces[0] = partial + pieces[0]
        partial = pieces.pop()
        for line in pieces:
            yield line


@dataclass
class SseMessage:
    """One dispatched SSE message. ``id`` is the ``id:`` line of THIS message (``None`` when it
    had none), not the browser's inherited last-event-ID: SSE-1 requires it on every event."""

    event: str | None
    id: str | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class SseStream:
    """One ``GET /events`` response read message by message, with a transcript."""

    url: str
    transcript: Transcript
    name: str = "sse"
    timeout: float = 5.0
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 0
    content_type: str = ""
    body: str = ""
    comments: list[tuple[float, str]] = field(default_factory=list)
    _http: httpx.AsyncClient | None = None
    _response: httpx.Response | None = None
    _queue: asyncio.Queue[SseMessage | None] = field(default_factory=asyncio.Queue)
    _reader: asyncio.Task[None] | None = None
    _comment_seen: asyncio.Event = field(default_factory=asyncio.Event)
    audited: bool = False
    """Audit every message (what a case's streams do: ``suites/sse.py`` opens them so)."""
    audit: EventStreamAudit | None = None
    violations: list[CaseFailed] = field(default_factory=list)
    _reported: int = 0
    _catalogue: list[Any] = field(default_factory=list)

    async def open(self, params: dict[str, str]) -> Self:
        """Send the GET; on an event stream start reading, otherwise keep status and body."""
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout, read=None), trust_env=False
        )
        request = self._http.build_request("GET", self.url, params=params, headers=self.headers)
        shown = ", ".join(f"{k}: {v}" for k, v in self.headers.items())
        self.transcript.add(self.name, "open", f"GET {request.url} {shown}".rstrip())
        try:
            self._response = await self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise CaseFailed(f"GET {request.url} failed: {exc!r}", requirement="SSE-1") from exc
        self.status = self._response.status_code
        self.content_type = self._response.headers.get("content-type", "")
        if not self.content_type.startswith("text/event-stream"):
            self.body = (await self._response.aread()).decode(errors="replace")
            self.transcript.add(self.name, "recv", f"HTTP {self.status} {self.body[:500]}")
            if self.audited:
                self._found(
                    http_error_findings(
                        self.status, self.content_type, self.body, requirement="SSE-15"
                    )
                )
            return self
        if self.audited:
            positions = [v for k, v in self.headers.items() if k.lower() == "last-event-id"]
            self.audit = EventStreamAudit(
                (c for c in params.get("channels", "").split(",") if c),
                [*positions, params.get("last_event_id")],
            )
        self.transcript.add(self.name, "recv", f"HTTP {self.status} {self.content_type}")
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self._response is not None
        event: str | None = None
        last_id: str | None = None
        data: list[str] = []
        loop = asyncio.get_running_loop()
        try:
            async for line in split_lines(self._response.aiter_text()):
                if line == "":
                    if data:
                        message = SseMessage(event, last_id, "\n".join(data))
                        self.transcript.add(
                            self.name, "recv", f"event:{event} id:{last_id} data:{message.data}"
                        )
                        self._audit(message)
                        await self._queue.put(message)
                    event, last_id, data = None, None, []
                    continue
                if line.startswith(":"):
                    self.comments.append((loop.time(), line[1:].strip()))
                    self._comment_seen.set()
                    continue
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "event":
                    event = value
                elif name == "data":
                    data.append(value)
                elif name == "id":
                    last_id = value
        except (httpx.HTTPError, OSError):
            pass
        finally:
            await self._queue.put(None)

    def _audit(self, message: SseMessage) -> None:
        if self.audit is None:
            return
        try:
            frame = message.json()
        except ValueError:
            self._found([Finding(f"SSE data is not JSON: {message.data[:120]!r}", "SSE-1")])
            return
        findings = self.audit.message(message.event, message.id, frame)
        problem = shared_validator().frame_error(frame)
        if problem is not None:
            findings.append(Finding(f"SSE data is not a valid server frame: {problem}", "OPS-12"))
        elif frame.get("type") == "welcome":
            self._catalogue = list(frame.get("channels", []))
        elif frame.get("type") == "event":
            entry = catalogue_entry(self._catalogue, str(frame.get("channel")))
            error = (
                None
                if entry is None
                else shared_validator().data_error(str(entry.get("schema")), frame.get("data"))
            )
            if error is not None:
                findings.append(Finding(f"event data {error}", "CHANNEL-12"))
        self._found(findings)

    def _found(self, findings: list[Finding]) -> None:
        for finding in findings:
            message = f"stream audit: {finding.message}"
            self.violations.append(
                AuditFailure(f"{self.name}: {message}", requirement=finding.requirement)
            )
            self.transcript.note(f"VIOLATION [{finding.requirement}] {message}", self.name)

    def check(self) -> None:
        """Raise the first audit finding not yet reported."""
        if self._reported < len(self.violations):
            failure = self.violations[self._reported]
            self._reported = len(self.violations)
            raise failure

    async def next(self, timeout: float | None = None, *, requirement: str = "SSE-1") -> SseMessage:
        """The next message; the stream ending or staying silent fails the case, and so does
        an audit finding on any message so far."""
        self.check()
        try:
            async with asyncio.timeout(self.timeout if timeout is None else timeout):
                message = await self._queue.get()
        except TimeoutError:
            raise CaseFailed(
                f"{self.name}: no SSE message in time", requirement=requirement
            ) from None
        if message is None:
            self._queue.put_nowait(None)
            raise CaseFailed(f"{self.name}: the stream ended", requirement=requirement)
        self.check()
        return message

    async def wait_end(self, timeout: float) -> list[SseMessage]:
        """The messages that arrive until the server ends the response; ``TimeoutError``
        when it is still open after ``timeout`` seconds."""
        found: list[SseMessage] = []
        async with asyncio.timeout(timeout):
            while (message := await self._queue.get()) is not None:
                found.append(message)
        self._queue.put_nowait(None)
        return found

    async def wait_comment(self, timeout: float) -> None:
        """Wait for the next comment line (``: ping``); raises ``TimeoutError``."""
        self._comment_seen.clear()
        async with asyncio.timeout(timeout):
            await self._comment_seen.wait()

    async def close(self) -> None:
        """Stop reading and release the connection."""
        self.transcript.add(self.name, "close", "client closes the stream")
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._response is not None:
            await self._response.aclose()
        if self._http is not None:
            await self._http.aclose()
