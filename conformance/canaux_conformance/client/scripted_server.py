"""The scripted server: the suite plays a Canaux server that does exactly what a case says.

A :class:`ScriptedServer` listens on 127.0.0.1, port 0, with the ``websockets`` library (never
the reference). Each WebSocket a client opens becomes a :class:`ScriptedConnection` handed to the
case in arrival order; nothing is sent unless the case sends it, so a case can inject what a real
network and a real server do (issue 12 item 3): a TCP cut, a stall, any close code, a welcome
with ``resumed`` true or false, a replay with a gap or a duplicate seq, an event before the
welcome, a frame of any size, garbage text, a binary frame, a message cut into several WebSocket
frames, no subprotocol, no welcome at all, pings, a catalogue that forbids publishing.

The one thing done without being asked: the client's own pings are answered (HEARTBEAT-2 binds
the server too) unless the case stalls the connection.
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

import canaux_schemas
from canaux_conformance.ijson import is_i_json
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.transcript import Transcript
from canaux_conformance.waits import wait_until
from canaux_conformance.wire import SUBPROTOCOL

__all__ = [
    "CONFORMANCE_SCHEMA",
    "DEFAULT_LIMITS",
    "ClientFrame",
    "ScriptedConnection",
    "ScriptedServer",
    "fragment",
    "new_session_id",
]

CONFORMANCE_SCHEMA = canaux_schemas.SCHEMA_BASE_URI + "channels/conformance.json"
DEFAULT_LIMITS: dict[str, int] = {
    "max_frame_bytes": 1_048_576,
    "max_subscriptions": 64,
    "max_rate": 1000,
    "resume_window_ms": 60_000,
    "resume_buffer": 1024,
}
"""Generous limits: a case that tests a limit announces its own."""

_ABNORMAL = 1006
_CHANNEL_RE = re.compile(r"[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*\Z")
"""[CHANNEL-1] the channel name grammar."""


def fragment(text: str, count: int) -> list[bytes]:
    """``text`` in UTF-8, cut into ``count`` pieces of about equal size (fewer if it is shorter).

    A cut that would fall just before a multi-byte character falls inside it instead: RFC 6455
    lets a fragment of a text message end in the middle of a character (only the reassembled
    message must be valid UTF-8), and a client that decodes each fragment alone fails on it.
    """
    raw = text.encode()
    step = max(1, -(-len(raw) // count))
    cuts = [0]
    for k in range(1, count):
        at = k * step
        if at < len(raw) and raw[at] >= 0xC0:  # the first byte of a multi-byte character
            at += 1
        if cuts[-1] < at < len(raw):
            cuts.append(at)
    cuts.append(len(raw))
    return [raw[a:b] for a, b in pairwise(cuts)]


def new_session_id() -> str:
    """A session id as a server makes one: 128 bits from a CSPRNG, base64url [HANDSHAKE-8]."""
    return secrets.token_urlsafe(16)


class _ClientFrameValidator:
    """frame.json's ``client_frame`` union, for what the client under test sends."""

    def __init__(self) -> None:
        self._validator = Draft202012Validator(
            {"$ref": canaux_schemas.FRAME_SCHEMA_ID + "#/$defs/client_frame"},
            registry=canaux_schemas.registry(),
        )

    def error(self, frame: Any) -> str | None:
        found = best_match(self._validator.iter_errors(frame))
        if found is None:
            return None
        where = "/" + "/".join(str(p) for p in found.absolute_path)
        return f"at {where}: {found.message}"


_VALIDATOR: _ClientFrameValidator | None = None


def _validator() -> _ClientFrameValidator:
    global _VALIDATOR
    if _VALIDATOR is None:
        _VALIDATOR = _ClientFrameValidator()
    return _VALIDATOR


@dataclass(frozen=True)
class ClientFrame:
    """One message the client sent, as received, with its loop time."""

    at: float
    text: str | None
    """The text, or ``None`` for a binary message."""
    frame: Any = None
    """The decoded JSON (``None`` when the text is not JSON)."""

    @property
    def type(self) -> str | None:
        return self.frame.get("type") if isinstance(self.frame, dict) else None

    def get(self, key: str, default: Any = None) -> Any:
        return self.frame.get(key, default) if isinstance(self.frame, dict) else default


@dataclass
class ScriptedConnection:
    """One client connection to the scripted server, driven by the case."""

    number: int
    ws: ServerConnection
    transcript: Transcript
    requested_at: float
    """Loop time of the client's opening HTTP request (when the attempt reached the server)."""
    offered: tuple[str, ...]
    """The subprotocols the client offered [TRANSPORT-1]."""
    selected: str | None
    answer_pings: bool = True
    received: list[ClientFrame] = field(default_factory=list)
    ended_at: float | None = None
    close_code: int | None = None
    """The code of the client's Close frame; 1006 when the connection ended without one."""
    close_reason: str = ""
    closed_by_server: bool = False
    violations: list[CaseFailed] = field(default_factory=list)
    """What the client sent that no client may send, in order (the frame audit)."""
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _ended: asyncio.Event = field(default_factory=asyncio.Event)
    _read: int = 0

    @property
    def name(self) -> str:
        return f"server#{self.number}"

    # ----------------------------------------------------------------- sending

    async def send(self, frame: Mapping[str, Any], *, fragments: int = 1) -> None:
        """Send one frame as JSON text (a connection already gone is ignored: the case sees it
        in :meth:`wait_closed`)."""
        text = json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
        await self.send_text(text, fragments=fragments)

    async def send_text(self, text: str, *, fragments: int = 1) -> None:
        """Send one text message; ``fragments`` > 1: as that many WebSocket frames (a text
        frame and continuation frames, RFC 6455 §5.4) cut by :func:`fragment`, which the
        client must reassemble [TRANSPORT-24]."""
        self.transcript.add(self.name, "send", text)
        with contextlib.suppress(ConnectionClosed):
            if fragments <= 1:
                await self.ws.send(text)
                return
            pieces = fragment(text, fragments)
            self.transcript.note(
                f"sent as {len(pieces)} WebSocket fragments of {[len(p) for p in pieces]} bytes",
                self.name,
            )
            await self.ws.send(pieces, text=True)

    async def send_binary(self, payload: bytes) -> None:
        self.transcript.add(self.name, "send", f"<binary message, {len(payload)} bytes>")
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(payload)

    async def welcome(
        self,
        *,
        session: str | None = None,
        resumed: bool = False,
        seq: int = 0,
        heartbeat_ms: int = 30_000,
        limits: Mapping[str, int] | None = None,
        channels: Sequence[Mapping[str, Any]] | None = None,
        fragments: int = 1,
    ) -> dict[str, Any]:
        """Send a valid ``welcome`` (a fresh session id unless given; in ``fragments``
        WebSocket frames, see :meth:`send_text`); return it."""
        frame: dict[str, Any] = {
            "type": "welcome",
            "version": 1,
            "session": session or new_session_id(),
            "resumed": resumed,
            "seq": seq,
            "heartbeat_ms": heartbeat_ms,
            "limits": {**DEFAULT_LIMITS, **(limits or {})},
            "channels": list(
                channels
                if channels is not None
                else [{"name": "conformance.*", "publish": "client", "schema": CONFORMANCE_SCHEMA}]
            ),
        }
        await self.send(frame, fragments=fragments)
        return frame

    async def event(self, seq: int, channel: str, data: Any, *, fragments: int = 1) -> None:
        frame = {"type": "event", "seq": seq, "channel": channel, "data": data}
        await self.send(frame, fragments=fragments)

    async def ack(self, frame_id: str) -> None:
        await self.send({"type": "ack", "id": frame_id})

    async def error(self, frame_id: str | None, code: str, message: str, **extra: Any) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message, **extra}
        if frame_id is not None:
            frame["id"] = frame_id
        await self.send(frame)

    async def close(self, code: int, reason: str = "") -> None:
        """A proper closing handshake with ``code``."""
        self.closed_by_server = True
        self.transcript.add(self.name, "close", f"server closes with {code} {reason!r}")
        with contextlib.suppress(ConnectionClosed):
            await self.ws.close(code, reason)

    def cut(self) -> None:
        """Drop the TCP connection at once: no Close frame, no FIN handshake to wait for."""
        self.closed_by_server = True
        self.transcript.add(self.name, "close", "server cuts the TCP connection")
        self.ws.transport.abort()

    def stall(self) -> None:
        """Stop answering the client's pings; send nothing more unless the case does."""
        self.answer_pings = False
        self.transcript.note("server stalls: no frames, no pongs", self.name)

    # ----------------------------------------------------------------- receiving

    async def next(self, *, timeout: float, types: Sequence[str] | None = None) -> ClientFrame:
        """The next frame the client sent (of ``types``, skipping others); a CaseFailed
        [TRANSPORT-3] when nothing comes in time or the connection ends first."""
        found = await self.next_or_none(timeout=timeout, types=types)
        if found is None:
            wanted = "/".join(types) if types else "frame"
            ended = " (the connection ended)" if self.ended_at is not None else ""
            raise CaseFailed(
                f"the client sent no {wanted} within {timeout:g}s{ended}",
                requirement="TRANSPORT-3",
            )
        return found

    async def next_or_none(
        self, *, timeout: float, types: Sequence[str] | None = None
    ) -> ClientFrame | None:

        def look() -> ClientFrame | None:
            while self._read < len(self.received):
                item = self.received[self._read]
                self._read += 1
                if types is None or item.type in types:
                    return item
            return None

        return await wait_until(look, self._arrived, timeout=timeout, ended=self._ended.is_set)

    async def hello(self, *, timeout: float) -> ClientFrame:
        """The client's first frame, which must be a valid ``hello`` [HANDSHAKE-1]."""
        first = await self.next(timeout=timeout)
        if first.type != "hello":
            raise CaseFailed(
                f"the client's first frame is not hello: {first.text!r}", requirement="HANDSHAKE-1"
            )
        return first

    async def wait_closed(self, *, timeout: float) -> int | None:
        """The client's close code (1006 for none) once the connection ends; ``None`` if it is
        still open after ``timeout``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._ended.wait()
        return self.close_code if self._ended.is_set() else None

    @property
    def open(self) -> bool:
        return not self._ended.is_set()

    # ----------------------------------------------------------------- the handler side

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for message in self.ws:
                now = loop.time()
                if isinstance(message, bytes):
                    self.transcript.add(
                        self.name, "recv", f"<binary message, {len(message)} bytes>"
                    )
                    self.received.append(ClientFrame(now, None))
                    self._violation("a binary message", "TRANSPORT-3")
                else:
                    self.transcript.add(self.name, "recv", message)
                    self._record(now, message)
                self._arrived.set()
        except ConnectionClosed:
            pass
        finally:
            self.ended_at = loop.time()
            rcvd = self.ws.protocol.close_rcvd
            if (rcvd is not None and not self.closed_by_server) or rcvd is not None:
                self.close_code, self.close_reason = rcvd.code, rcvd.reason
            else:
                self.close_code = _ABNORMAL
            self.transcript.add(
                self.name, "close", f"connection ended, client close code {self.close_code}"
            )
            self._ended.set()
            self._arrived.set()

    def _violation(self, problem: str, requirement: str) -> None:
        self.transcript.note(f"client frame audit: {problem} [{requirement}]", self.name)
        self.violations.append(CaseFailed(f"the client sent {problem}", requirement=requirement))

    def _record(self, now: float, text: str) -> None:
        duplicates: list[str] = []
        try:
            frame = json.loads(text, object_pairs_hook=lambda pairs: _object(pairs, duplicates))
        except ValueError:
            frame = None
        self.received.append(ClientFrame(now, text, frame))
        self._audit(text, frame, duplicates)
        if isinstance(frame, dict) and frame.get("type") == "ping" and self.answer_pings:
            pong: dict[str, Any] = {"type": "pong"}
            if "nonce" in frame:
                pong["nonce"] = frame["nonce"]
            asyncio.get_running_loop().create_task(self.send(pong))

    def _audit(self, text: str, frame: Any, duplicates: list[str]) -> None:
        """Every client frame: one JSON object [TRANSPORT-3], no duplicate names [TRANSPORT-9],
        I-JSON [TRANSPORT-17], valid for its type [OPS-12]."""
        if not isinstance(frame, dict):
            self._violation(f"a text message that is not a JSON object: {text[:200]!r}",
                            "TRANSPORT-3")  # fmt: skip
            return
        if duplicates:
            self._violation(f"an object with the member {duplicates[0]!r} twice: {text[:200]!r}",
                            "TRANSPORT-9")  # fmt: skip
        channel = frame.get("channel")
        if isinstance(channel, str) and not (len(channel) <= 128 and _CHANNEL_RE.match(channel)):
            # [CHANNEL-1] "MUST match the following grammar and MUST be at most 128 characters"
            self._violation(f"a frame on the invalid channel name {channel!r}", "CHANNEL-1")
            return
        if not is_i_json(frame, depth=1):
            self._violation(f"a frame that is not I-JSON: {text[:200]!r}", "TRANSPORT-17")
        problem = _validator().error(frame)
        if problem:
            self._violation(f"an invalid frame {text[:200]!r}: {problem}", "OPS-12")

    def frame_problem(self, item: ClientFrame) -> str | None:
        """Why a client message is not a valid client frame [TRANSPORT-3, OPS-12]; None if it is."""
        if item.text is None:
            return "a binary message"
        if not isinstance(item.frame, dict):
            return f"not a JSON object: {item.text[:200]!r}"
        return _validator().error(item.frame)


@dataclass
class ScriptedServer:
    """A loopback Canaux server whose every move the case scripts."""

    transcript: Transcript
    path: str = "/ws"
    select_subprotocol: bool = True
    """False: answer the opening handshake without selecting ``canaux.v1`` [TRANSPORT-8]."""
    connections: list[ScriptedConnection] = field(default_factory=list)
    _server: Server | None = None
    _incoming: asyncio.Queue[ScriptedConnection] = field(default_factory=asyncio.Queue)
    _requests: dict[int, tuple[float, tuple[str, ...]]] = field(default_factory=dict)
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)
    _taken: int = 0

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the server first"
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"ws://{host}:{port}{self.path}"

    async def start(self) -> ScriptedServer:
        self._server = await serve(
            self._handler,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            select_subprotocol=self._select,
            ping_interval=None,
            max_size=None,
            compression=None,
        )
        return self

    async def aclose(self) -> None:
        for conn in self.connections:
            if conn.open:
                with contextlib.suppress(Exception):
                    conn.ws.transport.abort()
        if self._server is not None:
            self._server.close(close_connections=False)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5.0):
                    await self._server.wait_closed()

    async def accept(self, *, timeout: float) -> ScriptedConnection:
        """The next connection the client opens; a CaseFailed [CLIENT-1] if none comes."""
        found = await self.accept_or_none(timeout=timeout)
        if found is None:
            raise CaseFailed(
                f"the client opened no connection within {timeout:g}s", requirement="CLIENT-1"
            )
        return found

    async def accept_or_none(self, *, timeout: float) -> ScriptedConnection | None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                conn = await self._incoming.get()
                self._taken += 1
                return conn
        return None

    # ----------------------------------------------------------------- websockets hooks

    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        offered = _offered(request.headers)
        self._requests[id(ws)] = (asyncio.get_running_loop().time(), offered)
        if request.path.split("?", 1)[0] != self.path:
            return ws.respond(404, "not a Canaux endpoint\n")
        return None

    def violations(self) -> list[CaseFailed]:
        """The frame audit's findings over every connection, in connection order."""
        return [v for conn in self.connections for v in conn.violations]

    def _select(
        self, ws: ServerConnection, subprotocols: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        if self.select_subprotocol and SUBPROTOCOL in subprotocols:
            return Subprotocol(SUBPROTOCOL)
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        requested_at, offered = self._requests.pop(id(ws), (asyncio.get_running_loop().time(), ()))
        conn = ScriptedConnection(
            number=len(self.connections) + 1,
            ws=ws,
            transcript=self.transcript,
            requested_at=requested_at,
            offered=offered,
            selected=ws.subprotocol,
        )
        self.connections.append(conn)
        self.transcript.add(
            conn.name,
            "open",
            f"client connected, offered {list(offered)}, selected {ws.subprotocol}",
        )
        await self._incoming.put(conn)
        await conn._serve()


def _object(pairs: list[tuple[str, Any]], duplicates: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            duplicates.append(key)
        found[key] = value
    return found


def _offered(headers: Headers) -> tuple[str, ...]:
    values = headers.get_all("Sec-WebSocket-Protocol")
    return tuple(p.strip() for value in values for p in value.split(",") if p.strip())
