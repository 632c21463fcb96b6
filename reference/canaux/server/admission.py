"""Admission of new connections: how many, how fast, how long (spec [SECURITY-4, SECURITY-12/13]).

Every connection to the server's port (the WebSocket door, SSE, the legacy sockets, HTTP
publish, health) starts as an HTTP request. Before its request head is complete it is in its
*opening handshake*; :class:`Admission` bounds what those cost, below the ASGI app, in the
HTTP protocol uvicorn runs for each accepted socket (:func:`admission_protocol`):

- open connections, in total: one more is answered ``503`` and closed before its request is
  read [SECURITY-12];
- connections in their opening handshake: one more is answered ``503`` the same way
  [SECURITY-12];
- the opening handshake's duration: a request head (or body) still incomplete after
  ``handshake_timeout_s`` is answered ``408`` and closed (a slowloris) [SECURITY-13];
- fairness: what connections in their opening handshake receive is handled for at most
  :data:`ADMIT_PER_PASS` of them per pass of the event loop; the others stop reading and wait,
  their bytes held, for a turn in a later pass (first come, first served). A flood of
  handshakes then adds a bounded amount of work to each pass instead of thousands of
  handshakes at once, and established sessions keep their latency [SECURITY-4]: 3,000
  connections at once stalled an unrelated subscriber for 1.9 s (p50) to 5.8 s (p99) before,
  see ``benchmarks/results/flood.md`` for after.

uvicorn offers none of this for WebSockets (its ``limit_concurrency`` answers 503 to plain HTTP
requests only, and it has no header timeout); a server mounted in another app's uvicorn gets
the ``Origin`` check and the Canaux limits, not these bounds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol, cast

from uvicorn.protocols.http.auto import AutoHTTPProtocol

__all__ = [
    "ACCEPT_PER_PASS",
    "ADMIT_PER_PASS",
    "LISTEN_BACKLOG",
    "Admission",
    "Gate",
    "admission_protocol",
    "admission_ws_protocol",
    "widen_listen_backlog",
]

logger = logging.getLogger("canaux.server.admission")

ADMIT_PER_PASS = 8
"""Connections in their opening handshake whose received bytes are handled per pass of the
event loop.

Each costs about half a millisecond of CPU through its HTTP upgrade and the app's ``accept``
on this machine; eight per pass keep a pass short during a flood while an idle server still
admits thousands per second (the loop passes quickly when it has nothing else to do). The
bound is on handling what arrived, not on starting to read: flood clients that a busy machine
lets run late send hundreds of request heads at once, long after their sockets were
accepted."""

ACCEPT_PER_PASS = 64
"""Sockets asyncio accepts per pass of the event loop (it uses the ``backlog`` of
``create_server`` as that count: uvicorn's 2,048 let one pass accept, then set up, a whole flood
at once)."""

LISTEN_BACKLOG = 2048
"""The kernel's queue of connections not yet accepted (uvicorn's default), set again after
startup: the small accept batch must not shrink it, or a burst of clients would see dropped
SYNs and wait seconds for their retransmission."""

REFUSE_LINGER_S = 1.0
"""How long a refused connection is kept for its peer to read the answer before it is dropped."""

_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 20\r\n"
    b"retry-after: 1\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"server at capacity\r\n"
)
_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 17\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"request too slow\r\n"
)


class Admission:
    """The connection bounds of one server, and the connections waiting to start reading.

    ``open`` counts every connection from its acceptance until it closes (uvicorn's own set of
    live protocols, HTTP and WebSocket alike); ``handshaking`` those whose first request head is
    not complete yet.
    """

    def __init__(
        self, *, max_connections: int, max_handshakes: int, handshake_timeout_s: float
    ) -> None:
        self.max_connections = max_connections
        self.max_handshakes = max_handshakes
        self.handshake_timeout_s = handshake_timeout_s
        self.handshaking = 0
        self.refused = 0
        self.timed_out = 0
        self.waited = 0  # handshakes that waited for a turn [SECURITY-4]
        self._waiting: deque[Gate] = deque()
        self._turns = 0  # taken in this pass of the event loop
        self._next_pass_scheduled = False

    def admits(self, open_connections: int) -> bool:
        """Whether one more connection may be accepted [SECURITY-12]."""
        return open_connections < self.max_connections and self.handshaking < self.max_handshakes

    def started(self) -> None:
        """One more connection is in its opening handshake."""
        self.handshaking += 1

    def turn(self, gate: Gate, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether ``gate`` may handle what it received now [SECURITY-4]: this pass has a turn
        left and no connection waits for one. If not, ``gate`` waits (it stops reading and
        holds its bytes) and :meth:`Gate.resume` is called in a later pass."""
        self._next_pass(loop)
        if self._turns < ADMIT_PER_PASS and not self._waiting:
            self._turns += 1
            return True
        self._waiting.append(gate)
        self.waited += 1
        return False

    def _next_pass(self, loop: asyncio.AbstractEventLoop) -> None:
        # call_soon runs at the start of the next pass, before that pass's I/O callbacks: the
        # turns are counted again from there, the waiting connections served first.
        if not self._next_pass_scheduled:
            self._next_pass_scheduled = True
            loop.call_soon(self._pass_begins, loop)

    def _pass_begins(self, loop: asyncio.AbstractEventLoop) -> None:
        self._next_pass_scheduled = False
        self._turns = 0
        while self._waiting and self._turns < ADMIT_PER_PASS:
            if self._waiting.popleft().resume():
                self._turns += 1
        if self._turns or self._waiting:
            self._next_pass(loop)

    def finished(self) -> None:
        """One connection's opening handshake ended (complete, timed out or closed)."""
        self.handshaking -= 1


class Gate(Protocol):
    """What :class:`Admission` needs of one connection waiting for its turn."""

    def resume(self) -> bool:
        """Handle the bytes held and read again; ``False`` if the connection is already gone."""


def widen_listen_backlog(sockets: list[socket.socket]) -> None:
    """Give listening ``sockets`` the :data:`LISTEN_BACKLOG` (see :data:`ACCEPT_PER_PASS`)."""
    for sock in sockets:
        if sock.type == socket.SOCK_STREAM:
            # A duplicate of the descriptor shares the listening socket; closing it leaves the
            # server's own descriptor open.
            with socket.socket(fileno=os.dup(sock.fileno())) as listening:
                listening.listen(LISTEN_BACKLOG)


def admission_protocol(
    admission: Admission, base: type[asyncio.Protocol] = AutoHTTPProtocol
) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class ``base`` (httptools or h11: both keep ``cycle`` and
    ``server_state`` and call ``on_response_complete``), with ``admission``'s bounds."""

    class AdmittedHTTPProtocol(base):  # type: ignore[valid-type,misc]
        """One accepted socket: refused, waiting, in its handshake, then served by uvicorn."""

        _admission = admission

        def connection_made(self, base_transport: asyncio.BaseTransport) -> None:
            # Not an isinstance check: uvloop's TCPTransport implements asyncio.Transport
            # without subclassing it (an assert here refused every connection under uvloop).
            transport = cast(asyncio.Transport, base_transport)
            self._refused = False
            self._handshake = False
            self._gone = False
            self._timer: asyncio.TimerHandle | None = None
            self._cycle_seen: object = None
            self._answered: object = None  # the cycle answered when the deadline was re-armed
            self._held: list[bytes] | None = None  # received while waiting for a turn
            state = self.server_state  # set by uvicorn's __init__
            if not admission.admits(len(state.connections)):
                self._refuse(transport)
                return
            super().connection_made(transport)
            self._handshake = True
            admission.started()
            self._arm(transport)

        def _refuse(self, transport: asyncio.Transport) -> None:
            # [SECURITY-12] 503 before the request is read; the request bytes are
            # read and dropped until the peer closes, so the answer is not lost to a reset.
            self._refused = True
            self.transport = transport
            admission.refused += 1
            transport.write(_UNAVAILABLE)
            if transport.can_write_eof():
                transport.write_eof()
            asyncio.get_running_loop().call_later(REFUSE_LINGER_S, transport.abort)

        def _arm(self, transport: asyncio.Transport) -> None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(admission.handshake_timeout_s, self._too_slow, transport)

        def _too_slow(self, transport: asyncio.Transport) -> None:
            # [SECURITY-13] the request head did not arrive in time: 408, then the socket goes.
            self._timer = None
            admission.timed_out += 1
            if not transport.is_closing():
                cycle = self.cycle
                if cycle is None or cycle.response_complete or not cycle.response_started:
                    transport.write(_TIMEOUT)  # no other response is under way
                transport.close()
            self._end_handshake()

        def _end_handshake(self) -> None:
            if self._handshake:
                self._handshake = False
                admission.finished()

        def resume(self) -> bool:
            held, self._held = self._held, None
            if self._gone or self.transport.is_closing() or held is None:
                return False
            self.transport.resume_reading()
            self._handle(b"".join(held))
            return True

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            if self._held is not None:  # already waiting for a turn
                self._held.append(data)
                return
            if self._handshake and not admission.turn(self, self.loop):
                # [SECURITY-4] no turn left in this pass: stop reading, keep the bytes.
                self._held = [data]
                self.transport.pause_reading()
                return
            self._handle(data)

        def _handle(self, data: bytes) -> None:
            super().data_received(data)
            upgraded = self.transport.get_protocol() is not self
            if upgraded or self.cycle is not self._cycle_seen:
                # The request head is complete: the app (or the WebSocket protocol) has it now.
                self._cycle_seen = self.cycle
                self._end_handshake()
            if self._timer is not None and (upgraded or self._request_complete()):
                # A body, if any, has the head's deadline too [SECURITY-13]: a request sent
                # slowly holds an app task as long as it lasts.
                self._timer.cancel()
                self._timer = None

        def _request_complete(self) -> bool:
            cycle: Any = self.cycle  # uvicorn's RequestResponseCycle (h11 or httptools)
            # The cycle already answered is not the next request: until that one's head is
            # complete, ``cycle`` still names the previous one, whose body is long complete
            # (a slowloris trickling its next head must not disarm the deadline).
            fresh = cycle is not self._answered
            return cycle is not None and fresh and not cycle.more_body and cycle is self._cycle_seen

        def on_response_complete(self) -> None:
            previous = self.cycle
            super().on_response_complete()
            if self._timer is None and self.cycle is previous and not self.transport.is_closing():
                # The connection is kept alive and no next request has begun: the next head
                # (even one already partly received) has the same deadline [SECURITY-13].
                self._cycle_seen = self.cycle
                self._answered = previous
                self._arm(self.transport)

        def eof_received(self) -> bool | None:
            if self._refused:
                return None
            result: bool | None = super().eof_received()
            return result

        def connection_lost(self, exc: Exception | None) -> None:
            self._gone = True
            if self._refused:
                return
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._end_handshake()
            super().connection_lost(exc)

    return AdmittedHTTPProtocol


_LATER_NAMES = (
    # uvicorn's, once the transport is made, then at the handshake, then at the first message
    # (ws_protocol sets read_paused); ours, at the first bytes after the 101 and while one
    # waits for its turn.
    *("transport", "server", "client", "scheme", "handshake_initiated", "request"),
    *("response", "scope", "handshake_complete", "curr_msg_data_type", "read_paused"),
    *("_opening", "_held"),
)
"""The attributes each WebSocket connection of ``canaux serve`` assigns after its
``__init__``, in the order it does (see :func:`_prime_shared_keys`)."""


def _prime_shared_keys(instance: object, names: Sequence[str]) -> None:
    """Put ``names`` in the key table CPython shares among the instance dictionaries of
    ``instance``'s class, by assigning and deleting each on this first instance.

    CPython (3.11+) keeps one key table per class, for at most 30 names, but lets instances
    add a name to it only while it has room, and takes one place of that room away with each
    instance made (``init_inline_values``). asyncio makes the protocols of a burst of
    accepted connections before any of them gets its ``connection_made``: by the time the
    first one assigns the names it assigns after ``__init__`` the room is gone, and every
    connection assigning a name the table lacks turns its values into a private dictionary
    (768 B more per idle connection, measured with tracemalloc, issue #14). Deleting an
    attribute never takes its name out of the table.
    """
    attributes = vars(instance)
    for name in names:
        if name not in attributes:
            setattr(instance, name, None)
            delattr(instance, name)


def admission_ws_protocol(
    admission: Admission, base: type[asyncio.Protocol]
) -> type[asyncio.Protocol]:
    """uvicorn's WebSocket protocol class ``base`` (sans-I/O: ``handshake_complete``), whose
    first bytes after the ``101`` (a Canaux client's ``hello``) take one of ``admission``'s
    turns [SECURITY-4]: the app's answer (the session, the ``welcome``) is the costliest step
    of a connection's opening, and flood clients send their hellos in bursts too."""

    primed = False

    class AdmittedWebSocketProtocol(base):  # type: ignore[valid-type,misc]
        _opening = True
        """Until the first bytes after the ``101`` are handled (a class default)."""

        _held: list[bytes] | None = None

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            nonlocal primed
            if not primed:
                primed = True
                _prime_shared_keys(self, _LATER_NAMES)

        def data_received(self, data: bytes) -> None:
            if self._held is not None:  # already waiting for a turn
                self._held.append(data)
                return
            if self._opening and self.handshake_complete:
                self._opening = False
                if not admission.turn(self, asyncio.get_running_loop()):
                    self._held = [data]
                    self.transport.pause_reading()
                    return
            super().data_received(data)

        def resume(self) -> bool:
            held, self._held = self._held, None
            if held is None or self.transport.is_closing():
                return False
            self.transport.resume_reading()
            super().data_received(b"".join(held))
            return True

    return AdmittedWebSocketProtocol
