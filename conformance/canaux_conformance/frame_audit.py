"""The WebSocket framing of everything a server sends (spec transport.md TRANSPORT-25,
RFC 6455 §5.2).

The suite's WebSocket layer (``websockets``) refuses a masked server frame, RSV bits no
extension negotiated, an unknown opcode and a malformed control frame, but it accepts a
payload length written in more bytes than needed, as most clients do. :class:`FrameAudit`
reads the bytes a connection receives after its opening handshake, walks the frame headers
(skipping the payloads, never copying them) and reports each way a header breaks RFC 6455,
naming TRANSPORT-25, before the WebSocket layer sees the bytes. :class:`AuditedConnection`
feeds it: :class:`~canaux_conformance.wire.RawClient` opens every connection with it, so every
frame of every case is audited.

The audit starts with the first bytes received once the connection is open. Should a server
send frames before the suite's first message, in the same read as its handshake response,
their boundaries are unknown: that connection's framing is then not audited (a Canaux server
sends nothing before the ``hello``, HANDSHAKE-2).
"""

from __future__ import annotations

from collections.abc import Callable

from websockets.asyncio.client import ClientConnection
from websockets.protocol import State

from canaux_conformance.audit import Finding

__all__ = ["AuditedConnection", "FrameAudit"]

REQUIREMENT = "TRANSPORT-25"

_OPCODES = frozenset({0x0, 0x1, 0x2, 0x8, 0x9, 0xA})
"""Continuation, text, binary, close, ping, pong (RFC 6455 §5.2)."""


def _header_size(head: bytes | bytearray) -> int:
    """Bytes of the frame header that starts ``head``: 2 until the second byte tells more."""
    if len(head) < 2:
        return 2
    code = head[1] & 0x7F
    extended = 2 if code == 126 else 8 if code == 127 else 0
    return 2 + extended + (4 if head[1] & 0x80 else 0)


class FrameAudit:
    """The frame headers of one server-to-client byte stream, checked as they arrive."""

    __slots__ = ("_head", "_remaining", "_reported", "extensions", "frames")

    def __init__(self, *, extensions: bool = False) -> None:
        self.extensions = extensions
        """Whether an extension was negotiated (its frames may set RSV bits)."""
        self.frames = 0
        """Frame headers read so far."""
        self._head = bytearray()
        self._remaining = 0
        self._reported: set[str] = set()

    def feed(self, data: bytes | bytearray) -> list[Finding]:
        """Read ``data``, the next bytes of the stream; the findings of the headers it ends."""
        findings: list[Finding] = []
        pos, end = 0, len(data)
        head = self._head
        while pos < end:
            if self._remaining:
                step = min(self._remaining, end - pos)
                pos += step
                self._remaining -= step
                continue
            want = _header_size(head)
            while len(head) < want and pos < end:
                take = min(want - len(head), end - pos)
                head += data[pos : pos + take]
                pos += take
                want = _header_size(head)
            if len(head) < want:
                break
            self._remaining = self._check(bytes(head), findings)
            self.frames += 1
            head.clear()
        return findings

    def _check(self, head: bytes, findings: list[Finding]) -> int:
        """The payload length of the complete header ``head``, its findings appended."""
        fin, rsv, opcode = head[0] & 0x80, head[0] & 0x70, head[0] & 0x0F
        code = head[1] & 0x7F
        if code == 126:
            length = int.from_bytes(head[2:4], "big")
        elif code == 127:
            length = int.from_bytes(head[2:10], "big")
        else:
            length = code
        frame = f"frame {self.frames + 1} (opcode {opcode:#x}, {length} bytes of payload)"
        if head[1] & 0x80:
            self._report(findings, "mask", f"{frame} is masked: a server's frames never are")
        if rsv and not self.extensions:
            self._report(findings, "rsv", f"{frame} sets RSV bits {rsv >> 4:03b} with no extension")
        if opcode not in _OPCODES:
            self._report(findings, "opcode", f"{frame} has an opcode RFC 6455 does not define")
        if opcode >= 0x8 and not fin:
            self._report(findings, "control-fin", f"{frame}: a control frame is fragmented")
        if opcode >= 0x8 and length > 125:
            self._report(
                findings, "control-length", f"{frame}: a control frame carries over 125 bytes"
            )
        if code == 126 and length < 126:
            self._report(
                findings,
                "length-16",
                f"{frame} writes its length in 16 bits: up to 125 the 7-bit field is the "
                "minimal encoding",
            )
        elif code == 127 and length >= 2**63:
            self._report(findings, "length-msb", f"{frame}: the 64-bit length's top bit is set")
        elif code == 127 and length < 65536:
            self._report(
                findings,
                "length-64",
                f"{frame} writes its length in 64 bits: up to 65,535 the 16-bit form is the "
                "minimal encoding",
            )
        return length

    def _report(self, findings: list[Finding], kind: str, message: str) -> None:
        # One finding of each kind per connection: a server that gets one size wrong gets it
        # wrong for every frame of that size.
        if kind not in self._reported:
            self._reported.add(kind)
            findings.append(Finding(f"{message} [RFC 6455 §5.2]", REQUIREMENT))


class AuditedConnection(ClientConnection):
    """A ``websockets`` client connection that shows its received bytes to a :class:`FrameAudit`
    first, from the first read after the opening handshake on."""

    on_findings: Callable[[list[Finding]], object] | None = None
    """Where findings go (the :class:`~canaux_conformance.wire.RawClient`'s audit report)."""

    frame_audit: FrameAudit | None = None
    _unaudited = False

    def data_received(self, data: bytes) -> None:
        if self.frame_audit is None and not self._unaudited and self.protocol.state is State.OPEN:
            if self._received_frames():
                # Frames arrived with the handshake response: their boundaries are lost.
                self._unaudited = True
            else:
                self.frame_audit = FrameAudit(extensions=bool(self.protocol.extensions))
        audit = self.frame_audit
        if audit is not None:
            findings = audit.feed(data)
            if findings and self.on_findings is not None:
                self.on_findings(findings)
        super().data_received(data)

    def _received_frames(self) -> bool:
        """Whether bytes after the handshake response reached the WebSocket layer already.

        Read from ``websockets`` internals (its parser's buffer, its queue of frames), looked
        up defensively: a version without them counts as "none" (a Canaux server sends
        nothing before the ``hello``)."""
        reader = getattr(self.protocol, "reader", None)
        queue = getattr(getattr(self, "recv_messages", None), "frames", None)
        return bool(getattr(reader, "buffer", b"")) or bool(queue is not None and len(queue))
