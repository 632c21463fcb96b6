"""The broken clients: one patch each on the reference client, and what it breaks.

A patch replaces one method or function of the reference client (``canaux.client``,
``canaux.protocol.client``, ``canaux.protocol.backoff``; for fragments, the ``connect`` through
which ``canaux.client`` opens its ``websockets`` connection) inside the adapter process, before
the adapter creates its client. Each replaces something that must exist: a refactoring of the
reference that moves it makes the patch fail loudly (the adapter writes ``fatal``), never pass
silently. Every other behaviour stays the reference's, so the cases that catch a broken client
must cite one of the requirements listed for it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import canaux.client.client as client_module
import canaux.client.sse as sse_module
from canaux.protocol import backoff as backoff_module
from canaux.protocol.client import ClientConnection, EventReceived, Reset
from canaux.protocol.codes import should_reconnect as original_should
from canaux.protocol.frames import Event, FrameError, Pong, Publish, decode_json, parse_server_frame

__all__ = ["BROKEN_CLIENTS", "BrokenClient", "apply"]


@dataclass(frozen=True)
class BrokenClient:
    """One guarantee removed: the patch, the requirements it breaks, in one sentence."""

    name: str
    breaks: tuple[str, ...]
    summary: str
    patch: Callable[[], None]


def _replace(owner: Any, name: str, new: Callable[..., Any]) -> Callable[..., Any]:
    """Put ``new`` in place of ``owner.name``; return the original (which must exist)."""
    original = getattr(owner, name)
    setattr(owner, name, new)
    return original  # type: ignore[no-any-return]


class _Ceiling(random.Random):
    """A "random" source that always draws the top of the range: no jitter at all."""

    def random(self) -> float:
        return 0.999999


def _no_jitter() -> None:
    init = client_module.Client.__init__

    def patched(self: client_module.Client, *args: Any, **kwargs: Any) -> None:
        kwargs["rng"] = _Ceiling()
        init(self, *args, **kwargs)

    _replace(client_module.Client, "__init__", patched)


def _no_backoff_reset() -> None:
    backoff_class = getattr(backoff_module, "Backoff", None)
    if backoff_class is not None:
        # The attempt counter's owner: a healthy connection no longer sets it back to 0.
        def ended(self: Any, now: float) -> None:
            self._healthy_at = None

        _replace(backoff_class, "ended", ended)
        return
    shared: list[Iterator[float]] = []
    original: list[Callable[..., Iterator[float]]] = []

    def one_sequence(*args: Any, **kwargs: Any) -> Iterator[float]:
        if not shared:
            shared.append(original[0](*args, **kwargs))
        return shared[0]

    original.append(_replace(client_module, "backoff_delays", one_sequence))


def _resets_on_welcome() -> None:
    # The rule before CLIENT-11: any welcome sets the attempt number back to 0.
    welcomed = backoff_module.Backoff.welcomed

    def patched(self: backoff_module.Backoff, now: float, heartbeat_ms: int) -> None:
        welcomed(self, now, heartbeat_ms)
        self.attempt = 0

    _replace(backoff_module.Backoff, "welcomed", patched)


_last_close: list[int | None] = [None]


def _ignores_4429() -> None:
    def should_reconnect(code: int | None) -> bool:
        _last_close[0] = code
        return original_should(code)

    _replace(client_module, "should_reconnect", should_reconnect)
    backoff_class = getattr(backoff_module, "Backoff", None)
    if backoff_class is not None:
        next_delay = backoff_class.next_delay

        def patched(self: Any) -> float:
            delay: float = next_delay(self)
            return 0.0 if _last_close[0] == 4429 else delay

        _replace(backoff_class, "next_delay", patched)
        return
    original: list[Callable[..., Iterator[float]]] = []

    def delays(*args: Any, **kwargs: Any) -> Iterator[float]:
        for delay in original[0](*args, **kwargs):
            yield 0.0 if _last_close[0] == 4429 else delay

    original.append(_replace(client_module, "backoff_delays", delays))


def _reconnects_after_no() -> None:
    _replace(client_module, "should_reconnect", lambda code: True)


def _no_resume() -> None:
    made = ClientConnection.connection_made

    def connection_made(self: ClientConnection, now: float) -> None:
        session, self.session = self.session, None
        try:
            made(self, now)  # hello without a resume request
        finally:
            self.session = session

    _replace(ClientConnection, "connection_made", connection_made)


def _resumes_one_seq_early() -> None:
    made = ClientConnection.connection_made

    def connection_made(self: ClientConnection, now: float) -> None:
        last = self.last_seq
        self.last_seq = max(0, last - 1)
        try:
            made(self, now)
        finally:
            self.last_seq = last

    _replace(ClientConnection, "connection_made", connection_made)


def _delivers_duplicates() -> None:
    handle = ClientConnection._handle_event

    def patched(self: ClientConnection, event: Event) -> None:
        if event.seq <= self.last_seq:
            self._events.append(EventReceived(event.channel, event.data, event.seq))
            return
        handle(self, event)

    _replace(ClientConnection, "_handle_event", patched)


def _passes_gaps() -> None:
    handle = ClientConnection._handle_event

    def patched(self: ClientConnection, event: Event) -> None:
        if event.seq > self.last_seq + 1:
            self.last_seq = event.seq - 1  # as if the missing events had come
        handle(self, event)

    _replace(ClientConnection, "_handle_event", patched)


def _forgets_unanswered_publishes() -> None:
    lost = ClientConnection.connection_lost

    def connection_lost(self: ClientConnection) -> None:
        lost(self)
        for op_id, op in list(self._pending.items()):
            if isinstance(op, Publish):
                del self._pending[op_id]

    _replace(ClientConnection, "connection_lost", connection_lost)


def _resends_with_new_ids() -> None:
    lost = ClientConnection.connection_lost

    def connection_lost(self: ClientConnection) -> None:
        lost(self)
        pending = list(self._pending.values())
        self._pending.clear()
        for op in pending:
            renamed = op.model_copy(update={"id": self._next_id()})
            self._pending[renamed.id] = renamed

    _replace(ClientConnection, "connection_lost", connection_lost)


def _forgets_subscriptions() -> None:
    def fresh(self: ClientConnection) -> list[Any]:
        return list(self._pending.values())  # no new subscribe for the wanted channels

    _replace(ClientConnection, "_fresh_session_operations", fresh)


def _no_reset() -> None:
    handle = ClientConnection._handle_welcome

    def patched(self: ClientConnection, welcome: Any) -> None:
        handle(self, welcome)
        self._events = [e for e in self._events if not isinstance(e, Reset)]

    _replace(ClientConnection, "_handle_welcome", patched)


def _never_pongs() -> None:
    send = ClientConnection._send

    def patched(self: ClientConnection, frame: Any) -> None:
        if not isinstance(frame, Pong):
            send(self, frame)

    _replace(ClientConnection, "_send", patched)


def _ignores_silence() -> None:
    tick = ClientConnection.tick

    def patched(self: ClientConnection, now: float) -> None:
        if self._last_heard is not None:
            self._last_heard = max(self._last_heard, now - self.heartbeat_ms / 1000)
        tick(self, now)  # keeps its own pings, never finds the server silent

    _replace(ClientConnection, "tick", patched)


def _sends_oversize_frames() -> None:
    _replace(ClientConnection, "_too_large", lambda self, text: None)


def _accepts_binary_frames() -> None:
    _replace(ClientConnection, "receive_bytes", lambda self, data: None)


def _first_fragment_only() -> None:
    connect = getattr(client_module, "ws_connect")  # noqa: B009 -- not in its __all__

    async def patched(*args: Any, **kwargs: Any) -> Any:
        ws = await connect(*args, **kwargs)

        async def recv(decode: bool | None = None) -> Any:
            first = None
            async for piece in ws.recv_streaming(decode):
                if first is None:
                    first = piece  # the continuation frames are read and dropped
            return first

        ws.recv = recv
        return ws

    _replace(client_module, "ws_connect", patched)


def _sse_forgets_position() -> None:
    getattr(sse_module.SSEReader, "last_event_id")  # noqa: B009 -- it must exist
    sse_module.SSEReader.last_event_id = property(lambda self: None)  # type: ignore[method-assign,assignment]


def _sse_delivers_duplicates() -> None:
    message = sse_module.SSEReader._message

    async def patched(self: sse_module.SSEReader, item: Any) -> Any:
        frame = await message(self, item)
        if frame is None:
            try:
                parsed = parse_server_frame(decode_json(item.data))
            except (ValueError, FrameError):
                return None
            if isinstance(parsed, Event) and parsed.seq <= self.last_seq:
                return parsed  # the duplicate goes to the application
        return frame

    _replace(sse_module.SSEReader, "_message", patched)


def _sse_no_reset() -> None:
    _replace(sse_module.SSEReader, "on_reset", lambda self, fn: None)


def _sse_passes_gaps() -> None:
    message = sse_module.SSEReader._message

    async def patched(self: sse_module.SSEReader, item: Any) -> Any:
        try:
            parsed = parse_server_frame(decode_json(item.data))
        except (ValueError, FrameError):
            parsed = None
        if isinstance(parsed, Event) and parsed.seq > self.last_seq + 1:
            self.last_seq = parsed.seq
            return parsed  # the event after the gap goes to the application
        return await message(self, item)

    _replace(sse_module.SSEReader, "_message", patched)


BROKEN_CLIENTS: dict[str, BrokenClient] = {
    b.name: b
    for b in [
        BrokenClient("no-jitter", ("CLIENT-1",), "waits the whole ceiling every time", _no_jitter),
        BrokenClient(
            "no-backoff-reset",
            ("CLIENT-1", "CLIENT-11"),
            "never sets the attempt number back to 0",
            _no_backoff_reset,
        ),
        BrokenClient(
            "resets-on-welcome",
            ("CLIENT-11",),
            "sets the attempt number back to 0 at every welcome, healthy or not",
            _resets_on_welcome,
        ),
        BrokenClient("ignores-4429", ("CLIENT-5",), "reconnects at once after 4429", _ignores_4429),
        BrokenClient(
            "reconnects-after-no",
            ("CLIENT-4",),
            "reconnects after a close code marked 'no'",
            _reconnects_after_no,
        ),
        BrokenClient("no-resume", ("CLIENT-2", "RESUME-1"), "never asks to resume", _no_resume),
        BrokenClient(
            "resumes-one-seq-early",
            ("CLIENT-2", "RESUME-1"),
            "asks to resume from one seq below the last it received",
            _resumes_one_seq_early,
        ),
        BrokenClient(
            "delivers-duplicates",
            ("CLIENT-3",),
            "passes an event seen before to the application again",
            _delivers_duplicates,
        ),
        BrokenClient(
            "passes-gaps",
            ("CLIENT-3",),
            "delivers an event after a seq gap instead of reconnecting",
            _passes_gaps,
        ),
        BrokenClient(
            "forgets-unanswered-publishes",
            ("CLIENT-7", "RESUME-6"),
            "drops unanswered publishes when the connection is lost",
            _forgets_unanswered_publishes,
        ),
        BrokenClient(
            "resends-with-new-ids",
            ("CLIENT-7", "RESUME-6"),
            "re-sends unanswered requests under new ids",
            _resends_with_new_ids,
        ),
        BrokenClient(
            "forgets-subscriptions",
            ("CLIENT-6", "CLIENT-2", "RESUME-5"),
            "does not subscribe again in a new session",
            _forgets_subscriptions,
        ),
        BrokenClient(
            "no-reset",
            ("CLIENT-2", "RESUME-5"),
            "tells the application nothing when the session is lost",
            _no_reset,
        ),
        BrokenClient("never-pongs", ("HEARTBEAT-2",), "never answers a ping", _never_pongs),
        BrokenClient(
            "ignores-silence",
            ("HEARTBEAT-4",),
            "never counts a silent server as dead",
            _ignores_silence,
        ),
        BrokenClient(
            "sends-oversize-frames",
            ("LIMIT-7",),
            "sends frames over the server's max_frame_bytes",
            _sends_oversize_frames,
        ),
        BrokenClient(
            "accepts-binary-frames",
            ("TRANSPORT-4",),
            "ignores binary frames instead of closing with 1003",
            _accepts_binary_frames,
        ),
        BrokenClient(
            "first-fragment-only",
            ("TRANSPORT-24",),
            "keeps only the first WebSocket frame of a fragmented message",
            _first_fragment_only,
        ),
        BrokenClient(
            "sse-forgets-position",
            ("CLIENT-2",),
            "an SSE stream reconnects without Last-Event-ID",
            _sse_forgets_position,
        ),
        BrokenClient(
            "sse-delivers-duplicates",
            ("CLIENT-3",),
            "an SSE stream passes a repeated seq to the application",
            _sse_delivers_duplicates,
        ),
        BrokenClient(
            "sse-no-reset",
            ("RESUME-5", "CLIENT-2"),
            "an SSE stream never tells the application that its session was lost",
            _sse_no_reset,
        ),
        BrokenClient(
            "sse-passes-gaps",
            ("CLIENT-3",),
            "an SSE stream passes the event after a seq gap on and keeps the stream",
            _sse_passes_gaps,
        ),
    ]
}
"""Every broken client by name."""


def apply(name: str) -> None:
    """Patch the reference client in this process as broken client ``name``."""
    try:
        broken = BROKEN_CLIENTS[name]
    except KeyError:
        raise SystemExit(f"no broken client {name!r}; known: {sorted(BROKEN_CLIENTS)}") from None
    broken.patch()
