"""The legacy endpoints ``/ws/chat`` and ``/api/ws`` (spec legacy.md, profile ``legacy``).

The single-purpose sockets of the application Canaux grew out of keep working: no
subprotocol, no hello, no seq, no acks; every frame is ``{"channel": …, "data": …}``
[LEGACY-1]. ``/api/ws`` streams ``system`` and ``progress``; ``/ws/chat`` takes chat messages
(``{"message": "…"}`` or the channel form) and streams the replies to its own requests
[LEGACY-2]. A frame that cannot be used gets a ``system`` error notice and the connection stays
open [LEGACY-3].
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Coroutine
from typing import Any, Literal

from starlette.websockets import WebSocket, WebSocketDisconnect

from canaux.protocol.codes import CloseCode, ErrorCode
from canaux.protocol.frames import decode_json, dumps
from canaux.server.access import Principal, authenticate, origin_allowed, seconds_left
from canaux.server.channels.chat import CHANNEL as CHAT
from canaux.server.channels.progress import CHANNEL as PROGRESS
from canaux.server.channels.system import CHANNEL as SYSTEM
from canaux.server.channels.system import notice
from canaux.server.config import Unauthorized
from canaux.server.errors import bearer_token
from canaux.server.outbound import Outbound
from canaux.server.runtime import ServerRuntime

__all__ = ["MAX_LEGACY_REQUESTS", "LegacyLink", "api_ws_endpoint", "chat_ws_endpoint"]

Kind = Literal["chat", "api"]

MAX_LEGACY_REQUESTS = 16
"""Chat requests one ``/ws/chat`` socket may have running at once [LEGACY-9]."""


class LegacyLink:
    """One legacy socket: a hub subscriber (``/api/ws``) or a chat requester (``/ws/chat``)."""

    def __init__(
        self,
        runtime: ServerRuntime,
        websocket: WebSocket,
        kind: Kind,
        identity: str | None = None,
        principal: Principal | None = None,
    ) -> None:
        self._runtime = runtime
        self._ws = websocket
        self.kind = kind
        self.identity = identity
        self.principal = principal
        self.outbound = Outbound(runtime.limits.outbound_queue, runtime.limits.outbound_queue_bytes)
        self._close_code: int | None = None
        self._closed = asyncio.Event()
        self._requests: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._writer: asyncio.Task[None] | None = None

    # Subscriber (hub) and chat replies -----------------------------------------------------

    def deliver(self, channel: str, data_json: str) -> None:
        self._put(f'{{"channel":{dumps(channel)},"data":{data_json}}}')

    def _put(self, text: str) -> None:
        if self.outbound.put(text) or not self.outbound.overflowed or self._close_code is not None:
            return
        # [LIMIT-4] [LEGACY-8] the queue overflowed: 4503, and the writer, which may be stuck
        # behind a client that does not read, stops now [TRANSPORT-23].
        self._close_code = CloseCode.SLOW_CONSUMER
        self._interrupt()

    def _interrupt(self) -> None:
        """Stop writing now: the writer may be stuck behind a client that does not read."""
        if self._writer is not None:
            # Safe: a blocked send waits for the socket to drain before it writes anything
            # (and cancelling a writer that has returned does nothing).
            self._writer.cancel()

    def _emit(self, channel: str, data: Any) -> None:
        self.deliver(channel, dumps(data))

    # Requester (the chat channel's hook answers this socket only) -------------------------

    def send(self, channel: str, data: Any) -> None:
        self._emit(channel, data)

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        request = asyncio.create_task(work, name=name)
        self._requests.add(request)
        request.add_done_callback(self._requests.discard)

    def _notice(self, code: ErrorCode, text: str) -> None:
        # [LEGACY-3] the answer to an unusable JSON object; the connection stays open.
        self._emit(SYSTEM, notice("error", text, code.value))

    # Connection ---------------------------------------------------------------------------

    def go_away(self, code: int, reason: str) -> None:
        self._close_code = code
        self.outbound.close()
        # What is queued goes first, but a client that does not read gets no more than the
        # close timeout [TRANSPORT-23].
        asyncio.get_running_loop().call_later(self._runtime.config.close_timeout_s, self._interrupt)

    async def wait_closed(self) -> None:
        await self._closed.wait()

    # Life ---------------------------------------------------------------------------------

    async def run(self) -> None:
        await self._ws.accept()
        self._runtime.connections.add(self)
        reader = asyncio.create_task(self._read())
        left = seconds_left(self.principal)
        # [SECURITY-10] the socket closes with 4440 when its credentials expire.
        expiry = (
            None
            if left is None
            else asyncio.get_running_loop().call_later(
                left, self.go_away, CloseCode.CREDENTIALS_EXPIRED, "credentials expired"
            )
        )
        try:
            if self.kind == "api":
                # [LEGACY-1] /api/ws delivers system and progress (those the policy allows).
                for channel in (SYSTEM, PROGRESS):
                    if self._runtime.channels.permits(
                        self.identity, "subscribe", channel, self.principal
                    ):
                        await self._runtime.hub.subscribe(channel, self)
                        await self._runtime.channels.subscribed(channel, self.identity, self._emit)
            self._writer = asyncio.create_task(self._write())
            try:
                await self._writer
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # this task itself is cancelled, not just the writer
            await self._close()
        finally:
            if expiry is not None:
                expiry.cancel()
            reader.cancel()
            for request in list(self._requests):
                request.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            self._runtime.hub.drop(self)
            self._runtime.connections.discard(self)
            self._closed.set()

    async def _write(self) -> None:
        while True:
            await self.outbound.wait(None)
            if self._close_code is not None and self.outbound.overflowed:
                return  # [LIMIT-4] nothing more for a client that does not read
            for text in self.outbound.take():
                try:
                    await self._ws.send_text(text)
                except (WebSocketDisconnect, OSError, RuntimeError):
                    self._close_code = None  # the peer is gone: no close frame
                    return
            if self._close_code is not None or self.outbound.closed:
                return  # closing, or the peer went away

    async def _close(self) -> None:
        if self._close_code is None:
            return
        self._runtime.closed(f"legacy-{self.kind}", self._close_code)
        with contextlib.suppress(TimeoutError, WebSocketDisconnect, OSError, RuntimeError):
            async with asyncio.timeout(self._runtime.config.close_timeout_s):
                await self._ws.close(self._close_code)

    async def _read(self) -> None:
        limit = self._runtime.limits.max_frame_bytes
        while True:
            try:
                message = await self._ws.receive()
            except (WebSocketDisconnect, OSError, RuntimeError):
                message = {"type": "websocket.disconnect"}
            if message["type"] == "websocket.disconnect":
                self.outbound.close()
                return
            text = message.get("text")
            if text is None:
                # [LEGACY-5] [TRANSPORT-4] a binary frame → 1003.
                self.go_away(CloseCode.UNSUPPORTED_DATA, "binary frames are not supported")
                return
            if len(text.encode("utf-8", "surrogatepass")) > limit:
                self.go_away(CloseCode.MESSAGE_TOO_BIG, f"frame over {limit} bytes")
                return
            try:
                frame = decode_json(text)
            except ValueError:
                frame = None
            if not isinstance(frame, dict):
                # [LEGACY-5] [TRANSPORT-5] not JSON, or not an object → 1007.
                self.go_away(CloseCode.INVALID_PAYLOAD, "a frame is one json object")
                return
            if frame.get("type") == "ping":
                pong: dict[str, Any] = {"type": "pong"}
                if isinstance(frame.get("nonce"), str):
                    pong["nonce"] = frame["nonce"]
                self._emit_raw(pong)
                continue
            if self.kind == "api":
                self._notice(ErrorCode.FORBIDDEN, "/api/ws is receive-only")
                continue
            await self._chat(frame)

    def _emit_raw(self, obj: dict[str, Any]) -> None:
        self._put(dumps(obj))

    async def _chat(self, frame: dict[str, Any]) -> None:
        # [LEGACY-2] the flat form, or the channel form (no channel: this endpoint's default).
        if "message" in frame and "channel" not in frame and "data" not in frame:
            message = frame["message"]
            if not isinstance(message, str):
                self._notice(ErrorCode.BAD_FRAME, "message must be a string")
                return
            data: Any = {"type": "message", "text": message}
        elif "data" in frame:
            channel = frame.get("channel", CHAT)
            if channel != CHAT:
                # [LEGACY-3] a channel other than the endpoint's is not a legacy frame here.
                self._notice(ErrorCode.BAD_FRAME, f"/ws/chat only takes chat, not {channel!r}")
                return
            data = frame["data"]
        else:
            self._notice(
                ErrorCode.BAD_FRAME, 'expected {"message": …} or {"channel": "chat", "data": …}'
            )
            return
        # The checks of a publish, in the order of CHANNEL-14.
        if self._runtime.channels.resolve(CHAT) is None:
            self._notice(ErrorCode.UNKNOWN_CHANNEL, f"this server offers no {CHAT} channel")
            return
        if not self._runtime.channels.permits(self.identity, "publish", CHAT, self.principal):
            self._notice(ErrorCode.FORBIDDEN, f"not allowed to publish on {CHAT}")  # [CHANNEL-13]
            return
        problem = self._runtime.catalogue.validate_publish(CHAT, data)
        if problem is not None:
            self._notice(ErrorCode.BAD_FRAME, f"{problem.pointer}: {problem.message}")
            return
        if len(self._requests) >= MAX_LEGACY_REQUESTS:
            # [LEGACY-9] not run, a chat.busy notice, the socket stays open: without acks the
            # client cannot be slowed down any other way.
            self._emit(SYSTEM, notice("error", "too many chat requests at once", "chat.busy"))
            return
        # The chat channel's own hook, as for a Canaux publish; its replies come to this socket.
        refused = await self._runtime.channels.client_publish(
            CHAT, data, f"legacy-{next(self._ids)}", self, accepted=lambda: None
        )
        if refused is not None:
            self._notice(refused.code, refused.message)


async def _admitted(runtime: ServerRuntime, websocket: WebSocket) -> tuple[bool, Principal | None]:
    """Origin and credentials of a legacy socket, checked before its handshake completes:
    (admitted, principal)."""
    runtime.ensure_started()
    try:
        if origin_allowed(runtime.config, websocket.headers):
            # Legacy sockets have no hello: their credentials are the HTTP ones.
            token = bearer_token(websocket.headers.get("authorization"))
            return True, await authenticate(runtime.config, token)
    except Unauthorized:
        pass
    await websocket.close()  # before accept: HTTP 403 [SECURITY-14]
    return False, None


async def chat_ws_endpoint(runtime: ServerRuntime, websocket: WebSocket) -> None:
    """``/ws/chat``: chat messages in, the replies to them out [LEGACY-1, LEGACY-2]."""
    admitted, principal = await _admitted(runtime, websocket)
    if admitted:
        identity = principal.identity if principal is not None else None
        await LegacyLink(runtime, websocket, "chat", identity, principal).run()


async def api_ws_endpoint(runtime: ServerRuntime, websocket: WebSocket) -> None:
    """``/api/ws``: system and progress events out; receive-only [LEGACY-1, LEGACY-3]."""
    admitted, principal = await _admitted(runtime, websocket)
    if admitted:
        identity = principal.identity if principal is not None else None
        await LegacyLink(runtime, websocket, "api", identity, principal).run()
