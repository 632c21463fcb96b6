"""Raw Canaux frames over a WebSocket, checked against the schemas (spec transport.md,
frames.md, index.md "Conformance").

:class:`RawClient` is the suite's only way to talk to a server over WebSocket. It sends
whatever a case asks for, byte for byte, and checks EVERY frame it receives: it must be a
UTF-8 text frame holding one JSON object [TRANSPORT-3] that validates [OPS-12] against
``frame.json#/$defs/server_frame``, and an ``event``'s ``data`` must validate against the
``$defs/event`` of the schema the welcome catalogue names for its channel. A frame that does
not is a finding in itself; it is raised as :class:`CaseFailed` at the next receive. Beneath
the messages, :mod:`~canaux_conformance.frame_audit` checks the header of every WebSocket frame
the connection receives [TRANSPORT-25].

Every frame in both directions lands in a :class:`Transcript`, which prints as a replayable
list of frames per client for the report.

The client stays inside the limits its server announced, so that a limit close is never the
suite's doing [LIMIT-7, LIMIT-8]: once a ``welcome`` arrives, every frame it sends is paced by a
:class:`Pacer` within the announced token bucket, and a frame longer than
``limits.max_frame_bytes`` is refused with :class:`SuiteError` before it leaves. A case that
probes a limit on purpose says so (``send_text(..., beyond_limits=True)``); a ``4429`` or
``1009`` close it did not expect is then the suite's error, and otherwise the server's fault.

The parts it is built from have their own modules: :mod:`~canaux_conformance.pacing` (the
token bucket), :mod:`~canaux_conformance.transcript` (what was sent and received),
:mod:`~canaux_conformance.validation` (the schema checks of server frames) and
:mod:`~canaux_conformance.waits` (the bounded wait for a frame).
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

import canaux_schemas
from canaux_conformance.audit import AuditFailure, Finding, StreamAudit, book_for
from canaux_conformance.frame_audit import AuditedConnection
from canaux_conformance.ijson import is_i_json
from canaux_conformance.outcomes import CaseFailed, SuiteError
from canaux_conformance.pacing import Pacer
from canaux_conformance.transcript import Transcript, TranscriptEntry
from canaux_conformance.validation import (
    SERVER_FRAME_TYPES,
    FrameValidator,
    catalogue_entry,
    shared_validator,
)
from canaux_conformance.waits import wait_until

# The client's own names, and (for code that imported them from here) those of the modules
# its parts moved to: pacing (Pacer), transcript (Transcript, TranscriptEntry), validation
# (FrameValidator, catalogue_entry, SERVER_FRAME_TYPES).
__all__ = [
    "LIMIT_CLOSE_CODES",
    "SERVER_FRAME_TYPES",
    "SUBPROTOCOL",
    "Frame",
    "FrameValidator",
    "HandshakeRefused",
    "Pacer",
    "RawClient",
    "Transcript",
    "TranscriptEntry",
    "catalogue_entry",
    "encode",
]

SUBPROTOCOL = "canaux.v1"
"""The WebSocket subprotocol of Canaux v1 [TRANSPORT-1]."""


Frame = dict[str, Any]
"""A decoded frame: one JSON object."""


# Which requirement an invalid `data` breaks, per standard channel; anything else (conformance.*,
# custom channels) breaks DELIVERY-5 "data is delivered as published".
_DATA_REQUIREMENT = {
    "chat": "CHAT-1",
    "playqueue": "QUEUE-2",
    "system": "SYSTEM-1",
    "progress": "PROGRESS-1",
}


LIMIT_CLOSE_CODES = {4429: "max_rate", 1009: "max_frame_bytes"}
"""Close codes a server uses when a client breaks an announced limit [LIMIT-2, LIMIT-3]."""


def encode(frame: Mapping[str, Any]) -> str:
    """Compact JSON, the way a careful client writes a frame."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- client


class HandshakeRefused(CaseFailed):
    """The WebSocket opening handshake failed; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None, requirement: str | None = None) -> None:
        super().__init__(message, requirement=requirement)
        self.status = status


Matcher = Callable[[Frame], bool]

_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RawClient:
    """One WebSocket connection driven frame by frame by a conformance case.

    Received frames wait in an "unclaimed" list; :meth:`expect` takes the first one matching
    and leaves the others for later calls, so a case can wait for an ``ack`` while events
    for the same client keep arriving. Server ``ping`` frames are answered with a ``pong``
    at once [HEARTBEAT-2] unless ``auto_pong`` is false, in which case they are handed to the
    case like any other frame. Every ping is also recorded in :attr:`pings`.
    """

    def __init__(
        self,
        url: str,
        *,
        name: str = "A",
        transcript: Transcript | None = None,
        subprotocols: Sequence[str] | None = (SUBPROTOCOL,),
        auto_pong: bool = True,
        timeout: float = 5.0,
        headers: Mapping[str, str] | None = None,
        validate: bool = True,
        validator: FrameValidator | None = None,
        catalogue: Sequence[Mapping[str, Any]] | None = None,
        legacy: bool = False,
    ) -> None:
        self.url = url
        self.legacy = legacy
        """A legacy endpoint (legacy.md): frames ``{"channel", "data"}``, checked by legacy.json."""
        self.name = name
        self.transcript = transcript if transcript is not None else Transcript()
        self.subprotocols = subprotocols
        self.auto_pong = auto_pong
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.validate = validate
        self._validator = validator
        self.catalogue: list[Mapping[str, Any]] = list(catalogue or [])
        self.welcome: Frame | None = None
        self.received: list[Frame] = []
        """Every decoded frame received, pings included, in arrival order."""
        self.event_bytes: dict[int, int] = {}
        """UTF-8 length of each ``event`` frame's text as received, by seq: an event's size
        in the resume buffer's byte bound [LIMIT-11]."""
        self.pings: list[tuple[float, Frame]] = []
        """(loop time, frame) of every server ping."""
        self.violations: list[CaseFailed] = []
        self.audit = StreamAudit(book_for(self.transcript), legacy=legacy)
        """Every frame in and out goes through the stream audit too (audit.py, #9)."""
        self._unclaimed: list[Frame] = []
        self._arrived = asyncio.Event()
        self._closed = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ids = 0
        self._reported = 0
        self._reader_error: Exception | None = None
        self.pacer: Pacer | None = None
        """Started by the first ``welcome`` received: every later frame is paced by it."""
        self.beyond_limits: list[str] = []
        """What the case did outside the announced limits on purpose (``beyond_limits=True``)."""

    # ----------------------------------------------------------------- connection

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server selected (``None`` if none)."""
        return None if self._ws is None else self._ws.subprotocol

    @property
    def connection(self) -> ClientConnection:
        if self._ws is None:
            raise RuntimeError("RawClient is not connected; call open() first")
        return self._ws

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def close_code(self) -> int | None:
        """The close code received (1006 for a drop without a close frame), once closed."""
        return self._ws.close_code if self._ws is not None and self.closed else None

    @property
    def close_reason(self) -> str | None:
        return self._ws.close_reason if self._ws is not None and self.closed else None

    async def open(self) -> Self:
        """Open the WebSocket; raise :class:`HandshakeRefused` if the server refuses it."""
        protocols = (
            None if self.subprotocols is None else [Subprotocol(p) for p in self.subprotocols]
        )
        offered = ", ".join(self.subprotocols) if self.subprotocols else "no subprotocol"
        try:
            async with asyncio.timeout(self.timeout):
                self._ws = await connect(
                    self.url,
                    subprotocols=protocols,
                    additional_headers=self.headers or None,
                    # Exact frames and no library keepalive: a "silent" client must be silent.
                    compression=None,
                    ping_interval=None,
                    max_size=None,
                    max_queue=None,
                    proxy=None,
                    open_timeout=None,
                    close_timeout=self.timeout,
                    # Every frame header it receives is audited [TRANSPORT-25].
                    create_connection=AuditedConnection,
                )
        except InvalidStatus as exc:
            status = exc.response.status_code
            self.transcript.add(self.name, "open", f"{self.url} ({offered}) refused: HTTP {status}")
            raise HandshakeRefused(
                f"opening handshake refused with HTTP {status}",
                status=status,
                requirement="TRANSPORT-2",
            ) from exc
        except InvalidHandshake as exc:
            self.transcript.add(self.name, "open", f"{self.url} ({offered}) failed: {exc}")
            raise HandshakeRefused(
                f"opening handshake failed: {exc}", status=None, requirement="TRANSPORT-2"
            ) from exc
        except (OSError, TimeoutError) as exc:
            self.transcript.add(self.name, "open", f"{self.url} unreachable: {exc!r}")
            raise HandshakeRefused(
                f"cannot open a WebSocket to {self.url}: {exc!r}",
                status=None,
                requirement="TRANSPORT-1",
            ) from exc
        self.transcript.add(
            self.name, "open", f"{self.url} offered {offered}; selected {self._ws.subprotocol!r}"
        )
        if isinstance(self._ws, AuditedConnection):
            self._ws.on_findings = self._audited
        self._reader = asyncio.create_task(
            self._read(), name=f"canaux-conformance-reader-{self.name}"
        )
        return self

    async def __aenter__(self) -> Self:
        if self._ws is None:
            await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close politely (bounded by the client timeout) and stop the reader."""
        if self._ws is not None and not self.closed:
            self.audit.client_closed(code)
            self.transcript.add(self.name, "close", f"client closes {code} {reason!r}")
            try:
                async with asyncio.timeout(self.timeout):
                    await self._ws.close(code, reason)
            except (TimeoutError, OSError, ConnectionClosed):
                self._ws.transport.abort()
        await self._stop_reader()

    async def abort(self) -> None:
        """Drop the TCP connection with no WebSocket close frame (a network failure)."""
        if self._ws is not None and not self.closed:
            self.transcript.add(
                self.name, "close", "client drops the TCP connection (no close frame)"
            )
            self._ws.transport.abort()
        await self._stop_reader()

    async def _stop_reader(self) -> None:
        if self._reader is not None and not self._reader.done():
            try:
                async with asyncio.timeout(self.timeout):
                    await asyncio.shield(self._reader)
            except TimeoutError:
                self._reader.cancel()
        self._closed.set()

    # ----------------------------------------------------------------- reading

    async def _read(self) -> None:
        ws = self.connection
        try:
            async for message in ws:
                await self._on_message(message)
        except ConnectionClosed:
            pass
        except Exception as exc:  # a bug of the suite, not a finding: surfaced by check()
            self._reader_error = exc
        finally:
            self.transcript.add(
                self.name,
                "close",
                f"closed by server: code {ws.close_code} reason {ws.close_reason!r}",
            )
            rcvd = ws.protocol.close_rcvd
            self._audited(self.audit.closed(rcvd.code if rcvd is not None else None))
            self._closed.set()
            self._arrived.set()

    def _audited(self, findings: list[Finding]) -> bool:
        for finding in findings:
            message = f"stream audit: {finding.message}"
            failure = AuditFailure(
                f"client {self.name}: {message}", requirement=finding.requirement
            )
            self.violations.append(failure)
            self.transcript.note(f"VIOLATION [{finding.requirement}] {message}", self.name)
            self._arrived.set()
        return bool(findings)

    def _violation(self, message: str, requirement: str) -> None:
        failure = CaseFailed(f"client {self.name}: {message}", requirement=requirement)
        self.violations.append(failure)
        self.transcript.note(f"VIOLATION [{requirement}] {message}", self.name)
        self._arrived.set()  # wake a waiting case: the finding is its answer

    async def _on_message(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            self.transcript.add(self.name, "recv", f"<binary frame, {len(message)} bytes>")
            self._violation("server sent a binary frame", "TRANSPORT-3")
            return
        self.transcript.add(self.name, "recv", message)
        try:
            frame = json.loads(message)
        except ValueError:
            self._violation("server sent a text frame that is not JSON", "TRANSPORT-3")
            return
        if not isinstance(frame, dict):
            self._violation("server sent JSON that is not an object", "TRANSPORT-3")
            return
        # The stream audit records its findings (audit.py); the frame still reaches the case,
        # whose own model may name the same fault more precisely.
        self._audited(self.audit.received(message, frame))
        if not is_i_json(frame, depth=1):
            # [TRANSPORT-20] e.g. a lone surrogate or a huge integer relayed from a publisher.
            self._violation("server sent a frame that is not I-JSON", "TRANSPORT-20")
            return
        # A frame failing its schema is a finding, not input: cases never see it.
        if self.validate and not self._check_schema(frame):
            return
        self._audited(self.audit.delivered(message, frame))
        self.received.append(frame)
        if frame.get("type") == "event" and isinstance(frame.get("seq"), int):
            self.event_bytes[frame["seq"]] = (
                len(message) if message.isascii() else len(message.encode())
            )
        if frame.get("type") == "welcome" and self.welcome is None and not self.legacy:
            self._on_welcome(frame)
        if frame.get("type") == "ping":
            self.pings.append((asyncio.get_running_loop().time(), frame))
            if self.auto_pong:
                pong: Frame = {"type": "pong"}
                if isinstance(frame.get("nonce"), str):
                    pong["nonce"] = frame["nonce"]
                with contextlib.suppress(ConnectionClosed):
                    await self.send(pong)
                self._arrived.set()  # wake wait_pings()
                return
        self._unclaimed.append(frame)
        self._arrived.set()

    def _on_welcome(self, welcome: Frame) -> None:
        """Learn the announced limits: from now on every frame stays inside them."""
        self.welcome = welcome
        rate = self.limits.get("max_rate")
        if isinstance(rate, int) and not isinstance(rate, bool) and rate > 0:
            self.pacer = Pacer(rate, asyncio.get_running_loop().time())

    @property
    def limits(self) -> Mapping[str, Any]:
        """``welcome.limits`` of this connection (empty before the welcome)."""
        limits = (self.welcome or {}).get("limits")
        return limits if isinstance(limits, Mapping) else {}

    @property
    def max_frame_bytes(self) -> int | None:
        """The announced ``max_frame_bytes``, or ``None`` before the welcome."""
        value = self.limits.get("max_frame_bytes")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def fits(self, frame: Mapping[str, Any] | str) -> bool:
        """True when ``frame`` is within the announced ``max_frame_bytes`` (or none is known)."""
        text = frame if isinstance(frame, str) else encode(frame)
        limit = self.max_frame_bytes
        return limit is None or len(text.encode()) <= limit

    def _closed_failure(self, what: str, requirement: str | None) -> Exception:
        """What a close seen while waiting for ``what`` means: a limit close is the suite's
        error when the case went beyond the limits itself, else the server broke them."""
        code = self.close_code
        said = f"connection closed (code {code}, reason {self.close_reason!r})"
        limit = LIMIT_CLOSE_CODES.get(code or 0)
        if limit is not None and self.beyond_limits:
            return SuiteError(
                f"client {self.name}: {said} while waiting for {what}, after the suite itself "
                f"went beyond the announced limits ({'; '.join(self.beyond_limits[-3:])}): "
                "the case did not expect that close"
            )
        if code == 4429 and self.pacer is not None:
            return CaseFailed(
                f"client {self.name}: {said} while waiting for {what}, though every frame "
                f"stayed within the announced token bucket ({self.pacer.describe()})",
                requirement="LIMIT-8",
            )
        if code == 1009 and self.max_frame_bytes is not None:
            return CaseFailed(
                f"client {self.name}: {said} while waiting for {what}, though no frame was "
                f"longer than the announced max_frame_bytes {self.max_frame_bytes}",
                requirement="LIMIT-1",
            )
        return CaseFailed(
            f"client {self.name}: {said} while waiting for {what}", requirement=requirement
        )

    def _check_schema(self, frame: Frame) -> bool:
        if self._validator is None:
            self._validator = shared_validator()
        if self.legacy:
            return self._check_legacy(frame, self._validator)
        problem = self._validator.frame_error(frame)
        if problem is not None:
            kind = frame.get("type")
            self._violation(f"invalid {kind!r} frame (frame.json) {problem}", "OPS-12")
            return False
        if frame.get("type") == "welcome" and isinstance(frame.get("channels"), list):
            self.catalogue = list(frame["channels"])
        if frame.get("type") == "event":
            channel = frame["channel"]
            entry = catalogue_entry(self.catalogue, channel)
            schema_id = entry.get("schema") if entry else None
            if isinstance(schema_id, str):
                problem = self._validator.data_error(schema_id, frame.get("data"))
                if problem is not None:
                    root = channel.split(".", 1)[0]
                    requirement = _DATA_REQUIREMENT.get(channel, "DELIVERY-5")
                    if root == "conformance":
                        requirement = "CONF-1"
                    self._violation(
                        f"event data on {channel!r} fails {schema_id}#/$defs/event {problem}",
                        requirement,
                    )
                    return False
        return True

    def _check_legacy(self, frame: Frame, validator: FrameValidator) -> bool:
        if frame == {"type": "pong"}:
            return True  # [LEGACY-7] the answer to a legacy {"type": "ping"}
        problem = validator.legacy_error(frame)
        if problem is None and "channel" in frame:  # an event (a pong has no channel)
            channel = str(frame["channel"])
            schema_id = canaux_schemas.CHANNEL_SCHEMAS.get(channel)
            problem = validator.data_error(schema_id, frame["data"]) if schema_id else None
        if problem is not None:
            self._violation(f"invalid legacy frame (legacy.json) {problem}", "LEGACY-1")
            return False
        return True

    def check(self) -> None:
        """Raise the first schema/transport violation not yet reported."""
        if self._reader_error is not None:
            raise RuntimeError(f"client {self.name}: frame reader crashed") from self._reader_error
        if self._reported < len(self.violations):
            failure = self.violations[self._reported]
            self._reported = len(self.violations)
            raise failure

    def _take(self, matcher: Matcher) -> Frame | None:
        for index, frame in enumerate(self._unclaimed):
            if matcher(frame):
                return self._unclaimed.pop(index)
        return None

    async def _wait_for(
        self,
        matcher: Matcher,
        what: str,
        timeout: float | None,
        requirement: str | None,
    ) -> Frame:
        limit = self.timeout if timeout is None else timeout

        def look() -> Frame | None:
            found = self._take(matcher)
            if found is None:
                # A violation surfaces at the first wait that does not find its frame at once
                # (or at the end of the case): frames received before it are still delivered.
                self.check()
            return found

        found = await wait_until(look, self._arrived, timeout=limit, ended=lambda: self.closed)
        if found is not None:
            return found
        if self.closed:
            raise self._closed_failure(what, requirement)
        raise CaseFailed(
            f"client {self.name}: no {what} within {limit:g}s", requirement=requirement
        )

    @staticmethod
    def matcher(type: str | None = None, **fields: Any) -> Matcher:
        """A predicate: frame has this ``type`` (if given) and these member values."""

        def match(frame: Frame) -> bool:
            if type is not None and frame.get("type") != type:
                return False
            return all(k in frame and frame[k] == v for k, v in fields.items())

        return match

    async def next_frame(
        self,
        timeout: float | None = None,
        *,
        requirement: str | None = None,
    ) -> Frame:
        """The oldest unclaimed frame."""
        return await self._wait_for(lambda _: True, "frame", timeout, requirement)

    async def expect(
        self,
        type: str | None = None,
        *,
        timeout: float | None = None,
        requirement: str | None = None,
        where: Matcher | None = None,
        what: str | None = None,
        **fields: Any,
    ) -> Frame:
        """The first unclaimed frame of ``type`` with the given member values (and ``where``).

        ``what`` describes the awaited frame in the failure message when ``where`` is used.
        """
        base = self.matcher(type, **fields)
        matcher = base if where is None else (lambda f: base(f) and where(f))
        if what is None:
            described = ", ".join(f"{k}={v!r}" for k, v in fields.items())
            what = f"{type or 'frame'}" + (f" with {described}" if described else "")
        return await self._wait_for(matcher, what, timeout, requirement)

    async def events(
        self,
        n: int,
        *,
        channel: str | None = None,
        timeout: float | None = None,
        requirement: str | None = None,
    ) -> list[Frame]:
        """The next ``n`` events (of ``channel`` if given), in arrival order."""
        limit = self.timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        found: list[Frame] = []
        fields: dict[str, Any] = {} if channel is None else {"channel": channel}
        while len(found) < n:
            remaining = max(0.0, deadline - loop.time())
            try:
                found.append(
                    await self.expect("event", timeout=remaining, requirement=requirement, **fields)
                )
            except CaseFailed as exc:
                where = f" on {channel!r}" if channel else ""
                raise CaseFailed(
                    f"{exc.message} (got {len(found)} of {n} events{where})",
                    requirement=exc.requirement or requirement,
                ) from exc
        return found

    async def expect_nothing(
        self,
        within: float,
        *,
        where: Matcher | None = None,
        requirement: str | None = None,
        what: str = "frame",
    ) -> None:
        """Fail if a matching frame arrives during the next ``within`` seconds.

        A negative observation needs a window; callers first make sure anything that should
        arrive has arrived (e.g. wait for a marker event sent after the thing that must not).
        """
        matcher: Matcher = where if where is not None else (lambda _: True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            self._arrived.clear()
            self.check()
            for frame in self._unclaimed:
                if matcher(frame):
                    raise CaseFailed(
                        f"client {self.name}: unexpected {what}: {encode(frame)}",
                        requirement=requirement,
                    )
            remaining = deadline - loop.time()
            if remaining <= 0 or self.closed:
                return
            try:
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()
            except TimeoutError:
                continue

    async def expect_close(
        self,
        timeout: float | None = None,
        *,
        requirement: str | None = None,
    ) -> int | None:
        """Wait until the server closes; return its close code (1006: no close frame)."""
        limit = self.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                await self._closed.wait()
        except TimeoutError:
            raise CaseFailed(
                f"client {self.name}: connection still open after {limit:g}s;"
                " expected the server to close",
                requirement=requirement,
            ) from None
        self.check()
        return self.close_code

    async def wait_until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``done()`` holds or the connection closes, at most ``timeout`` seconds;
        return ``done()``. Frames are looked at in :attr:`received`, not claimed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            # Clear before looking, so a frame arriving after the look still wakes us.
            self._arrived.clear()
            remaining = deadline - loop.time()
            if done() or self.closed or remaining <= 0:
                return done()
            try:
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()
            except TimeoutError:
                continue

    async def wait_pings(
        self, count: int, timeout: float | None = None, *, requirement: str | None = None
    ) -> list[tuple[float, Frame]]:
        """Wait until the server has sent ``count`` pings in all; return (time, ping) pairs."""
        limit = self.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                while len(self.pings) < count:
                    self._arrived.clear()
                    self.check()
                    if self.closed:
                        raise self._closed_failure(
                            f"ping {len(self.pings) + 1} of {count}", requirement
                        )
                    await self._arrived.wait()
        except TimeoutError:
            raise CaseFailed(
                f"client {self.name}: {len(self.pings)} of {count} pings within {limit:g}s",
                requirement=requirement,
            ) from None
        return list(self.pings)

    def unclaimed(self) -> list[Frame]:
        """Frames received and not taken by expect() yet (read-only copy)."""
        return list(self._unclaimed)

    # ----------------------------------------------------------------- sending

    def next_id(self, prefix: str = "c") -> str:
        self._ids += 1
        return f"{prefix}{self._ids}"

    async def _pace(self) -> None:
        if self.pacer is not None:
            wait = self.pacer.reserve(asyncio.get_running_loop().time())
            if wait > 0:
                # Pacing, not synchronisation: the server's bucket refills with time only.
                await asyncio.sleep(wait)

    def went_beyond(self, what: str) -> None:
        """Record that the case is about to break an announced limit on purpose (a flood)."""
        self.beyond_limits.append(what)
        self.transcript.note(f"beyond the announced limits on purpose: {what}", self.name)

    async def send_text(
        self,
        text: str,
        *,
        paced: bool = True,
        beyond_limits: bool = False,
        record: bool = True,
        fragments: int = 1,
    ) -> None:
        """Send one text frame, paced within the announced rate and checked against the
        announced ``max_frame_bytes`` [LIMIT-7].

        ``fragments`` > 1: the message goes out as that many WebSocket frames (a first text
        frame and continuation frames, RFC 6455 §5.4), which the server must reassemble
        [TRANSPORT-24].

        ``paced=False``: sent at once, for a case that itself stays within the spec's bucket
        (a burst of at most ``max_rate``). ``beyond_limits=True``: the case breaks a limit on
        purpose (an oversize frame, a flood): neither paced nor size-checked, and remembered,
        so that a limit close it did not expect is reported as the suite's error; a close
        that interrupts such a send is not an exception (the case reads the close code).
        ``record=False`` keeps the frame out of the transcript (floods).
        """
        if beyond_limits:
            size = len(text.encode())
            limit = self.max_frame_bytes
            if limit is not None and size > limit:
                self.went_beyond(f"a {size}-byte frame (max_frame_bytes {limit})")
        else:
            limit = self.max_frame_bytes
            if limit is not None and len(text.encode()) > limit:
                raise SuiteError(
                    f"client {self.name}: the suite was about to send a {len(text.encode())}"
                    f"-byte frame, over the announced max_frame_bytes {limit} [LIMIT-7]: the "
                    "case must size its frames from the welcome or skip"
                )
            if paced:
                await self._pace()
        self.audit.sent(text)
        if record:
            self.transcript.add(self.name, "send", text)
        if fragments > 1:
            step = -(-len(text) // fragments)
            pieces = [text[i : i + step] for i in range(0, len(text), step)]
            if record:
                self.transcript.note(f"sent as {len(pieces)} WebSocket fragments", self.name)
            await self.connection.send(pieces)
            return
        if not beyond_limits:
            await self.connection.send(text)
            return
        try:
            await self.connection.send(text)
        except ConnectionClosed:
            # The server closes as soon as it sees the limit broken, possibly while the frame
            # is still being written: that close is its answer (expect_close() reads it).
            self.transcript.note("the server closed during the send", self.name)

    async def send_bytes(self, data: bytes) -> None:
        self.transcript.add(self.name, "send", f"<binary frame, {len(data)} bytes>")
        await self._pace()
        await self.connection.send(data)

    async def send(self, frame: Mapping[str, Any]) -> None:
        await self.send_text(encode(frame))

    async def hello(
        self,
        version: int = 1,
        *,
        token: str | None = None,
        resume: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Frame:
        """Send ``hello``; the first frame back MUST be a ``welcome`` [HANDSHAKE-2]."""
        frame: Frame = {"type": "hello", "version": version}
        if token is not None:
            frame["token"] = token
        if resume is not None:
            frame["resume"] = dict(resume)
        frame.update(extra or {})
        await self.send(frame)
        first = await self.next_frame(timeout, requirement="HANDSHAKE-2")
        if first.get("type") != "welcome":
            raise CaseFailed(
                f"client {self.name}: first frame after hello is {first.get('type')!r},"
                " not 'welcome'",
                requirement="HANDSHAKE-2",
            )
        self.welcome = first
        return first

    @property
    def session(self) -> str | None:
        return None if self.welcome is None else self.welcome.get("session")

    async def request(
        self,
        frame: Mapping[str, Any],
        *,
        timeout: float | None = None,
        ok: bool = False,
    ) -> Frame:
        """Send a frame with an ``id`` and return THE ack/error carrying that id [OPS-1].

        With ``ok=True`` an ``error`` reply fails the case (citing the requirement the
        operation normally satisfies).
        """
        frame_id = frame.get("id")
        if not isinstance(frame_id, str) or not _ID_RE.match(frame_id):
            raise ValueError(f"request() needs a frame with a valid string id, got {frame_id!r}")
        await self.send(frame)
        reply = await self.expect(
            where=lambda f: f.get("type") in ("ack", "error") and f.get("id") == frame_id,
            timeout=timeout,
            requirement="OPS-1",
            what=f"ack or error for {frame.get('type')} {frame_id!r}",
        )
        if ok and reply["type"] != "ack":
            raise CaseFailed(
                f"client {self.name}: {frame.get('type')} {frame_id!r} refused: "
                f"{reply.get('code')} {reply.get('message')!r}",
                requirement=_OK_REQUIREMENT.get(str(frame.get("type")), "OPS-1"),
            )
        return reply

    async def subscribe(
        self,
        channel: str,
        *,
        id: str | None = None,
        ok: bool = True,
        timeout: float | None = None,
    ) -> Frame:
        """Subscribe and return the reply (``ok``: an error reply fails the case)."""
        frame = {"type": "subscribe", "id": id or self.next_id(), "channel": channel}
        return await self.request(frame, timeout=timeout, ok=ok)

    async def unsubscribe(
        self,
        channel: str,
        *,
        id: str | None = None,
        ok: bool = True,
        timeout: float | None = None,
    ) -> Frame:
        frame = {"type": "unsubscribe", "id": id or self.next_id(), "channel": channel}
        return await self.request(frame, timeout=timeout, ok=ok)

    async def publish(
        self,
        channel: str,
        data: Any,
        *,
        id: str | None = None,
        ok: bool = True,
        timeout: float | None = None,
    ) -> Frame:
        frame = {"type": "publish", "id": id or self.next_id(), "channel": channel, "data": data}
        return await self.request(frame, timeout=timeout, ok=ok)

    async def ping(self, nonce: str = "conformance", *, timeout: float | None = None) -> Frame:
        """Send a ``ping``; the server MUST answer a ``pong`` with the same nonce [HEARTBEAT-2]."""
        await self.send({"type": "ping", "nonce": nonce})
        return await self.expect("pong", nonce=nonce, timeout=timeout, requirement="HEARTBEAT-2")


# A refused operation that a case expected to succeed breaks the requirement granting it.
_OK_REQUIREMENT = {"subscribe": "OPS-6", "unsubscribe": "OPS-6", "publish": "OPS-7"}
