"""A WebSocket/HTTP relay in front of the reference server that can break the protocol.

Proof of power (spec index.md, "Conformance"): every deliberately broken server is the real
reference server behind a :class:`FrameProxy` running one :class:`Fault`. The proxy speaks
WebSocket to the suite and to the reference server, frame by frame, and lets the fault
rewrite, drop, delay, duplicate or copy frames between connections; HTTP requests (SSE,
``POST /publish``) are relayed too, through a header/query hook.

The proxy keeps ``seq`` consistent when a fault injects or removes events: per session it
keeps a delta between the server's numbering and the one the client sees, applied to
events, to a resumed ``welcome.seq`` and, inversely, to ``hello.resume.seq``. So a fault that
leaks an event is caught as a leak, not as a seq gap.

Frames toward one client leave through that connection's own writer, in the order they were
queued, and the relay reads the server's next frame for a connection only once that connection's
queue is empty: a client that stops reading backs its server connection up (the server's
outbound bound, LIMIT-4, applies as without the relay) and holds up no other connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from canaux.server.admission import Admission, admission_protocol

__all__ = ["Conn", "Fault", "Frame", "FrameProxy"]

Frame = dict[str, Any]

END_GRACE = 2.0
"""Seconds the relay gives a client to take what it holds once the server's connection ended."""

_HOP_HEADERS = {
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
}


class Fault:
    """No fault: a transparent relay. Subclasses override the hooks they need."""

    name = "none"
    description = "transparent relay"
    handshake_timeout_s: float | None = 10.0
    """The relay's own bound on a request head or body (the reference's default) [SECURITY-13]:
    the relay's HTTP server reads every request before the reference sees it, so a slow one
    is its to cut off. ``None``: no bound (plain uvicorn has none)."""
    backpressure = True
    """Read a connection's next server frame only once its client took the last (False: the
    relay queues without bound, so the server behind never sees a slow reader)."""
    drop_stalled_after: float | None = None
    """Seconds a send toward a client may wait before the relay ends that client's TCP
    connection with a reset, no close frame (None: it waits as long as it takes)."""
    ends_with_the_server = True
    """Once the server's connection has ended (TCP), end the client's within
    :data:`END_GRACE` seconds even when the client has not read what the relay holds for it
    [TRANSPORT-23] (False: wait for the client for ever)."""

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        """Frames to forward to the server for one client frame (after seq translation)."""
        return [frame]

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        """Frames to send to the client for one server frame (after seq translation)."""
        return [frame]

    async def server_closed(self, conn: Conn, code: int, reason: str) -> bool:
        """The server closed ``conn``: pass the close on to the client (True) or hide it."""
        return True

    def upgrade_close(self, headers: dict[str, str]) -> int | None:
        """A close code to send right after accepting this upgrade (None: relay it)."""
        return None

    def http_request(self, path: str, headers: dict[str, str], query: dict[str, str]) -> None:
        """Change an HTTP request (headers, query) before it is relayed."""

    def client_text(self, conn: Conn, text: str) -> str:
        """Change a client text message before it is read as a frame (a lenient parser)."""
        return text

    def http_body(self, path: str, body: bytes) -> bytes:
        """Change an HTTP request body before it is relayed."""
        return body

    def health_body(self, body: bytes) -> bytes:
        """Change the body of a ``GET /health`` answer before it reaches the client."""
        return body

    def http_finished(self, path: str) -> None:
        """An HTTP response (an SSE stream, say) is over: the client read or dropped it."""

    def response_body(self, path: str, status: int, body: bytes) -> bytes:
        """Change the body of an answer that is not a stream (``/publish``, ``/asyncapi.json``,
        ``/schemas/...``) before it reaches the client."""
        return body

    def keeps_stream_open(self, path: str) -> bool:
        """When the server ends an ``/events`` response, keep the client's side open (until
        the client leaves) instead of ending it too."""
        return False

    def stream_text(self, path: str, text: str) -> str:
        """Change one complete SSE message (its lines and the blank line that ends it) of an
        ``/events`` stream before it reaches the client."""
        return text


@dataclass(eq=False)
class Conn:
    """One client WebSocket and its twin toward the reference server."""

    proxy: FrameProxy
    index: int
    client: WebSocket
    upstream: ClientConnection
    session: str | None = None
    pending: dict[str, tuple[str, str]] = field(default_factory=dict)
    last_seq: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    """Scratch space for faults."""
    outbox: asyncio.Queue[str | bytes | tuple[int, str]] = field(default_factory=asyncio.Queue)
    """What goes to the client, in order: text, bytes, or a close (code, reason) last."""

    @property
    def subscriptions(self) -> set[str]:
        """Channels the session of this connection is subscribed to (kept across resumes)."""
        if self.session is None:
            return set()
        found: set[str] = self.proxy.state_for(self.session).setdefault("subscribed", set())
        return found

    @property
    def delta(self) -> int:
        return self.proxy.deltas.get(self.session or "", 0)

    async def to_client(self, frame: Frame) -> None:
        """Send a frame to the client as is (no seq translation), after what is queued."""
        self.send_raw(json.dumps(frame, separators=(",", ":")))

    def send_raw(self, message: str | bytes) -> None:
        """Queue a text or binary message for the client, exactly as given."""
        self.outbox.put_nowait(message)

    def close_client(self, code: int, reason: str = "") -> None:
        """Close the client's connection once what is queued before it has been sent."""
        self.outbox.put_nowait((code, reason))

    async def drained(self) -> None:
        """Wait until everything queued for the client has been written."""
        await self.outbox.join()

    async def write(self) -> None:
        """The connection's writer: send what is queued, in order, until the relay stops it."""
        while True:
            message = await self.outbox.get()
            try:
                async with asyncio.timeout(self.proxy.fault.drop_stalled_after):
                    with contextlib.suppress(Exception):  # a client gone: the pumps end it
                        await self._send(message)
            except TimeoutError:
                self.abort_client()
            self.outbox.task_done()

    async def _send(self, message: str | bytes | tuple[int, str]) -> None:
        if isinstance(message, tuple):
            await self.client.close(code=message[0], reason=message[1])
        elif isinstance(message, bytes):
            await self.client.send_bytes(message)
        else:
            await self.client.send_text(message)

    def abort_client(self) -> None:
        """End the client's TCP connection at once with a reset (no close frame)."""
        peer = tuple(self.client.scope.get("client") or ())
        server = self.proxy.server
        for protocol in list(server.server_state.connections if server else ()):
            transport = getattr(protocol, "transport", None)
            if transport is None or tuple(getattr(protocol, "client", None) or ()) != peer:
                continue
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()

    async def to_server(self, frame: Frame) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.upstream.send(json.dumps(frame, separators=(",", ":")))

    async def inject_event(self, channel: str, data: Any) -> None:
        """Deliver an event the server never assigned, numbered as the next of this session.

        Called from fault hooks, which run under the proxy's lock: numbering and sending
        happen in one piece, so seqs reach each client in order.
        """
        if self.session is None:
            return
        self.last_seq += 1
        self.proxy.deltas[self.session] = self.delta + 1
        await self.to_client(
            {"type": "event", "seq": self.last_seq, "channel": channel, "data": data}
        )

    def skip_seq(self) -> None:
        """Leave a hole: the next event's seq jumps by one."""
        if self.session is not None:
            self.proxy.deltas[self.session] = self.delta + 1


class FrameProxy:
    """Serve the relay on a free loopback port in front of ``upstream`` (``host:port``)."""

    def __init__(self, upstream_host: str, upstream_port: int, fault: Fault) -> None:
        self.upstream = f"{upstream_host}:{upstream_port}"
        self.fault = fault
        self.deltas: dict[str, int] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.connections: list[Conn] = []
        self.lock = asyncio.Lock()
        """Serialises frame handling across connections (faults copy frames between them)."""
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(30.0), trust_env=False)
        routes = [
            WebSocketRoute("/{path:path}", self._websocket),
            Route("/{path:path}", self._relay_http, methods=["GET", "POST"]),
        ]
        self.app = Starlette(routes=routes)

    @property
    def server(self) -> uvicorn.Server | None:
        """The relay's own uvicorn server (its connections, for a fault that aborts one)."""
        return self._server

    def state_for(self, session: str) -> dict[str, Any]:
        """Scratch space a fault keeps per session (it outlives connections)."""
        return self.sessions.setdefault(session, {})

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def __aenter__(self) -> FrameProxy:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", ws_ping_interval=None, ws_max_size=2**24
        )
        if self.fault.handshake_timeout_s is not None:
            admission = Admission(
                max_connections=10000,
                max_handshakes=1024,
                handshake_timeout_s=self.fault.handshake_timeout_s,
            )
            config.http = admission_protocol(admission)
        self._server = uvicorn.Server(config)
        # Leave the test runner's signal handling alone (Ctrl-C must still stop pytest).
        self._server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        # The socket listens already: connections wait in its backlog until uvicorn accepts.
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for conn in list(self.connections):
            with contextlib.suppress(Exception):
                await conn.upstream.close()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                async with asyncio.timeout(10):
                    await self._task
        await self._http.aclose()

    # ----------------------------------------------------------------- WebSocket

    async def _websocket(self, websocket: WebSocket) -> None:
        offered = list(websocket.scope.get("subprotocols") or [])
        refused = self.fault.upgrade_close(dict(websocket.headers))
        if refused is not None:
            await websocket.accept(subprotocol=offered[0] if offered else None)
            await websocket.close(code=refused)
            return
        path = websocket.scope["path"]
        query = websocket.scope.get("query_string", b"").decode()
        url = f"ws://{self.upstream}{path}" + (f"?{query}" if query else "")
        try:
            upstream = await connect(
                url,
                subprotocols=[Subprotocol(p) for p in offered] or None,
                compression=None,
                ping_interval=None,
                max_size=None,
                proxy=None,
            )
        except (InvalidHandshake, OSError):
            await websocket.close(code=1002)
            return
        await websocket.accept(subprotocol=upstream.subprotocol)
        conn = Conn(self, len(self.connections), websocket, upstream)
        self.connections.append(conn)
        pumps = [
            asyncio.create_task(self._client_to_server(conn)),
            asyncio.create_task(self._server_to_client(conn)),
        ]
        writer = asyncio.create_task(conn.write())
        ender = asyncio.create_task(self._end_with_the_server(conn))
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (*pumps, writer, ender):
                task.cancel()
            with contextlib.suppress(Exception):
                await upstream.close()
            self.connections.remove(conn)

    async def _end_with_the_server(self, conn: Conn) -> None:
        """[TRANSPORT-23] the server ended its connection: a client that does not take what
        the relay still holds for it gets a reset, not a connection open for ever."""
        await conn.upstream.wait_closed()
        if not self.fault.ends_with_the_server:
            return
        try:
            async with asyncio.timeout(END_GRACE):
                await conn.drained()
        except TimeoutError:
            conn.abort_client()

    async def _client_to_server(self, conn: Conn) -> None:
        while True:
            try:
                message = await conn.client.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if message["type"] == "websocket.disconnect":
                with contextlib.suppress(Exception):
                    await conn.upstream.close(message.get("code", 1000))
                return
            if message.get("bytes") is not None:
                with contextlib.suppress(ConnectionClosed):
                    await conn.upstream.send(message["bytes"])
                continue
            text = self.fault.client_text(conn, message.get("text") or "")
            frame = _decode(text)
            if frame is None:
                with contextlib.suppress(ConnectionClosed):
                    await conn.upstream.send(text)
                continue
            async with self.lock:
                self._before_client_frame(conn, frame)
                outs = await self.fault.from_client(conn, frame)
                if outs == [_decode(text)]:
                    # Untouched (by the fault and the seq translation): relay the text as the
                    # client wrote it, so that what a JSON round trip would change (a duplicate
                    # name, 1e-400, an escape) reaches the server as it was sent.
                    with contextlib.suppress(ConnectionClosed):
                        await conn.upstream.send(text)
                    continue
                for out in outs:
                    await conn.to_server(out)

    async def _server_to_client(self, conn: Conn) -> None:
        try:
            async for message in conn.upstream:
                frame = None if isinstance(message, bytes) else _decode(message)
                if frame is None:
                    conn.send_raw(message)
                else:
                    async with self.lock:
                        self._before_server_frame(conn, frame)
                        for out in await self.fault.from_server(conn, frame):
                            await conn.to_client(out)
                if self.fault.backpressure:
                    # Read the server's next frame once this client took the last.
                    await conn.drained()
        except ConnectionClosed:
            pass
        code = conn.upstream.close_code or 1006
        reason = conn.upstream.close_reason or ""
        if not await self.fault.server_closed(conn, code, reason):
            # The fault hides the close: the client's side stays open until the client leaves.
            await conn.drained()
            with contextlib.suppress(Exception):
                while (await conn.client.receive())["type"] != "websocket.disconnect":
                    pass
            return
        if code == 1006:
            # An abrupt end (no close frame) stays abrupt: what came before it, then a reset.
            await conn.drained()
            conn.abort_client()
            return
        # 1005 cannot be sent in a close frame.
        conn.close_client(code if code != 1005 else 1011, reason)
        await conn.drained()

    def _before_client_frame(self, conn: Conn, frame: Frame) -> None:
        kind = frame.get("type")
        resume = frame.get("resume")
        if kind == "hello" and isinstance(resume, dict) and isinstance(resume.get("seq"), int):
            delta = self.deltas.get(str(resume.get("session")), 0)
            resume["seq"] = max(0, resume["seq"] - delta)
        if kind in ("subscribe", "unsubscribe") and isinstance(frame.get("id"), str):
            conn.pending[frame["id"]] = (kind, str(frame.get("channel")))

    def _before_server_frame(self, conn: Conn, frame: Frame) -> None:
        kind = frame.get("type")
        if kind == "welcome":
            conn.session = str(frame.get("session"))
            if frame.get("resumed") is True and isinstance(frame.get("seq"), int):
                frame["seq"] += conn.delta
            conn.last_seq = frame.get("seq", 0) if isinstance(frame.get("seq"), int) else 0
        elif kind == "event" and isinstance(frame.get("seq"), int):
            frame["seq"] += conn.delta
            conn.last_seq = frame["seq"]
        elif kind == "ack" and frame.get("id") in conn.pending:
            op, channel = conn.pending.pop(frame["id"])
            if op == "subscribe":
                conn.subscriptions.add(channel)
            else:
                conn.subscriptions.discard(channel)

    # ----------------------------------------------------------------- HTTP

    async def _relay_http(self, request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        query = dict(request.query_params)
        self.fault.http_request(request.url.path, headers, query)
        body = self.fault.http_body(request.url.path, await request.body())
        upstream = self._http.build_request(
            request.method,
            f"http://{self.upstream}{request.url.path}",
            headers=headers,
            params=query,
            content=body,
        )
        response = await self._http.send(upstream, stream=True)
        kept = {k: v for k, v in response.headers.items() if k.lower() not in _HOP_HEADERS}
        path = request.url.path
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            try:
                body = await response.aread()
            finally:
                await response.aclose()
                self.fault.http_finished(path)
            if path.endswith("/health"):
                body = self.fault.health_body(body)
            body = self.fault.response_body(path, response.status_code, body)
            kept.pop("content-encoding", None)
            return Response(body, status_code=response.status_code, headers=kept)

        async def body_chunks() -> AsyncIterator[bytes]:
            pending = ""
            try:
                async for chunk in response.aiter_text():
                    # Whole messages only, so that a fault sees each one in one piece.
                    pending += chunk
                    *messages, pending = pending.split("\n\n")
                    for message in messages:
                        yield self.fault.stream_text(path, message + "\n\n").encode()
                if pending:
                    yield pending.encode()
                if self.fault.keeps_stream_open(path):
                    await asyncio.Event().wait()  # cancelled when the client disconnects
            finally:
                await response.aclose()
                self.fault.http_finished(path)

        return StreamingResponse(body_chunks(), status_code=response.status_code, headers=kept)


def _decode(text: str) -> Frame | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
