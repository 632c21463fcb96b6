"""The asyncio Canaux client: one WebSocket for every channel (spec resume.md,
heartbeat.md, client.md).

:class:`Client` wraps the sans-I/O :class:`~canaux.protocol.client.ClientConnection` with a
socket from ``websockets``. It reconnects forever with full-jitter backoff (CLIENT-1) whose
attempt number goes back to 0 only after a healthy connection (CLIENT-11, owned by
:class:`~canaux.protocol.backoff.Backoff`), except after a close code whose registry row says
"no", received or sent by the client itself (CLIENT-4); it resumes the session with the last
contiguous seq, re-sends every unanswered operation with its id (RESUME-6), and after a lost
session re-subscribes every channel and tells the application to resynchronise (RESUME-5,
CLIENT-2). Events wait for the handlers in a bounded queue that pushes back onto the socket
(CLIENT-12), and :meth:`Client.close` is bounded by ``close_timeout`` (CLIENT-13).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypeAlias

from websockets.asyncio.client import ClientConnection as WebSocket
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.typing import Subprotocol

from canaux.client.errors import (
    ClientClosed,
    ConnectionClosedByServer,
    HandshakeRefused,
    PublishRejected,
    ServerBrokeProtocol,
)
from canaux.client.handlers import Dispatcher, Handler, HandlerRegistry
from canaux.client.tokens import TokenSource, resolve_token
from canaux.protocol.backoff import DEFAULT_BASE, DEFAULT_CAP, Backoff, RandomSource
from canaux.protocol.client import (
    Acked,
    ClientConnection,
    Dropped,
    EventReceived,
    Rejected,
    Reset,
    Welcomed,
)
from canaux.protocol.codes import CloseCode, should_reconnect
from canaux.protocol.frames import Publish, Subscribe, Unsubscribe, Welcome

__all__ = ["SUBPROTOCOL", "Client", "ClientState", "ResetCallback", "StateCallback"]

logger = logging.getLogger("canaux.client")

SUBPROTOCOL = Subprotocol("canaux.v1")
"""[TRANSPORT-1] The subprotocol a client offers."""


class ClientState(enum.Enum):
    """What the client is doing, as reported to :meth:`Client.on_state` callbacks."""

    CONNECTING = "connecting"
    """Opening the first connection."""
    CONNECTED = "connected"
    """Welcomed by the server: events and operations flow."""
    RECONNECTING = "reconnecting"
    """The connection was lost; waiting out the backoff or opening a new one."""
    CLOSED = "closed"
    """Stopped, by :meth:`Client.close` or by a close code that forbids reconnecting."""


StateCallback: TypeAlias = Callable[[ClientState], Awaitable[None] | None]
ResetCallback: TypeAlias = Callable[[], Awaitable[None] | None]


class Client:
    """A Canaux client: handlers per channel over one connection that repairs itself.

    ::

        async with Client("ws://localhost:8001/ws") as client:
            client.register_handler("system", print)
            await client.send("chat", {"type": "message", "text": "Hello!"})

    ``token`` is a fixed token or a token provider, a callable (plain or async) asked before
    every connection, so that each reconnection presents fresh credentials
    (:mod:`canaux.client.tokens`, CLIENT-10).

    At most ``handler_queue_limit`` handler calls wait for the handlers; beyond that the client
    stops reading the socket until they catch up (CLIENT-12). :meth:`close` returns within
    ``close_timeout`` seconds whatever the server and the handlers do (CLIENT-13).
    """

    def __init__(
        self,
        url: str,
        *,
        token: TokenSource = None,
        backoff_base: float = DEFAULT_BASE,
        backoff_cap: float = DEFAULT_CAP,
        outbox_limit: int = 1000,
        open_timeout: float = 10.0,
        close_timeout: float = 5.0,
        max_size: int | None = 2**24,
        handler_queue_limit: int = 1024,
        rng: RandomSource | None = None,
    ) -> None:
        self.url = url
        # A fixed token, or a provider asked before every connection [CLIENT-10].
        self._token = token
        self._conn = ClientConnection(
            token=token if isinstance(token, str) else None, outbox_limit=outbox_limit
        )
        self._backoff = Backoff(
            backoff_base, backoff_cap, rng if rng is not None else random.SystemRandom()
        )
        if handler_queue_limit < 1:
            raise ValueError("handler_queue_limit must be >= 1")
        self._handler_queue_limit = handler_queue_limit
        self._open_timeout = open_timeout
        self._close_timeout = close_timeout
        self._max_size = max_size
        self._handlers = HandlerRegistry()
        self._state_callbacks: list[StateCallback] = []
        self._reset_callbacks: list[ResetCallback] = []
        self._futures: dict[str, asyncio.Future[None]] = {}
        self._state: ClientState | None = None
        self._dispatcher: Dispatcher | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._stop: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._progress: asyncio.Event | None = None
        self._outgoing: deque[str] = deque()
        self._ws: WebSocket | None = None
        self._closed_error: ClientClosed | ConnectionClosedByServer | None = None
        self.connections_opened = 0
        """How many WebSocket connections this client has opened (one at a time)."""

    # -- queries ------------------------------------------------------------------------

    @property
    def state(self) -> ClientState | None:
        """The current state; None before :meth:`connect`."""
        return self._state

    @property
    def backoff(self) -> Backoff:
        """The reconnection schedule: ``backoff.attempt`` is the next delay's attempt number."""
        return self._backoff

    @property
    def connected(self) -> bool:
        return self._state is ClientState.CONNECTED

    @property
    def session(self) -> str | None:
        """The current session id (a secret: do not log it, SECURITY-6)."""
        return self._conn.session

    @property
    def last_seq(self) -> int:
        """The highest seq received contiguously in the current session."""
        return self._conn.last_seq

    @property
    def welcome(self) -> Welcome | None:
        """The last ``welcome`` frame: limits, heartbeat, channel catalogue."""
        return self._conn.welcome

    @property
    def channels(self) -> frozenset[str]:
        """Channels this client subscribes to (those with handlers)."""
        return self._conn.subscriptions

    # -- handlers -----------------------------------------------------------------------

    def register_handler(self, channel: str, fn: Handler) -> None:
        """Call ``fn(data)`` for every event of ``channel``; the first handler subscribes it.

        ``fn`` may be a function or a coroutine function. Handlers of one channel never see
        another channel's events (DELIVERY-2). A wrong argument is a :class:`TypeError` naming
        it (the arguments are ``(channel, fn)``, in that order).
        """
        _check_handler_arguments("register_handler", channel, fn, fn_required=True)
        if self._handlers.add(channel, fn):
            try:
                self._conn.subscribe(channel)
            except Exception:
                self._handlers.remove(channel, fn)
                raise
            self._flush()

    def unregister_handler(self, channel: str, fn: Handler | None = None) -> None:
        """Remove ``fn`` (every handler of ``channel`` when None); the last one unsubscribes."""
        _check_handler_arguments("unregister_handler", channel, fn)
        if self._handlers.remove(channel, fn):
            self._conn.unsubscribe(channel)
            self._flush()

    def on_state(self, fn: StateCallback) -> None:
        """Call ``fn(state)`` on every :class:`ClientState` change."""
        self._state_callbacks.append(fn)

    def on_reset(self, fn: ResetCallback) -> None:
        """Call ``fn()`` when the session was lost and channel state must be reloaded (RESUME-5).

        Channels are re-subscribed by the client itself; snapshot channels such as playqueue
        then send a fresh state.
        """
        self._reset_callbacks.append(fn)

    # -- lifecycle ----------------------------------------------------------------------

    async def connect(self) -> None:
        """Start the connection and wait until the server welcomes it.

        Bound the wait with :func:`asyncio.timeout`: the client keeps trying in the background
        after the wait is given up (call :meth:`close` to stop it). Raises
        :class:`ConnectionClosedByServer` when the server refuses the client for good.
        """
        if self._closed_error is not None:
            raise self._closed_error
        if self._task is None:
            loop = asyncio.get_running_loop()
            self._ready = loop.create_future()
            self._stop = asyncio.Event()
            self._wake = asyncio.Event()
            self._progress = asyncio.Event()
            self._dispatcher = Dispatcher(self._handler_queue_limit)
            self._dispatcher.start()
            self._task = loop.create_task(self._run(), name=f"canaux-client {self.url}")
        assert self._ready is not None
        await asyncio.shield(self._ready)

    async def wait_ready(self) -> None:
        """Wait until connected and every subscription change has been answered.

        After this returns, events published on the registered channels reach the handlers
        (OPS-6). A refused subscription counts as answered (it is logged).
        """
        await self.connect()
        assert self._progress is not None
        while True:
            if self._closed_error is not None:
                raise self._closed_error
            pending = self._conn.pending.values()
            if self.connected and not any(
                isinstance(op, Subscribe | Unsubscribe) for op in pending
            ):
                return
            self._progress.clear()
            await self._progress.wait()

    async def close(self) -> None:
        """Close the connection and stop reconnecting; pending sends raise :class:`ClientClosed`.

        [CLIENT-13] Returns within ``close_timeout`` seconds in every state: events still
        waiting for the handlers are discarded, a closing handshake the server does not answer
        in time ends with the socket dropped, and a handler still running then is cancelled.
        """
        if self._closed_error is None:
            self._closed_error = ClientClosed()
        if self._task is None:
            self._set_state(ClientState.CLOSED)
            self._fail_all(self._closed_error)
            return
        assert self._stop is not None
        deadline = asyncio.get_running_loop().time() + self._close_timeout
        self._stop.set()
        if self._dispatcher is not None:
            # A reader waiting for room in the handler queue must see the stop at once.
            self._dispatcher.discard_events()
        ws = self._ws
        if ws is not None:
            # Closing the socket ends the session loop; the run loop then sees the stop flag.
            try:
                async with asyncio.timeout_at(deadline):
                    await ws.close()
            except TimeoutError:
                ws.transport.abort()
            except Exception:
                logger.debug("client %s: closing the socket failed", self.url, exc_info=True)
        task = self._task
        if asyncio.current_task() is not task:
            try:
                async with asyncio.timeout_at(deadline):
                    await asyncio.shield(task)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._dispatcher is not None:
            await self._dispatcher.stop(deadline)

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- operations ---------------------------------------------------------------------

    async def send(self, channel: str, data: Any) -> str:
        """Publish ``data`` on ``channel``, wait for the server's ``ack`` (OPS-1), return the id.

        The id names the request in the answers it causes (a chat reply's ``request``, CHAT-3).

        While disconnected the publish waits in the outbox and goes out after the next
        welcome (RESUME-6). Raises :class:`PublishRejected` on an ``error`` answer,
        :class:`~canaux.protocol.client.OutboxFull` when too many operations await an answer,
        :class:`ClientClosed` / :class:`ConnectionClosedByServer` when the client stops first,
        :class:`~canaux.protocol.client.FrameTooLarge` over the server's max_frame_bytes,
        :class:`ValueError` for an invalid channel name, :class:`TypeError` for non-JSON data.
        Once the caller stops waiting (cancellation, :func:`asyncio.timeout`) the publish is
        no longer re-sent (it may have been applied).
        """
        if self._closed_error is not None:
            raise self._closed_error
        op_id = self._conn.publish(channel, data)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._futures[op_id] = future
        self._flush()
        try:
            await future
            return op_id
        except asyncio.CancelledError:
            self._conn.forget(op_id)
            raise
        finally:
            self._futures.pop(op_id, None)

    # -- internals ----------------------------------------------------------------------

    def _set_state(self, state: ClientState) -> None:
        if state is self._state:
            return
        logger.debug("client %s: %s", self.url, state.value)
        self._state = state
        for fn in list(self._state_callbacks):
            self._submit(functools.partial(fn, state))

    def _submit(self, call: Callable[[], Awaitable[None] | None]) -> None:
        if self._dispatcher is not None:
            self._dispatcher.submit(call)

    def _flush(self) -> None:
        """Move the core's output to the writer of the current socket."""
        out = self._conn.data_to_send()
        if not out:
            return
        if self._ws is None:
            # No socket: whatever the core produced belongs to no connection (operations
            # stay pending in the core and go out after the next welcome).
            return
        self._outgoing.extend(out)
        if self._wake is not None:
            self._wake.set()

    def _fail_all(self, error: Exception) -> None:
        for future in self._futures.values():
            if not future.done():
                future.set_exception(error)
                # The caller may have stopped waiting; don't warn about an unread exception.
                future.exception()
        self._futures.clear()
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(error)
            self._ready.exception()

    async def _run(self) -> None:
        assert self._stop is not None
        loop = asyncio.get_running_loop()
        ever_connected = False
        try:
            while not self._stop.is_set():
                self._set_state(
                    ClientState.RECONNECTING if ever_connected else ClientState.CONNECTING
                )
                try:
                    welcomed, refusal = await self._connect_once()
                finally:
                    # [CLIENT-11] only a connection that lasted heartbeat_ms after its
                    # welcome sets the attempt number back to 0.
                    self._backoff.ended(loop.time())
                ever_connected = ever_connected or welcomed
                if refusal is not None:
                    # [CLIENT-4] do not reconnect after a close code marked "no".
                    logger.warning("client %s stopped: %s", self.url, refusal)
                    self._closed_error = refusal
                    break
                if self._stop.is_set():
                    break
                self._set_state(ClientState.RECONNECTING)
                delay = self._backoff.next_delay()
                logger.debug(
                    "client %s: reconnecting in %.3f s (attempt %d)",
                    self.url,
                    delay,
                    self._backoff.attempt - 1,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
        except Exception as exc:
            # A bug here must not leave callers waiting forever: fail them, loudly.
            logger.exception("client %s: internal error", self.url)
            self._closed_error = ClientClosed(f"client stopped by an internal error: {exc!r}")
        finally:
            if self._closed_error is None:
                self._closed_error = ClientClosed()
            self._fail_all(self._closed_error)
            self._set_state(ClientState.CLOSED)
            if self._progress is not None:
                self._progress.set()

    async def _connect_once(self) -> tuple[bool, ConnectionClosedByServer | None]:
        """One socket's life; returns (was welcomed, terminal refusal or None)."""
        assert self._stop is not None
        if not (self._token is None or isinstance(self._token, str)):
            # [CLIENT-10] fresh credentials for every connection; a provider that hangs is
            # bounded like the opening handshake, and close() does not wait for it.
            asking = asyncio.ensure_future(
                asyncio.wait_for(resolve_token(self._token), self._open_timeout)
            )
            stopping = asyncio.ensure_future(self._stop.wait())
            await asyncio.wait({asking, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not asking.done():
                asking.cancel()
                with contextlib.suppress(BaseException):
                    await asking
                return False, None
            try:
                self._conn.token = asking.result()
            except Exception as exc:
                # A provider that fails now (its auth service is down) may work on the next
                # attempt: back off and retry, as for a connection that failed.
                logger.warning("client %s: token provider failed: %r", self.url, exc)
                return False, None
        opening = asyncio.ensure_future(
            ws_connect(
                self.url,
                subprotocols=[SUBPROTOCOL],
                open_timeout=self._open_timeout,
                close_timeout=self._close_timeout,
                # The protocol has its own heartbeat (heartbeat.md); websockets' would double it.
                ping_interval=None,
                max_size=self._max_size,
            )
        )
        stopping = asyncio.ensure_future(self._stop.wait())
        # close() must not wait for a slow opening handshake to finish.
        await asyncio.wait({opening, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not opening.done():
            opening.cancel()
            with contextlib.suppress(BaseException):
                await opening
            return False, None
        try:
            ws = opening.result()
        except InvalidURI as exc:
            return False, ConnectionClosedByServer(None, f"invalid url: {exc}")
        except InvalidStatus as exc:
            status = exc.response.status_code
            if 400 <= status < 500 and status not in (408, 429):
                # The server refuses the handshake itself (wrong path, no canaux.v1 support):
                # retrying cannot help (TRANSPORT-2).
                return False, HandshakeRefused(self.url, status)
            logger.info("client %s: handshake refused with http %d", self.url, status)
            return False, None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            logger.info("client %s: cannot connect: %s", self.url, exc)
            return False, None
        if self._stop.is_set():
            # close() ran while the handshake was finishing: leave at once.
            await ws.close()
            return False, None
        if ws.subprotocol != SUBPROTOCOL:
            # [TRANSPORT-8] a handshake that did not select canaux.v1 is closed with 1002.
            await ws.close(CloseCode.PROTOCOL_ERROR, "canaux.v1 not selected")
            return False, ConnectionClosedByServer(None, "server did not select canaux.v1")
        self.connections_opened += 1
        self._outgoing.clear()
        self._ws = ws
        writer = asyncio.get_running_loop().create_task(self._write(ws))
        try:
            return await self._serve(ws)
        finally:
            self._ws = None
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            self._outgoing.clear()
            self._conn.connection_lost()
            # Close (or abort) whatever is left of the socket, without waiting long.
            with contextlib.suppress(Exception):
                await ws.close()

    async def _write(self, ws: WebSocket) -> None:
        assert self._wake is not None
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._outgoing:
                    await ws.send(self._outgoing.popleft())
        except ConnectionClosed:
            # The reader sees the same closure and handles it.
            return

    async def _serve(self, ws: WebSocket) -> tuple[bool, ConnectionClosedByServer | None]:
        loop = asyncio.get_running_loop()
        conn = self._conn
        conn.connection_made(loop.time())
        self._flush()
        welcomed = False
        while True:
            deadline = conn.next_deadline()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await ws.recv()
            except TimeoutError:
                conn.tick(loop.time())
            except ConnectionClosed as exc:
                if self._stop is not None and self._stop.is_set():
                    return welcomed, None
                if exc.sent is not None and (exc.rcvd is None or exc.rcvd_then_sent is False):
                    # [CLIENT-4] the client closed first (websockets refused a frame over
                    # max_size with 1009): a "no" code stops it like a received one.
                    if not should_reconnect(exc.sent.code):
                        return welcomed, ServerBrokeProtocol(exc.sent.code, exc.sent.reason)
                    logger.info("client %s: connection closed (%s)", self.url, exc.sent.code)
                    return welcomed, None
                code = exc.rcvd.code if exc.rcvd is not None else None
                reason = exc.rcvd.reason if exc.rcvd is not None else ""
                if code == CloseCode.CREDENTIALS_EXPIRED and isinstance(self._token, str):
                    # [CLIENT-10] the same expired token again would be refused: stop and
                    # tell the application (a token provider gives a fresh one instead).
                    return welcomed, ConnectionClosedByServer(code, reason)
                if should_reconnect(code):
                    logger.info("client %s: connection lost (%s)", self.url, code)
                    return welcomed, None
                return welcomed, ConnectionClosedByServer(code, reason)
            else:
                if self._stop is not None and self._stop.is_set():
                    # close() is under way: nothing more for the handlers (CLIENT-13).
                    return welcomed, None
                if isinstance(message, str):
                    conn.receive_text(message, loop.time())
                else:
                    conn.receive_bytes(message)
            welcomed = await self._handle_events() or welcomed
            if self._progress is not None:
                self._progress.set()
            self._flush()
            failure = conn.failure
            if failure is not None:
                logger.info("client %s: dropping connection: %s", self.url, failure.reason)
                if failure.send_close:
                    with contextlib.suppress(Exception):
                        async with asyncio.timeout(self._close_timeout):
                            await ws.close(failure.code, failure.reason)
                else:
                    # [HEARTBEAT-4] a silent peer is dead: no closing handshake to wait for.
                    ws.transport.abort()
                if not should_reconnect(failure.code):
                    # [CLIENT-4] "whoever sent the close": after its own 1003/1007 the client
                    # stops; the same server would most likely send the same frame again.
                    return welcomed, ServerBrokeProtocol(failure.code, failure.reason)
                return welcomed, None

    async def _handle_events(self) -> bool:
        """Act on the core's events; returns True when a welcome came in.

        Waits while the handler queue is full [CLIENT-12]: the socket is not read meanwhile.
        """
        welcomed = False
        loop = asyncio.get_running_loop()
        for event in self._conn.events_received():
            if isinstance(event, EventReceived):
                await self._deliver(event)
            elif isinstance(event, Acked):
                self._resolve(event.id, None)
            elif isinstance(event, Rejected):
                self._rejected(event)
            elif isinstance(event, Dropped):
                logger.warning(
                    "client %s: dropped operation %s: %s", self.url, event.id, event.error
                )
                self._resolve(event.id, event.error)
            elif isinstance(event, Welcomed):
                welcomed = True
                self._backoff.welcomed(loop.time(), event.welcome.heartbeat_ms)
                self._set_state(ClientState.CONNECTED)
                if self._ready is not None and not self._ready.done():
                    self._ready.set_result(None)
            elif isinstance(event, Reset):
                logger.info("client %s: session lost, resynchronising", self.url)
                for callback in list(self._reset_callbacks):
                    self._submit(callback)
        return welcomed

    async def _deliver(self, event: EventReceived) -> None:
        dispatcher = self._dispatcher
        if dispatcher is None:
            return
        waited = False
        for fn in self._handlers.handlers(event.channel):
            call = functools.partial(fn, event.data)
            if dispatcher.queued_events >= dispatcher.limit:
                waited = True
            if not await dispatcher.deliver(call):
                return
        if waited:
            # [CLIENT-12] "while it is not reading, the client MUST NOT count the server as
            # silent": the silence was the client's own.
            self._conn.reading_resumed(asyncio.get_running_loop().time())

    def _resolve(self, op_id: str, error: Exception | None) -> None:
        future = self._futures.get(op_id)
        if future is None or future.done():
            return
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)

    def _rejected(self, event: Rejected) -> None:
        if isinstance(event.operation, Publish) and event.id is not None:
            self._resolve(
                event.id,
                PublishRejected(event.code, event.message, event.pointer, event.channel),
            )
        elif isinstance(event.operation, Subscribe):
            logger.warning(
                "client %s: subscription to %s refused: %s (%s)",
                self.url,
                event.operation.channel,
                event.code,
                event.message,
            )
        else:
            logger.warning("client %s: server error %s: %s", self.url, event.code, event.message)


def _check_handler_arguments(
    method: str, channel: object, fn: object, *, fn_required: bool = False
) -> None:
    if not isinstance(channel, str):
        swapped = (
            " (the arguments are swapped?)" if callable(channel) and isinstance(fn, str) else ""
        )
        raise TypeError(
            f"{method}(channel, fn): channel must be a str, not {type(channel).__name__}{swapped}"
        )
    if (fn_required or fn is not None) and not callable(fn):
        raise TypeError(f"{method}(channel, fn): fn must be callable, not {type(fn).__name__}")
