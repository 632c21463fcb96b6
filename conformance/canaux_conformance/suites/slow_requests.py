"""A request sent a byte at a time is cut off within 30 seconds (spec: security.md SECURITY-13).

A *slowloris* holds a server's sockets by never finishing its request. SECURITY-13 bounds how
long a request head may take, counted from the moment the connection was accepted, by a
handshake timeout of at most 30 seconds; the same bound applies to each later head on a
kept-alive connection and to the body of a request that has one (an HTTP publish). The
timeout's value is the deployment's and is not announced, but its ceiling is the spec's: the
case needs no flood, only three sockets that each send a few dozen bytes, one a second:

- the opening request of the WebSocket path, whose head never ends;
- a kept-alive connection: one complete request, then a second head that never ends;
- ``POST`` to the publish URL (when given): a complete head, then a body that never ends.

Each must be closed (an HTTP ``408`` first is allowed) within 30 seconds of its start, plus
the run's wait bound (``--timeout``) for a loaded network. The case mostly waits on the
server's clock, so it runs alongside the others (``waits``): against a server that times out
after 10 seconds it costs the run nothing.

The other bounds of the server's door (how many connections, how many handshakes at once,
SECURITY-12) are not announced and only a flood could reach them: no polite run can check
them, and the suite does not flood.
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed

__all__: list[str] = []

SPEC_BOUND_S = 30.0
"""The longest handshake timeout SECURITY-13 allows."""

TRICKLE_S = 1.0
"""Seconds between two bytes of a request that never ends (a slowloris)."""

BODY_BYTES = 512
"""The ``Content-Length`` the slow publish announces (far below any max_frame_bytes)."""


@dataclass
class _Probe:
    """One slow request on its own socket, and what the server did about it."""

    what: str
    host: str
    port: int
    tls: bool
    first: bytes
    """Sent at once: the start of the head, or a complete request then nothing."""
    complete_first: bool = False
    """``first`` is a whole request: read its answer before the slow part starts."""
    slow: bytes = b"X-Canaux-Slow: "
    """Sent a byte at a time, one per :data:`TRICKLE_S`, then ``a`` bytes: never ends."""
    answer: bytearray = field(default_factory=bytearray)
    started: float = 0.0
    closed_after: float | None = None
    vacuous: str = ""
    """Why this probe proved nothing (the server closed after the complete first request)."""

    async def run(self, bound: float) -> None:
        loop = asyncio.get_running_loop()
        context = ssl.create_default_context() if self.tls else None
        reader, writer = await asyncio.open_connection(
            self.host, self.port, ssl=context, server_hostname=self.host if self.tls else None
        )
        self.started = loop.time()
        try:
            writer.write(self.first)
            await writer.drain()
            if self.complete_first:
                if not await self._first_answer(reader, bound):
                    return
                self.started = loop.time()  # the later head's deadline counts from its start
            reading = asyncio.create_task(self._read_to_end(reader))
            slow = self.slow
            while not reading.done() and loop.time() - self.started < bound:
                chunk, slow = (slow[:1], slow[1:]) if slow else (b"a", b"")
                with contextlib.suppress(OSError):
                    writer.write(chunk)
                    await writer.drain()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(reading), TRICKLE_S)
            if reading.done():
                self.closed_after = loop.time() - self.started
            else:
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reading
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_to_end(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(OSError):
            while chunk := await reader.read(65536):
                self.answer += chunk

    async def _first_answer(self, reader: asyncio.StreamReader, bound: float) -> bool:
        """Read the answer to the complete first request; False if the connection ends."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), bound)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError, TimeoutError):
            self.vacuous = "the server closed the connection after the first request"
            return False
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(
            (k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines)
        )
        if "close" in headers.get("connection", "").lower():
            self.vacuous = f"the server answered {lines[0]!r} with Connection: close"
            return False
        length = headers.get("content-length", "0")
        try:
            await asyncio.wait_for(
                reader.readexactly(int(length) if length.isdigit() else 0), bound
            )
        except (asyncio.IncompleteReadError, OSError, TimeoutError, ValueError):
            self.vacuous = "the server closed the connection during its first answer"
            return False
        return True

    @property
    def status(self) -> str:
        line = bytes(self.answer).split(b"\r\n", 1)[0].decode("latin-1")
        return f"answered {line!r}" if line else "no answer"


def _probes(ctx: CaseContext) -> list[_Probe]:
    ws = urlsplit(ctx.target.ws_url)
    host, port = ctx.target.host_port
    tls = ws.scheme == "wss"
    authority = ws.netloc.encode()
    path = (ws.path or "/").encode()
    probes = [
        _Probe(
            "the opening request of the WebSocket path, its head sent a byte at a time",
            host,
            port,
            tls,
            b"GET " + path + b" HTTP/1.1\r\nHost: " + authority + b"\r\n",
        ),
        _Probe(
            "a second request head on a kept-alive connection, sent a byte at a time",
            host,
            port,
            tls,
            b"GET " + path + b" HTTP/1.1\r\nHost: " + authority + b"\r\n\r\n",
            complete_first=True,
            slow=b"GET " + path + b" HTTP/1.1\r\nHost: " + authority + b"\r\nX-Canaux-Slow: ",
        ),
    ]
    if ctx.target.publish_url:
        publish = urlsplit(ctx.target.publish_url)
        auth = (
            b"Authorization: Bearer " + ctx.target.publish_token.encode() + b"\r\n"
            if ctx.target.publish_token
            else b""
        )
        probes.append(
            _Probe(
                "POST to the publish URL, its body sent a byte at a time",
                publish.hostname or host,
                publish.port or (443 if publish.scheme == "https" else 80),
                publish.scheme == "https",
                b"POST " + (publish.path or "/").encode() + b" HTTP/1.1\r\nHost: "
                + publish.netloc.encode()
                + b"\r\nContent-Type: application/json\r\n"
                + auth
                + b"Content-Length: " + str(BODY_BYTES).encode() + b"\r\n\r\n",
                slow=b'{"channel": "conformance.slow", "data": {"mark": "',
            )
        )  # fmt: skip
    return probes


@case(
    id="SLOWREQ-01",
    requirements=("SECURITY-13",),
    title="a request head or body sent a byte at a time is cut off within 30 seconds",
    waits=True,
    timeout=SPEC_BOUND_S + 60.0,
)
async def slowreq_01(ctx: CaseContext) -> None:
    """Three sockets send a request a byte a second and never finish it: the WebSocket path's
    opening head, a second head on a kept-alive connection, a publish body. The server closes
    each (HTTP 408 first is allowed) within 30 s of its start [SECURITY-13]."""
    bound = SPEC_BOUND_S + max(ctx.timeout, 2.0)
    probes = _probes(ctx)
    ctx.note(
        f"{len(probes)} slow requests, one byte every {TRICKLE_S:g}s, each for up to {bound:g}s"
    )
    await asyncio.gather(*(p.run(bound) for p in probes))
    for probe in probes:
        if probe.vacuous:
            ctx.note(f"{probe.what}: not checked, {probe.vacuous}")
        elif probe.closed_after is not None:
            ctx.note(f"{probe.what}: closed after {probe.closed_after:.1f}s, {probe.status}")
    held = [p for p in probes if not p.vacuous and p.closed_after is None]
    if held:
        raise CaseFailed(
            "; ".join(f"{p.what}: still open after {bound:g}s ({p.status})" for p in held)
            + f"; the handshake timeout may not exceed {SPEC_BOUND_S:g}s",
            requirement="SECURITY-13",
        )
