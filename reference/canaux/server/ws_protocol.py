"""uvicorn's sans-I/O WebSocket protocol with a direct write path (spec delivery.md, transport.md).

ASGI hands a server one ``websocket.send`` message per frame, and uvicorn writes each one to
the socket at once: one ``send()`` system call per frame, and for every frame a trip through
the ASGI send chain (Starlette's exception-handler wrapper, uvicorn's ``send``). In a fan-out
that chain was 47 % of the server's time (profiled, issue #14). This protocol offers the app
an ASGI scope extension, :data:`WRITER` (``scope["extensions"]["canaux.writer"]``): a
:class:`DirectWriter` whose synchronous :meth:`~DirectWriter.write_texts` frames a list of
texts and writes them in ONE transport write. The bytes keep their order on the wire: every
other write of uvicorn's protocol (pong, close…) takes everything the WebSocket state machine
holds, and this path leaves nothing there between two calls.

Back-pressure: :meth:`~DirectWriter.write_texts` says when the transport is paused (its
buffer over the high-water mark); the caller then writes nothing more until the callback it
set with :meth:`~DirectWriter.on_resume` runs, and what it has not written stays in the core's
bounded queue, which finds the slow consumer [LIMIT-4].

Idle memory: the receive queue and the writable flag store nothing while nobody waits, the
handshake request and response uvicorn keeps for the whole connection are dropped once the
connection is accepted, and the protocol object keeps per connection only what differs from
one connection to the next (see :class:`CoalescingWebSocketProtocol`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from uvicorn._types import ASGIReceiveEvent, ASGISendEvent
from uvicorn.config import Config
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.exceptions import InvalidState
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.protocol import OPEN
from websockets.server import ServerProtocol

__all__ = ["WRITER", "CoalescingWebSocketProtocol", "DirectWriter", "Flag", "ReceiveQueue"]

logger = logging.getLogger("canaux.server.ws")

END_GRACE_S = 1.0
"""Seconds a connection may stay open once its app returned, before it is reset."""

WRITER = "canaux.writer"
"""Key of the scope's ``extensions`` under which this protocol offers its :class:`DirectWriter`.

An ASGI extension of ours: under another ASGI server the key is absent and the app sends
each frame with the ASGI ``send`` callable.
"""


class DirectWriter(Protocol):
    """What :data:`WRITER` offers: writing frames without the ASGI send chain."""

    def write_texts(self, texts: Sequence[str]) -> bool:
        """Frame ``texts`` as text frames, in order, and write them in one transport write.

        ``False`` when the transport is paused after this write (over its high-water mark):
        write nothing more until the :meth:`on_resume` callback runs. Raises
        :class:`~uvicorn.protocols.utils.ClientDisconnected` (an :class:`OSError`) once the
        connection is closing or gone: nothing was written.
        """

    def on_resume(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` each time the paused transport can take writes again."""


# [TRANSPORT-25] Server-to-client frames are never masked (RFC 6455 §5.1): FIN + text opcode,
# then the payload length in its minimal encoding: 7 bits up to 125, 126 + 16 bits up to
# 65,535, 127 + 64 bits beyond (RFC 6455 §5.2).
_SMALL_HEADERS = tuple(bytes((0x81, n)) for n in range(126))
_MEDIUM_HEADER = struct.Struct("!BBH")
_LARGE_HEADER = struct.Struct("!BBQ")


class ReceiveQueue:
    """The part of :class:`asyncio.Queue` uvicorn's protocol uses, storing nothing while empty.

    An :class:`asyncio.Queue` holds four deques from the start (about 1.5 KiB); an idle
    connection's queue is empty nearly all the time, so this one keeps its items and its
    waiters only while there are some.
    """

    __slots__ = ("_items", "_waiters")

    def __init__(self) -> None:
        self._items: deque[ASGIReceiveEvent] | None = None
        self._waiters: list[asyncio.Future[None]] | None = None

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def put_nowait(self, item: ASGIReceiveEvent) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    async def get(self) -> ASGIReceiveEvent:
        while not self._items:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if self._waiters is not None and waiter in self._waiters:
                    self._waiters.remove(waiter)
        item = self._items.popleft()
        if not self._items:
            self._items = None
        return item


class Flag:
    """The part of :class:`asyncio.Event` uvicorn's protocol uses (``writable``), storing no
    waiter list while nobody waits: an Event makes a deque at once (about 0.75 KiB)."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
            return True
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)


_DEFLATE = (
    ServerPerMessageDeflateFactory(
        server_max_window_bits=12, client_max_window_bits=12, compress_settings={"memLevel": 5}
    ),
)
"""uvicorn's permessage-deflate offer, with its settings, made once: a factory keeps nothing of
a connection (each negotiation makes its own extension), and uvicorn made one per connection."""


class CoalescingWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O protocol with the direct write path (:data:`WRITER`), lean when idle.

    Idle memory: uvicorn's ``__init__`` gives every connection 38 attributes (a 1.6 KiB
    instance dictionary each, measured with tracemalloc; 0.8 KiB here, 23 attributes after the
    handshake); most are the same on every connection. This ``__init__`` (instead of
    uvicorn's, not after it) sets only what differs; the rest are class attributes of the
    same value, or read from the config (``tests/reference/server/test_ws_protocol_idle.py``
    checks both against uvicorn's own ``__init__``). An attribute uvicorn later assigns
    becomes the instance's as usual.
    """

    # uvicorn's initial values, shared.
    logger = logging.getLogger("uvicorn.error")
    transport: asyncio.Transport = None  # type: ignore[assignment]
    server: tuple[str, int | None] | None = None
    client: tuple[str, int] | None = None
    scheme: Any = None
    handshake_initiated = False
    handshake_complete = False
    close_sent = False
    disconnected = False
    close_timer: asyncio.TimerHandle | None = None
    close_timeout = 10.0
    initial_response: tuple[int, list[tuple[str, str]], bytes] | None = None
    read_paused = False
    ping_timer: asyncio.TimerHandle | None = None
    pong_timer: asyncio.TimerHandle | None = None
    pending_ping_payload: bytes | None = None
    ping_sent_at = 0.0
    last_ping_rtt = 0.0
    curr_msg_data_type: Any = "bytes"

    # uvicorn's values from the config, which it only reads.
    root_path = property(lambda self: self.config.root_path)
    asgi_version = property(lambda self: self.config.asgi_version)
    ping_interval = property(lambda self: self.config.ws_ping_interval)
    ping_timeout = property(lambda self: self.config.ws_ping_timeout)

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        # Deliberately not super().__init__(): see the class docstring.
        if not config.loaded:
            config.load()  # pragma: no cover - uvicorn loads it before any connection
        self.config = config
        self.app = config.loaded_app
        self.loop = _loop or asyncio.get_event_loop()
        self.app_state = app_state
        self.connections = server_state.connections
        self.tasks = server_state.tasks
        self.default_headers = server_state.default_headers
        # Same behaviour for uvicorn's protocol (put_nowait, get, empty), ~1.1 KiB less per
        # idle connection (measured with tracemalloc).
        self.queue = ReceiveQueue()  # type: ignore[assignment]
        self.conn = ServerProtocol(
            extensions=_DEFLATE if config.ws_per_message_deflate else (),
            max_size=config.ws_max_size,
            logger=self.logger,
        )
        self.writable = Flag()  # type: ignore[assignment]
        self.writable.set()
        self.frames: list[bytes] = []

    def on_task_complete(self, task: asyncio.Task[None]) -> None:
        super().on_task_complete(task)
        # [TRANSPORT-23] uvicorn closes the transport once the app returns, but asyncio keeps
        # the socket open until its write buffer drains: a client that never reads again
        # (a slow consumer cut with 4503) would hold it for ever. The app already waited its
        # close timeout for the close frame; what is still open a moment later is reset.
        # (The app task's done callback, not an override of run_asgi: that would be one more
        # coroutine suspended for the life of every idle connection, issue #14.)
        if not self.disconnected:
            asyncio.get_running_loop().call_later(END_GRACE_S, self._end_now)

    def _end_now(self) -> None:
        if self.disconnected:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            # A reset, not a FIN queued behind bytes the client will never take: the kernel
            # frees the connection (and its send buffer) at once.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def send_receive_event_to_app(self) -> None:
        # uvicorn's own, but a text message that is not UTF-8 costs one INFO line instead of an
        # ERROR with a traceback ([#10] finding 7): a client's bad bytes are no server fault,
        # and the 1007 below is the whole answer [TRANSPORT-5].
        if self.curr_msg_data_type != "text" or self.close_sent:
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        try:
            text = data.decode()
        except UnicodeDecodeError as exc:
            logger.info(
                "closing a connection with 1007: invalid UTF-8 at byte %d of a %d-byte message",
                exc.start,
                len(data),
            )
            self.conn.send_close(1007)
            self.handle_parser_exception()
            return
        self.queue.put_nowait({"type": "websocket.receive", "text": text})
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = self.__dict__.get("scope")
        if scope is not None:  # upgraded: the app task starts on the next loop pass
            scope["extensions"][WRITER] = self

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        # The scope refers to this protocol, which refers to the scope: without this the
        # pair (and the app's objects) would wait for the cycle collector.
        resume, self._resume = self._resume, None
        if resume is not None:
            resume()  # asyncio never resumes a transport lost while paused: nobody waits on
        scope = self.__dict__.get("scope")
        if scope is not None:
            scope["extensions"].pop(WRITER, None)

    _resume: Callable[[], None] | None = None
    """What :meth:`on_resume` set (a class default: an idle connection stores nothing)."""

    def on_resume(self, callback: Callable[[], None] | None) -> None:
        self._resume = callback

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._resume is not None:
            self._resume()

    def write_texts(self, texts: Sequence[str]) -> bool:
        transport = self.transport
        conn = self.conn
        if self.disconnected or self.close_sent or conn.state is not OPEN or transport.is_closing():
            raise ClientDisconnected()
        # Anything the state machine holds goes first (nothing, between two calls: every
        # write of uvicorn's takes it all).
        out = conn.data_to_send()
        if conn.extensions:
            # A negotiated extension (permessage-deflate, RFC 7692) transforms every frame:
            # the websockets connection frames them, never headers written here.
            for text in texts:
                conn.send_text(text.encode())
            out += conn.data_to_send()
        else:
            append = out.append
            for text in texts:
                data = text.encode()
                size = len(data)
                if size < 126:
                    append(_SMALL_HEADERS[size])
                elif size < 65536:
                    append(_MEDIUM_HEADER.pack(0x81, 126, size))
                else:
                    append(_LARGE_HEADER.pack(0x81, 127, size))
                append(data)
        if out:
            transport.write(b"".join(out))
        # The transport calls pause_writing() from inside write() when it passes the mark.
        return self.writable.is_set()

    async def send(self, message: ASGISendEvent) -> None:
        if (
            message["type"] != "websocket.send"
            or not self.handshake_complete
            or self.close_sent
            or self.initial_response is not None
        ):
            await super().send(message)
            if message["type"] == "websocket.accept" and self.handshake_complete:
                # uvicorn keeps the handshake request and response for the whole connection;
                # nothing reads them after the accept, and their headers weigh a few KiB on
                # every idle connection (measured with tracemalloc).
                request = self.__dict__.pop("request", None)
                self.__dict__.pop("response", None)
                if request is not None:
                    # The WebSocket parser's generator frame still references the request
                    # for the life of the connection; the scope holds its own header copy.
                    request.headers.clear()
            return
        await self.writable.wait()
        if self.disconnected:
            raise ClientDisconnected()
        text = message.get("text")
        if text is not None:
            # One frame through the ASGI send: the same framing as the direct path.
            self.write_texts((text,))
            return
        try:
            self.conn.send_binary(message.get("bytes") or b"")
        except InvalidState:
            raise ClientDisconnected() from None
        output = self.conn.data_to_send()
        if output and not self.transport.is_closing():
            self.transport.write(b"".join(output))
