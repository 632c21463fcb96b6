"""``/ws``: a Canaux WebSocket connection, the I/O around the sans-I/O core
(spec transport.md to limits.md, security.md).

:class:`~canaux.protocol.server.ServerConnection` decides everything the protocol alone can
decide (framing, handshake, heartbeat, rate limit, malformed frames, the slow-consumer bound
on its outgoing queue). This module feeds it the socket's frames and the time, writes what it
produces, and answers its events with the rest of the server: sessions, hub, channel services.

No task per connection but the ASGI app's, which reads (frames in, operations answered in
arrival order [OPS-2]). Frames go out without a task: fan-out only appends to the core's
outgoing queue and marks the connection dirty in its event loop's :class:`_Flusher`, which
writes every dirty connection's whole queue once per loop pass, in one socket write through the
server's direct write path (``ws_protocol.WRITER``). A connection whose socket is paused (over
its high-water mark) is skipped until the socket drains; its frames wait in the core's bounded
queue, which finds the slow consumer [LIMIT-4], so nobody else notices [SECURITY-4]. The
core's timers (hello timeout, heartbeat ping, 4410) are loop timers. Under an ASGI server
without the direct path a writer task sends frame by frame through the ASGI ``send``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from canaux.protocol import frames
from canaux.protocol.codes import CloseCode, ErrorCode
from canaux.protocol.operations import Effect, Outcome, Permitted
from canaux.protocol.server import (
    ConnEvent,
    HelloReceived,
    PublishRequested,
    ServerConnection,
    SubscribeRequested,
    UnsubscribeRequested,
)
from canaux.server.access import Principal, authenticate, origin_allowed, seconds_left
from canaux.server.broker import PublishOrigin, publish_origin
from canaux.server.channels.channel import Action
from canaux.server.channels.table import SessionRequester
from canaux.server.config import Unauthorized
from canaux.server.runtime import ServerRuntime
from canaux.server.sessions import Session, SessionsUnavailable
from canaux.server.ws_protocol import WRITER, DirectWriter

__all__ = ["SUBPROTOCOL", "WebSocketDoor", "WebSocketLink", "websocket_endpoint"]

SUBPROTOCOL = "canaux.v1"

logger = logging.getLogger("canaux.server.websocket")


def _now() -> float:
    return time.monotonic()


class _Flusher:
    """The connections of one event loop with frames to write, written once per loop pass.

    Fan-out marks a connection at most once per pass; the first mark schedules one
    :meth:`flush` with ``call_soon``, after everything already ready to run (the rest of a
    burst of publishes), so a connection gets one socket write per pass whatever the backlog.
    """

    __slots__ = ("_dirty", "_scheduled")

    def __init__(self) -> None:
        self._dirty: list[WebSocketLink] = []
        self._scheduled = False

    def mark(self, link: WebSocketLink) -> None:
        self._dirty.append(link)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, []
        for link in dirty:
            try:
                link.write_queued()
            except Exception:
                # One connection's bug must not stop the others' writes: 1011 for it alone.
                logger.exception("internal error writing to a connection")
                link.internal_error()


_flushers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Flusher] = (
    weakref.WeakKeyDictionary()
)


def _flusher() -> _Flusher:
    loop = asyncio.get_running_loop()
    flusher = _flushers.get(loop)
    if flusher is None:
        flusher = _flushers[loop] = _Flusher()
    return flusher


class WebSocketLink:
    """One accepted ``/ws`` connection: a session's event sink and a closable connection."""

    def __init__(
        self, runtime: ServerRuntime, websocket: WebSocket, send: Send | None = None
    ) -> None:
        self._runtime = runtime
        self._ws = websocket
        self.conn = ServerConnection(runtime.limits, _now())
        self.session: Session | None = None
        # The server's direct write path (ws_protocol.WRITER), else the raw ASGI send (not
        # Starlette's wrapper of it) one frame at a time, from a writer task woken by _wake.
        extensions = websocket.scope.get("extensions") or {}
        self._direct: DirectWriter | None = extensions.get(WRITER)
        self._send: Send = send if send is not None else websocket.send
        self._flusher = _flusher()
        self._wake: asyncio.Event | None = None if self._direct is not None else asyncio.Event()
        self._dirty = False
        """Marked in the flusher: written on this loop pass."""
        self._paused = False
        """The socket is over its high-water mark: nothing is written until it drains."""
        self._ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        """Done when the connection stops: the peer left, or the core closed it."""
        # One timer for the core's deadline (see _arm).
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        # Made on demand: only a shutdown waits for it, and an Event costs ~400 bytes on
        # every idle connection.
        self._closed: asyncio.Event | None = None
        self._finished = False
        self._peer_gone = False
        self._wrote = False
        """Whether a frame went out (the first is the welcome, HANDSHAKE-2)."""
        self._writer: asyncio.Task[None] | None = None
        """The fall-back path's writer task (no direct write path)."""
        self._task: asyncio.Task[object] | None = None
        """The ASGI app's task, which reads (see run)."""
        self._reading = False
        self._stopped = False
        """_end() cancelled the app's task to stop its reading."""
        self.principal: Principal | None = None
        self._expiry: asyncio.TimerHandle | None = None

    # EventSink ---------------------------------------------------------------------------

    def send_event(self, channel: str, seq: int, text: str) -> None:
        # Never waits: the core queues the frame, or cuts the connection with 4503 when its
        # queue is full [LIMIT-4]; the session keeps the event for a resume either way.
        if self.conn.send_event_text(text, _now()) and self.conn.closed:
            self._interrupt()
            return
        self._mark()

    def replace(self) -> None:
        # [RESUME-4] another connection resumed this session.
        self.conn.close(CloseCode.SESSION_REPLACED, "session resumed by another connection")
        if self._wrote:
            self._interrupt()
            return
        # [RESUME-15] overtaken before its welcome went out (two resumes at the same moment):
        # the welcome still goes first [HANDSHAKE-2], within the close timeout.
        self._mark()
        asyncio.get_running_loop().call_later(self._runtime.config.close_timeout_s, self._interrupt)

    # Connection --------------------------------------------------------------------------

    def go_away(self, code: int, reason: str) -> None:
        # What is already queued (the stop notice…) still goes out first, within the close
        # timeout; then the close frame.
        self.conn.close(code, reason)
        self._mark()
        asyncio.get_running_loop().call_later(self._runtime.config.close_timeout_s, self._interrupt)

    async def wait_closed(self) -> None:
        if self._finished:
            return
        if self._closed is None:
            self._closed = asyncio.Event()
        await self._closed.wait()

    # Life --------------------------------------------------------------------------------

    def _interrupt(self) -> None:
        """Stop writing now: the socket may be stuck behind a client that does not read."""
        self._end()
        if self._writer is not None and not self._writer.done():
            # Safe: a blocked send waits for the socket to drain before it writes anything.
            self._writer.cancel()

    def _end(self) -> None:
        if self._ended.done():
            return
        self._ended.set_result(None)
        task = self._task
        if self._reading and task is not None and task is not asyncio.current_task():
            # The app's task waits for a frame (or answers one): it stops there (see run).
            self._stopped = True
            task.cancel()

    def internal_error(self) -> None:
        """A bug on our side while writing: 1011, the client may retry."""
        self.conn.close(CloseCode.INTERNAL_ERROR, "internal error")
        self._end()

    def _mark(self) -> None:
        """There are frames to write (or the core closed): write them on this loop pass."""
        if self._wake is not None:
            self._wake.set()  # the fall-back path's writer task
        elif not self._dirty:
            self._dirty = True
            self._flusher.mark(self)

    def write_queued(self) -> None:
        """Write the core's whole queue in one socket write (the direct path; see _Flusher)."""
        self._dirty = False
        if self._ended.done():
            return
        conn = self.conn
        if conn.close_code == CloseCode.SLOW_CONSUMER:
            self._end()  # [LIMIT-4] nothing more for a client that does not read
            return
        direct = self._direct
        assert direct is not None
        if not self._paused:
            batch = conn.data_to_send()
            if batch:
                try:
                    writable = direct.write_texts(batch)
                except OSError:
                    self._peer_gone = True
                    self._end()
                    return
                self._wrote = True
                if not writable:
                    # Over the high-water mark: what follows waits in the core's bounded
                    # queue [LIMIT-4] until the socket drains.
                    self._paused = True
                    direct.on_resume(self._resumed)
        if conn.closed:
            if not self._paused:
                self._end()  # the frames queued before the close went out: now the close
            return
        self._arm()

    def _resumed(self) -> None:
        """The paused socket drained (or is gone): write what waited."""
        self._paused = False
        if self._direct is not None:
            self._direct.on_resume(None)
        self._mark()

    def _arm(self) -> None:
        """Keep a loop timer at the core's next deadline (hello timeout, ping, 4410).

        Moved only when the deadline comes EARLIER: it mostly moves later (each frame
        postpones the next ping), and an early wake-up only costs a tick that does nothing.
        A timeout scope per wake-up cost more than a tenth of the fan-out time (profiled).
        """
        if self._ended.done():
            return
        deadline = self.conn.next_deadline()
        if deadline is None or (self._timer is not None and deadline >= self._timer_at):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        loop = asyncio.get_running_loop()
        self._timer = loop.call_at(loop.time() + max(0.0, deadline - _now()), self._fired)

    def _fired(self) -> None:
        # Whether the timer fired is what this callback says, never a comparison of clocks:
        # the loop's clock is not the core's (uvloop's is libuv's, cached per iteration and in
        # milliseconds), so a timer may fire a little before its deadline by ``_now()``.
        # Taking such a wake-up for "not fired yet" left no timer armed at all: no more pings
        # (HEARTBEAT-1) and no 4410 (HEARTBEAT-3) under uvloop ([#10] finding 6). After an
        # early wake-up, tick() does nothing and _arm() sets a timer for the rest.
        self._timer = None
        if self._ended.done():
            return
        conn = self.conn
        was_open = not conn.closed
        conn.tick(_now())
        if was_open and conn.closed:
            # Hello or heartbeat timeout: the peer is not there to read anything else.
            self._end()
            return
        self._mark()  # a ping, maybe
        self._arm()

    async def run(self) -> None:
        """Serve the connection until it is closed; the session stays resumable after.

        The reading happens here, in the ASGI app's task (no task of its own). What ends the
        connection meanwhile (a timer, the flusher, a takeover) cancels this task once, and
        the cancellation is taken back here; any other cancellation goes on.
        """
        task = self._task = asyncio.current_task()
        self._runtime.connections.add(self)
        if self._direct is None:
            self._writer = asyncio.create_task(self._write())
        self._arm()
        try:
            try:
                self._reading = True
                try:
                    await self._read()
                finally:
                    self._reading = False
                await self._ended  # the frames queued before the close go out first
            except asyncio.CancelledError:
                if not self._stopped or task is None or task.cancelling() > 1:
                    raise  # this task itself is cancelled, not just its reading
                task.uncancel()
            if self.conn.closed and not self._peer_gone:
                await self._close()
        finally:
            if self._expiry is not None:
                self._expiry.cancel()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._direct is not None:
                self._direct.on_resume(None)
            if self._writer is not None:
                self._writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._writer
            if self.session is not None:
                self._runtime.registry.detach(self.session, self)
            self._runtime.connections.discard(self)
            self._finished = True
            if self._closed is not None:
                self._closed.set()

    async def _read(self) -> None:
        conn = self.conn
        while not conn.closed:
            try:
                message = await self._ws.receive()
            except (WebSocketDisconnect, OSError, RuntimeError):
                message = {"type": "websocket.disconnect"}
            if message["type"] == "websocket.disconnect":
                self._peer_gone = True
                self._end()
                return
            try:
                text = message.get("text")
                if text is not None:
                    conn.receive_text(text, _now())
                else:
                    conn.receive_bytes(message.get("bytes") or b"", _now())
                # An idle connection waits for its next frame holding nothing of this one:
                # its text, the parsed frame and its event (about 1 KiB, issue #14).
                del message, text
                for event in conn.events_received():
                    await self._answer(event)
                    del event
            except Exception:
                # A bug on our side must not leave the client hanging: 1011, it may retry.
                logger.exception("internal error on a connection")
                conn.close(CloseCode.INTERNAL_ERROR, "internal error")
            # Replies to write; and a frame received moves the core's deadlines (the hello's
            # timeout gives way to the heartbeat's), which the flush re-arms.
            self._mark()
            if self._wake is not None:
                self._arm()
        # The frames queued before the close (an error, a reply) go out first, but a client
        # that does not read them gets no more than the close timeout.
        asyncio.get_running_loop().call_later(self._runtime.config.close_timeout_s, self._interrupt)

    async def _write(self) -> None:
        """The fall-back path (no direct writer): frames out through the ASGI ``send``."""
        conn = self.conn
        wake = self._wake
        assert wake is not None
        while True:
            await wake.wait()
            wake.clear()
            if self._ended.done():
                return
            for text in conn.data_to_send():
                if conn.close_code == CloseCode.SLOW_CONSUMER:
                    break  # [LIMIT-4] nothing more for a client that does not read
                try:
                    await self._send({"type": "websocket.send", "text": text})
                    self._wrote = True
                except (WebSocketDisconnect, OSError, RuntimeError):
                    self._peer_gone = True
                    self._end()
                    return
            if conn.closed:
                self._end()
                return
            self._arm()

    async def _close(self) -> None:
        code = self.conn.close_code or CloseCode.NORMAL
        # A close reason is at most 123 bytes (RFC 6455 §5.5).
        reason = self.conn.close_reason.encode()[:120].decode(errors="ignore")
        self._runtime.closed("ws", code)
        try:
            # The close frame waits behind unread data for a slow consumer: bounded.
            async with asyncio.timeout(self._runtime.config.close_timeout_s):
                await self._ws.close(code, reason)
        except (TimeoutError, WebSocketDisconnect, OSError, RuntimeError):
            pass

    # Operations --------------------------------------------------------------------------

    async def _answer(self, event: ConnEvent) -> None:
        if isinstance(event, HelloReceived):
            try:
                principal = await authenticate(self._runtime.config, event.identity)
            except Unauthorized:
                # [HANDSHAKE-7] missing or rejected credentials → 4401.
                self.conn.close(CloseCode.UNAUTHORIZED, "unauthorized")
                return
            self.principal = principal
            identity = principal.identity if principal is not None else None
            # A session another process handed to the shared store comes here first.
            try:
                await self._runtime.registry.fetch(event.hello.resume, identity)
            except SessionsUnavailable:
                self._unavailable()
                return
            self._hello(event, identity)
            left = seconds_left(principal)
            if left is not None:
                # [SECURITY-10] not a moment past the credentials' expiry: 4440, and the
                # session stays resumable for the client's fresh credentials.
                self._expiry = asyncio.get_running_loop().call_later(
                    left, self.go_away, CloseCode.CREDENTIALS_EXPIRED, "credentials expired"
                )
            return
        if not isinstance(event, SubscribeRequested | UnsubscribeRequested | PublishRequested):
            return  # pings are answered by the core; pongs and rejects need nothing here
        session = self.session
        if session is None:  # pragma: no cover - the core only passes these after welcome
            return
        frame = event.frame
        try:
            if isinstance(event, SubscribeRequested):
                await self._subscribe(session, event.frame)
            elif isinstance(event, UnsubscribeRequested):
                await self._unsubscribe(session, event.frame)
            else:
                await self._publish(session, event.frame)
        except SessionsUnavailable:
            # The change is made here but could not be shared: no reply, the client resumes
            # (here or elsewhere) from what is shared and sends the request again [CLUSTER-6].
            self._unavailable()
        except Exception:
            logger.exception("failed to handle a %s frame", frame.type)
            if isinstance(event, SubscribeRequested) and frame.channel not in (
                session.subscriptions
            ):
                # Not committed: only the hub may hold the half-made subscription.
                self._runtime.hub.drop_channel(frame.channel, session)
            if frame.id in self.conn.pending_replies:
                # [OPS-1] exactly one reply: only a request not answered yet gets this one.
                self._reply(
                    self._runtime.registry.refuse(
                        session,
                        frame.id,
                        ErrorCode.INTERNAL_ERROR,
                        "the server failed on this frame",
                        channel=frame.channel,
                    )
                )

    def _unavailable(self) -> None:
        """[CLUSTER-6] the shared store is out of reach: 1013, the client comes back later."""
        logger.warning("the shared session store is unreachable: closing a connection (1013)")
        self.conn.close(CloseCode.TRY_AGAIN_LATER, "try again later")

    def _hello(self, event: HelloReceived, identity: str | None) -> None:
        registry = self._runtime.registry
        # [RESUME-2] the session the hello resumes, or a NEW one (new id, seq 0, no
        # subscriptions); [SSE-10] only a WebSocket session resumes over a WebSocket.
        opened = registry.open(identity, event.hello.resume, transport="ws")
        # The welcome then the replay, and attach() routes live events here afterwards; no
        # await in between, so nothing newer overtakes the replay [RESUME-3].
        registry.welcome(self.conn, opened, self._runtime.catalogue)
        self.session = opened.session
        registry.attach(opened.session, self)

    def _reply(self, outcome: Outcome) -> None:
        self.conn.reply(outcome, _now())

    async def _subscribe(self, session: Session, frame: frames.Subscribe) -> None:
        runtime = self._runtime
        # [CHANNEL-3, CHANNEL-13, OPS-3, OPS-5, OPS-9] decided by the core; nothing changes yet.
        outcome = runtime.registry.decide_subscribe(
            session, runtime.catalogue, frame, permitted=self._permits("subscribe")
        )
        if outcome.effect is Effect.SUBSCRIBE:
            # [OPS-6] the hub delivers the channel before the ack goes out.
            await runtime.hub.subscribe(frame.channel, session)
        committed = runtime.registry.commit(session, outcome)
        if outcome.effect is Effect.SUBSCRIBE and runtime.registry.shares_sessions:
            await runtime.registry.checkpoint(session)  # shared before the ack ("Clusters")
        self._reply(committed)
        if outcome.effect is Effect.SUBSCRIBE:
            # [QUEUE-1] the channel's snapshot, if it has one, after the ack, to this session.
            await runtime.channels.subscribed(frame.channel, session.identity, session.emit)

    async def _unsubscribe(self, session: Session, frame: frames.Unsubscribe) -> None:
        registry = self._runtime.registry
        outcome = registry.decide_unsubscribe(session, frame)  # [OPS-4, OPS-9]
        if outcome.effect is Effect.UNSUBSCRIBE:
            # Out of the hub before the ack: nothing of the channel follows it [OPS-6].
            await self._runtime.hub.unsubscribe(frame.channel, session)
        committed = registry.commit(session, outcome)
        if outcome.effect is Effect.UNSUBSCRIBE and registry.shares_sessions:
            await registry.checkpoint(session)  # shared before the ack ("Clusters")
        self._reply(committed)

    async def _publish(self, session: Session, frame: frames.Publish) -> None:
        runtime = self._runtime
        registry = runtime.registry
        # [CHANNEL-3, CHANNEL-4, CHANNEL-13, CHANNEL-5, OPS-9] decided by the core; the ack is
        # committed only once the publish took effect.
        outcome = registry.decide_publish(
            session, runtime.catalogue, frame, permitted=self._permits("publish")
        )
        if outcome.effect is not Effect.PUBLISH:
            self._reply(registry.commit(session, outcome))
            return
        # The channel's hook, or plain delivery [CONF-1]; the broker fixes the place in the
        # channel order before the ack [OPS-7]; a hook's work (a chat stream) starts after it.
        origin = None
        if registry.shares_sessions:
            # The event carries its reply, so a process that rebuilds the session knows
            # that this id was applied [OPS-9].
            origin = PublishOrigin(session.id, frame.id, outcome.reply)
            token = publish_origin.set(origin)
        try:
            refused = await runtime.channels.client_publish(
                frame.channel,
                frame.data,
                frame.id,
                SessionRequester(session),
                accepted=lambda: self._reply(registry.commit(session, outcome)),
            )
        finally:
            if origin is not None:
                origin.used = True  # work the hook started later is not this request
                publish_origin.reset(token)
        if refused is not None:
            # [QUEUE-3, CHANNEL-7] the error is the reply, remembered instead [OPS-9].
            self._reply(
                registry.refuse(
                    session,
                    frame.id,
                    refused.code,
                    refused.message,
                    channel=frame.channel,
                    pointer=refused.pointer,
                )
            )

    def _permits(self, action: Action) -> Permitted | None:
        """The access policy for this session's ``action`` requests [CHANNEL-13]."""
        channels = self._runtime.channels
        principal = self.principal
        if not channels.has_policies and (principal is None or principal.grants is None):
            return None
        identity = self.session.identity if self.session is not None else None
        # The token's grants are ANDed with the channel's policy (access.Principal).
        return lambda name: channels.permits(identity, action, name, principal)


class WebSocketDoor:
    """The ``/ws`` route's ASGI app: :func:`websocket_endpoint` with the raw ASGI ``send``.

    Starlette's function endpoints get a WebSocket whose ``send`` goes through its
    exception-handler wrapper; this app keeps the server's own ``send`` for the fall-back
    path (a server without :data:`~canaux.server.ws_protocol.WRITER`).
    """

    def __init__(self, runtime: ServerRuntime) -> None:
        self._runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await websocket_endpoint(self._runtime, WebSocket(scope, receive, send), send)


async def websocket_endpoint(
    runtime: ServerRuntime, websocket: WebSocket, send: Send | None = None
) -> None:
    """Accept a ``/ws`` connection and serve it (``send``: the raw ASGI one, if known)."""
    runtime.ensure_started()
    if not origin_allowed(runtime.config, websocket.headers):
        await websocket.close()  # before accept: HTTP 403, never upgraded [SECURITY-14]
        return
    if SUBPROTOCOL not in websocket.scope.get("subprotocols", []):
        # [TRANSPORT-2] a client that did not offer canaux.v1: accept, then close with 4400 at
        # once, so the client learns why (an HTTP refusal carries no reason it could show).
        await websocket.accept()
        runtime.closed("ws", CloseCode.BAD_HANDSHAKE)
        await websocket.close(CloseCode.BAD_HANDSHAKE, f"subprotocol {SUBPROTOCOL} required")
        return
    if runtime.closing:
        await websocket.accept(subprotocol=SUBPROTOCOL)
        await websocket.close(CloseCode.GOING_AWAY, "server shutting down")
        return
    await websocket.accept(subprotocol=SUBPROTOCOL)
    await WebSocketLink(runtime, websocket, send).run()
