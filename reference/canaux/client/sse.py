"""Read-only Canaux over Server-Sent Events (spec sse.md, client.md).

:class:`SSEReader` streams ``GET /events?channels=a,b`` with httpx, parses
``text/event-stream``, and yields each ``event`` frame exactly once and in order. When the
stream breaks it reconnects with full-jitter backoff and resumes with ``Last-Event-ID``
(SSE-2); after a lost session it calls its reset callbacks (RESUME-5).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeAlias

import httpx

from canaux.client.errors import ClientError
from canaux.client.tokens import TokenSource, resolve_token
from canaux.protocol.backoff import DEFAULT_BASE, DEFAULT_CAP, Backoff, RandomSource
from canaux.protocol.frames import Event, FrameError, Welcome, decode_json, parse_server_frame

__all__ = ["SSEError", "SSELines", "SSEMessage", "SSEParser", "SSEReader"]

logger = logging.getLogger("canaux.client.sse")

ResetCallback: TypeAlias = Callable[[], Awaitable[None] | None]


class SSEError(ClientError):
    """The server refused the stream (HTTP 4xx, SSE-3); reconnecting cannot help."""

    def __init__(self, status: int, code: str | None, message: str) -> None:
        super().__init__(f"http {status}: {code or 'error'}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass(slots=True)
class SSEMessage:
    """One dispatched ``text/event-stream`` message (WHATWG HTML §9.2 event stream)."""

    event: str = "message"
    data: str = ""
    id: str | None = None


@dataclass(slots=True)
class SSELines:
    """Split a ``text/event-stream`` into lines the way the event-stream grammar does.

    Only CRLF, LF and CR end a line (WHATWG HTML, "Parsing an event stream"; [SSE-1]).
    ``str.splitlines`` (behind httpx's ``aiter_lines``) also breaks at U+2028, U+2029, U+0085
    and other separators, which JSON carries unescaped inside a ``data:`` value: a frame
    holding one was cut in two and refused as invalid JSON.
    """

    _partial: str = ""
    _after_cr: bool = False

    def feed(self, chunk: str) -> list[str]:
        """Take the next piece of the stream; return the lines it completes, in order."""
        if not chunk:
            return []
        if self._after_cr and chunk.startswith("\n"):
            chunk = chunk[1:]  # the LF of a CRLF split across two chunks
        self._after_cr = chunk.endswith("\r")
        pieces = chunk.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        pieces[0] = self._partial + pieces[0]
        self._partial = pieces.pop()
        return pieces


@dataclass(slots=True)
class SSEParser:
    """Incremental ``text/event-stream`` parser: feed lines, get messages at blank lines."""

    _event: str = ""
    _data: list[str] = field(default_factory=list)
    _id: str | None = None
    _has_id: bool = False

    def feed(self, line: str) -> SSEMessage | None:
        """Take one line (without its end of line); return a message when one is complete."""
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment, such as the server's ": ping" [SSE-4]
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id, self._has_id = value, True
        # "retry" and unknown fields are ignored: reconnection follows the client's backoff.
        return None

    def _dispatch(self) -> SSEMessage | None:
        if not self._data:
            self._event, self._has_id = "", False
            return None
        message = SSEMessage(
            event=self._event or "message",
            data="\n".join(self._data),
            id=self._id if self._has_id else None,
        )
        self._event, self._data, self._has_id = "", [], False
        return message


class _Reconnect(Exception):
    """The current stream must be dropped and resumed."""


class SSEReader:
    """Async iterator over the event frames of some channels, read over SSE.

    ::

        async with SSEReader("http://localhost:8001/events", ["system", "progress"]) as reader:
            async for event in reader:
                print(event.channel, event.data)
    """

    def __init__(
        self,
        url: str,
        channels: Iterable[str],
        *,
        token: TokenSource = None,
        last_event_id: str | None = None,
        reconnect: bool = True,
        backoff_base: float = DEFAULT_BASE,
        backoff_cap: float = DEFAULT_CAP,
        connect_timeout: float = 10.0,
        rng: RandomSource | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self.channels = list(channels)
        if not self.channels:
            raise ValueError("an SSE stream needs at least one channel")
        self.token = token
        self.reconnect = reconnect
        self.session: str | None = None
        self.last_seq = 0
        if last_event_id:
            session, _, seq = last_event_id.rpartition(":")
            if session and seq.isdigit():
                self.session, self.last_seq = session, int(seq)
        self.welcome: Welcome | None = None
        self.resets = 0
        """How many times the session was lost and replaced (resumed: false)."""
        self.backoff = Backoff(
            backoff_base, backoff_cap, rng if rng is not None else random.SystemRandom()
        )
        """The reconnection schedule (CLIENT-1, CLIENT-11), shared rule with the client."""
        self._connect_timeout = connect_timeout
        self._http = http
        self._own_http = http is None
        self._reset_callbacks: list[ResetCallback] = []
        self._closed = False
        self._closing = asyncio.Event()
        self._response: httpx.Response | None = None
        self._welcomed = asyncio.Event()

    @property
    def last_event_id(self) -> str | None:
        """``<session>:<seq>`` of the last event received contiguously (what a resume sends)."""
        if self.session is None:
            return None
        return f"{self.session}:{self.last_seq}"

    async def wait_welcomed(self) -> Welcome:
        """Wait until the current stream's ``welcome`` has been read (the stream is subscribed).

        Another task must be iterating the reader: the welcome arrives through the stream.
        """
        await self._welcomed.wait()
        assert self.welcome is not None
        return self.welcome

    def on_reset(self, fn: ResetCallback) -> None:
        """Call ``fn()`` when the stream had to start a new session (RESUME-5)."""
        self._reset_callbacks.append(fn)

    async def aclose(self) -> None:
        """Stop [CLIENT-13]: an iteration under way in another task ends without another event.

        The stream being read is closed here (whoever owns the HTTP client), and a wait
        between attempts is cut short, so ``aclose()`` never waits for the server.
        """
        self._closed = True
        self._closing.set()
        response, self._response = self._response, None
        if response is not None:
            await response.aclose()
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> SSEReader:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        loop = asyncio.get_running_loop()
        while not self._closed:
            welcomed = False
            try:
                async for item in self._stream():
                    if self._closed:
                        return  # read after aclose(): never handed to the application
                    if isinstance(item, Welcome):
                        welcomed = True
                        self.backoff.welcomed(loop.time(), item.heartbeat_ms)
                        continue
                    yield item
            except (httpx.TransportError, httpx.StreamError, _Reconnect, TimeoutError) as exc:
                if self._closed:
                    return
                logger.info("sse %s: stream lost: %s", self.url, exc)
            finally:
                # [CLIENT-11] only a stream that lasted heartbeat_ms after its welcome sets
                # the attempt number back to 0.
                self.backoff.ended(loop.time())
            if not self.reconnect or self._closed:
                return
            if welcomed:
                logger.debug("sse %s: reconnecting after a welcomed stream", self.url)
            # The backoff between attempts (CLIENT-1), cut short by aclose().
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.backoff.next_delay())

    async def _stream(self) -> AsyncIterator[Welcome | Event]:
        if self._http is None:
            self._http = httpx.AsyncClient()
        self._welcomed.clear()
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        # [CLIENT-10] a provider is asked again for every stream (the server ends a stream
        # when its token expires, SECURITY-11).
        try:
            token = await resolve_token(self.token)
        except Exception as exc:
            raise _Reconnect(f"token provider failed: {exc!r}") from exc
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if self.last_event_id is not None:
            # [SSE-2] resume the session from the last contiguous seq.
            headers["Last-Event-ID"] = self.last_event_id
        params = {"channels": ",".join(self.channels)}
        # No read timeout from httpx: silence is judged against the heartbeat, below.
        timeout = httpx.Timeout(self._connect_timeout, read=None)
        async with self._http.stream(
            "GET", self.url, params=params, headers=headers, timeout=timeout
        ) as response:
            if self._closed:
                return
            self._response = response
            try:
                if 400 <= response.status_code < 500:
                    body = await response.aread()
                    raise _refusal(response.status_code, body, str(response.url))
                if response.status_code != 200:
                    raise _Reconnect(f"http {response.status_code}")
                parser, splitter = SSEParser(), SSELines()
                chunks = response.aiter_text()
                silence = 30.0
                while True:
                    try:
                        # [HEARTBEAT-4] a stream silent for two heartbeat intervals is dead
                        # (the server sends ": ping" at least once per interval, SSE-4).
                        async with asyncio.timeout(silence):
                            chunk = await anext(chunks)
                    except StopAsyncIteration:
                        raise _Reconnect("stream ended") from None
                    for line in splitter.feed(chunk):
                        message = parser.feed(line)
                        if message is None:
                            continue
                        item = await self._message(message)
                        if isinstance(item, Welcome):
                            silence = 2 * item.heartbeat_ms / 1000
                        if item is not None:
                            yield item
            finally:
                self._response = None

    async def _message(self, message: SSEMessage) -> Welcome | Event | None:
        try:
            frame = parse_server_frame(decode_json(message.data))
        except (ValueError, FrameError) as exc:
            raise _Reconnect(f"invalid frame in stream: {exc}") from None
        if isinstance(frame, Welcome):
            return await self._welcome(frame)
        if not isinstance(frame, Event):
            return None
        if frame.seq <= self.last_seq:
            return None  # [CLIENT-3] duplicate of an event already yielded
        if frame.seq != self.last_seq + 1:
            # [CLIENT-3] a gap: drop the stream and resume from the last contiguous seq.
            raise _Reconnect(f"seq gap: expected {self.last_seq + 1}, got {frame.seq}")
        self.last_seq = frame.seq
        return frame

    async def _welcome(self, welcome: Welcome) -> Welcome:
        self.welcome = welcome
        self._welcomed.set()
        if welcome.resumed and welcome.session == self.session:
            if welcome.seq < self.last_seq:
                raise _Reconnect("welcome.seq below the last received seq")
            return welcome
        had_session = self.session is not None
        self.session, self.last_seq = welcome.session, welcome.seq
        if had_session:
            # [RESUME-5] a new session: what the application built from events is stale.
            self.resets += 1
            for fn in list(self._reset_callbacks):
                result = fn()
                if inspect.isawaitable(result):
                    await result
        return welcome


def _refusal(status: int, body: bytes, url: str) -> SSEError:
    code: str | None = None
    message = body.decode("utf-8", "replace")[:200]
    if status == 404:
        # Nothing there: almost always the path (a mounted server serves <prefix>/events).
        message = (
            f"no SSE endpoint at {url}; check the path: <base>/events, or <base>/<prefix>/events "
            "for a server mounted under a prefix (mount_path= / CANAUX_MOUNT_PATH)"
        )
    with contextlib.suppress(ValueError):
        obj = decode_json(body)
        if isinstance(obj, dict):
            code = obj.get("code") if isinstance(obj.get("code"), str) else None
            message = str(obj.get("message", message))
    return SSEError(status, code, message)
