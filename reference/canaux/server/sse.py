"""``GET /events``: the SSE binding (spec sse.md, profile ``sse``).

Each stream is a session subscribed to the channels of ``?channels=a,b`` [SSE-1]. It starts with
the welcome frame, then carries one SSE message per event; ``Last-Event-ID`` (or
``?last_event_id=``) resumes a session under the rules of RESUME-2/3, the identity being the
bearer token or its absence [SSE-2]. An idle stream gets ``: ping`` comments [SSE-4]. A stream
whose reader falls behind is ended (the browser reconnects and resumes) [LIMIT-4].
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from canaux.protocol import frames
from canaux.protocol.codes import CloseCode, ErrorCode
from canaux.server.access import authenticate, origin_allowed, seconds_left
from canaux.server.config import Unauthorized
from canaux.server.errors import bearer_token, error_response
from canaux.server.outbound import Outbound
from canaux.server.runtime import ServerRuntime
from canaux.server.sessions import Session, SessionsUnavailable
from canaux.server.sse_format import PING_COMMENT, event_message, parse_event_id, welcome_message

__all__ = ["SSEStream", "events_endpoint"]


class SSEStream(Response):
    """One ``text/event-stream`` response carrying one session."""

    media_type = "text/event-stream"

    def __init__(
        self, runtime: ServerRuntime, session: Session, expires_in: float | None = None
    ) -> None:
        # Not Response.__init__: it would declare "content-length: 0" for an empty body.
        self.status_code = 200
        self.background = None
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            # Reverse proxies (nginx) must not buffer a stream.
            (b"x-accel-buffering", b"no"),
        ]
        self._runtime = runtime
        self.session = session
        self.outbound = Outbound(runtime.limits.outbound_queue, runtime.limits.outbound_queue_bytes)
        self._closed = asyncio.Event()
        self._expires_in = expires_in

    # EventSink -----------------------------------------------------------------------------

    def send_event(self, channel: str, seq: int, text: str) -> None:
        self.outbound.put(event_message(channel, self.session.id, seq, text))

    def replace(self) -> None:
        # [RESUME-4] another stream or socket resumed the session: this one ends.
        self._runtime.closed("sse", CloseCode.SESSION_REPLACED)
        self.outbound.close()

    # Connection ----------------------------------------------------------------------------

    def go_away(self, code: int, reason: str) -> None:
        self.outbound.close()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    # ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._runtime.connections.add(self)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            watcher = asyncio.create_task(self._watch_disconnect(receive))
            # [SECURITY-11] the stream ends when its credentials expire; the session stays.
            expiry = (
                None
                if self._expires_in is None
                else asyncio.get_running_loop().call_later(self._expires_in, self.outbound.close)
            )
            try:
                await self._pump(send)
            finally:
                watcher.cancel()
                if expiry is not None:
                    expiry.cancel()
        finally:
            self._runtime.registry.detach(self.session, self)
            self._runtime.connections.discard(self)
            self._closed.set()

    async def _watch_disconnect(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.outbound.close()

    async def _pump(self, send: Send) -> None:
        interval = self._runtime.limits.heartbeat_ms / 1000.0
        last_sent = time.monotonic()
        while True:
            await self.outbound.wait(max(0.0, last_sent + interval - time.monotonic()))
            if self.outbound.overflowed:
                self._runtime.closed("sse", CloseCode.SLOW_CONSUMER)
                break
            chunks = self.outbound.take()
            if not chunks and time.monotonic() >= last_sent + interval:
                # [SSE-4] a comment whenever nothing was sent for heartbeat_ms.
                chunks.append(PING_COMMENT)
            if chunks:
                last_sent = time.monotonic()
                await send(
                    {
                        "type": "http.response.body",
                        "body": "".join(chunks).encode(),
                        "more_body": True,
                    }
                )
            elif self.outbound.closed:
                break
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _replayed(text: str) -> tuple[str, int]:
    # The resume buffer keeps frame text only; SSE also needs the channel and seq of each.
    frame = orjson.loads(text)
    return str(frame["channel"]), int(frame["seq"])


def _unavailable() -> Response:
    """[CLUSTER-6] the shared session store is out of reach: not a new session (the one asked
    for may well be there), an error before the stream starts [SSE-15]; try again later."""
    response = error_response(503, ErrorCode.INTERNAL_ERROR, "try again later")
    response.headers["retry-after"] = "1"
    return response


def events_endpoint(runtime: ServerRuntime) -> Callable[[Request], Awaitable[Response]]:
    """The ``GET /events`` endpoint bound to ``runtime``."""

    async def events(request: Request) -> Response:
        runtime.ensure_started()
        if not origin_allowed(runtime.config, request.headers):
            return error_response(403, ErrorCode.FORBIDDEN, "origin not allowed")  # [SECURITY-14]
        if runtime.closing:
            return error_response(503, ErrorCode.INTERNAL_ERROR, "server shutting down")
        names: list[str] = []
        for raw in request.query_params.get("channels", "").split(","):
            name = raw.strip()
            if name and name not in names:  # [SSE-6] duplicates count once
                names.append(name)
        # [SSE-3] the rules of a subscribe frame [CHANNEL-3, OPS-5], decided by the core.
        refusal = runtime.registry.check_stream(runtime.catalogue, names)
        if refusal is not None:
            extra = {"channel": refusal.channel} if refusal.channel is not None else {}
            return error_response(
                400, refusal.code, refusal.message, pointer=refusal.pointer, **extra
            )
        try:
            principal = await authenticate(
                runtime.config, bearer_token(request.headers.get("authorization"))
            )
        except Unauthorized:
            return error_response(401, "unauthorized", "missing or rejected credentials")  # [SSE-8]
        identity = principal.identity if principal is not None else None
        for name in names:
            if not runtime.channels.permits(identity, "subscribe", name, principal):
                # [SSE-12] [CHANNEL-13] the access policy (and the token's grants) deny the
                # channel.
                return error_response(
                    403, ErrorCode.FORBIDDEN, f"not allowed to subscribe to {name}", channel=name
                )
        # [SSE-5] the header wins over the query parameter; a malformed value is ignored.
        position = parse_event_id(request.headers.get("last-event-id"))
        if position is None and "last-event-id" not in request.headers:
            position = parse_event_id(request.query_params.get("last_event_id"))
        registry = runtime.registry
        opened = None
        if position is not None:
            try:
                # A session another node stored (or held) comes here first ("Clusters").
                await registry.fetch_session(
                    position[0], position[1], identity, transport="sse", channels=frozenset(names)
                )
            except SessionsUnavailable:
                return _unavailable()
            opened = registry.resume(position[0], identity, position[1], "sse", frozenset(names))
        if opened is None:
            opened = registry.open(identity, None, transport="sse")
        session = opened.session
        stream = SSEStream(runtime, session, seconds_left(principal))
        # Welcome, replay and attachment happen with no await in between, so no live event
        # can slip before the replay [RESUME-3].
        welcome = frames.encode(registry.welcome_frame(opened, runtime.catalogue))
        stream.outbound.put(welcome_message(welcome), bounded=False)
        for text in opened.replay:
            channel, seq = _replayed(text)
            stream.outbound.put(event_message(channel, session.id, seq, text), bounded=False)
        registry.attach(session, stream)
        if not opened.resumed:
            # [SSE-1] a new stream's session is subscribed to exactly the listed channels; a
            # resumed one already is [SSE-9].
            for name in names:
                await runtime.hub.subscribe(name, session)
            registry.subscribe_stream(session, runtime.catalogue, names)
            try:
                # Resumable on any node from now on: before the welcome goes out ("Clusters").
                await registry.checkpoint(session)
            except SessionsUnavailable:
                registry.discard(session)
                return _unavailable()
            for name in names:
                # [QUEUE-1] the channel's snapshot, if it has one.
                await runtime.channels.subscribed(name, identity, session.emit)
        return stream

    return events
