"""Broken servers for the last server requirements without a case (#9 coverage gaps).

Each fault is registered in :data:`GAP_SERVERS` as (fault, cases that must catch it, the
requirement IDs a failure may cite, the setup of the server behind the relay, one of
:data:`SETUPS`); ``faults.BROKEN_SERVERS`` takes them in.
"""

from __future__ import annotations

import json
from typing import Any

from .frame_proxy import Conn, Fault, Frame

__all__ = ["GAP_SERVERS", "PROOF_TOKENS", "SETUPS"]

PROOF_TOKENS = ("tok-a-proof", "tok-b-proof")
"""The two tokens an authenticating server of the proof of power accepts."""

SETUPS = {
    "open": "no authentication, the default resume buffer",
    "authenticated": "accepts PROOF_TOKENS only; the suite runs with them",
    "small-buffer": "resume_buffer 64, so that overflowing it is a light load",
    "detached-total": "max_detached_total 4 (LIMIT-13; max_detached_sessions 4), which the "
    "suite is told",
}
"""How the server behind a broken relay is configured (test_proof_of_power builds each)."""


class AnnouncesSmallerBuffer(Fault):
    name = "announces-smaller-buffer"
    description = (
        "welcome announces resume_buffer 8 but the session keeps its real buffer, so a resume "
        "after more than 8 missed events answers resumed:true (LIMIT-5)"
    )
    announced = 8

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        limits = frame.get("limits")
        buffer = limits.get("resume_buffer") if isinstance(limits, dict) else None
        if frame.get("type") == "welcome" and isinstance(limits, dict) and isinstance(buffer, int):
            limits["resume_buffer"] = min(buffer, self.announced)
        return [frame]


class SseChecksListBackwards(Fault):
    name = "sse-checks-list-backwards"
    description = "GET /events checks the channels list from its last entry to its first"

    def http_request(self, path: str, headers: dict[str, str], query: dict[str, str]) -> None:
        if path.endswith("/events") and "channels" in query:
            query["channels"] = ",".join(reversed(query["channels"].split(",")))


class SseAcceptsAnyone(Fault):
    name = "sse-accepts-anyone"
    description = "GET /events lets a request without (or with unknown) credentials in"

    def http_request(self, path: str, headers: dict[str, str], query: dict[str, str]) -> None:
        if not path.endswith("/events"):
            return
        given = [k for k in headers if k.lower() == "authorization"]
        if not any(headers[k] in (f"Bearer {t}" for t in PROOF_TOKENS) for k in given):
            for key in given:
                del headers[key]
            headers["Authorization"] = f"Bearer {PROOF_TOKENS[0]}"


class ChatTextBeforeFrame(Fault):
    name = "chat-text-before-frame"
    description = (
        "a chat publish over max_frame_bytes whose text is within 16000 characters is not "
        "closed with 1009 (the relay shortens it, as if the server checked the text only)"
    )

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        limits = frame.get("limits")
        if frame.get("type") == "welcome" and isinstance(limits, dict):
            conn.state["max_frame_bytes"] = limits.get("max_frame_bytes")
        return [frame]

    def client_text(self, conn: Conn, text: str) -> str:
        limit = conn.state.get("max_frame_bytes")
        if not isinstance(limit, int) or len(text.encode()) <= limit:
            return text
        try:
            frame: Any = json.loads(text)
        except ValueError:
            return text
        data = frame.get("data") if isinstance(frame, dict) else None
        if (
            frame.get("type") == "publish"
            and frame.get("channel") == "chat"
            and isinstance(data, dict)
            and isinstance(data.get("text"), str)
            and len(data["text"]) <= 16000
        ):
            data["text"] = data["text"][:16]
            return json.dumps(frame, separators=(",", ":"))
        return text


class AsyncapiForgetsAChannel(Fault):
    name = "asyncapi-forgets-a-channel"
    description = "GET /asyncapi.json leaves the conformance.* family out of its channels"

    def response_body(self, path: str, status: int, body: bytes) -> bytes:
        if not path.endswith("/asyncapi.json") or status != 200:
            return body
        document = json.loads(body)
        channels = document.get("channels", {})
        channels.pop("conformance", None)
        operations = document.get("operations", {})
        for key in [k for k, v in operations.items() if "#/channels/conformance" in json.dumps(v)]:
            del operations[key]
        return json.dumps(document).encode()


READONLY = "conformance.readonly"
FORBIDDEN = "conformance.forbidden"


class FamilyWinsOverExactEntry(Fault):
    name = "family-wins-over-exact-entry"
    description = (
        "conformance.readonly is treated by the conformance.* family: a client publish on it "
        "is acked and delivered (CHANNEL-9)"
    )

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "publish" and frame.get("channel") == READONLY:
            await conn.to_client({"type": "ack", "id": frame.get("id")})
            for other in list(conn.proxy.connections):
                if READONLY in other.subscriptions:
                    await other.inject_event(READONLY, frame.get("data"))
            return []
        return [frame]


class IgnoresAccessPolicy(Fault):
    name = "ignores-access-policy"
    description = (
        "subscribe and publish on conformance.forbidden are acked as if no policy refused them"
    )

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") in ("subscribe", "publish") and frame.get("channel") == FORBIDDEN:
            await conn.to_client({"type": "ack", "id": frame.get("id")})
            return []
        return [frame]


class CountBeforePolicy(Fault):
    name = "count-before-policy"
    description = (
        "with every subscription slot taken, a subscribe refused by the access policy is "
        "answered too_many_subscriptions (CHANNEL-16 puts forbidden first)"
    )

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        limits = frame.get("limits")
        if frame.get("type") == "welcome" and isinstance(limits, dict):
            conn.state["max_subscriptions"] = limits.get("max_subscriptions")
        return [frame]

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        full = len(conn.subscriptions) >= (conn.state.get("max_subscriptions") or 1 << 30)
        if frame.get("type") == "subscribe" and frame.get("channel") == FORBIDDEN and full:
            await conn.to_client(
                {
                    "type": "error",
                    "id": frame.get("id"),
                    "code": "too_many_subscriptions",
                    "message": "too many subscriptions",
                    "channel": FORBIDDEN,
                }
            )
            return []
        return [frame]


class SseIgnoresAccessPolicy(Fault):
    name = "sse-ignores-access-policy"
    description = "GET /events streams conformance.forbidden (the relay asks for one below it)"

    def http_request(self, path: str, headers: dict[str, str], query: dict[str, str]) -> None:
        if path.endswith("/events") and "channels" in query:
            names = query["channels"].split(",")
            query["channels"] = ",".join(f"{FORBIDDEN}.x" if n == FORBIDDEN else n for n in names)


def _sse_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.strip("\n").split("\n"):
        name, _, value = line.partition(":")
        fields[name] = value[1:] if value.startswith(" ") else value
    return fields


class SseLeaksAnotherChannel(Fault):
    name = "sse-leaks-another-channel"
    description = (
        "every SSE event is followed by a copy on a conformance channel the stream did not ask "
        "for (same id and seq), a leak only the stream audit looks for"
    )

    def stream_text(self, path: str, text: str) -> str:
        fields = _sse_fields(text)
        if fields.get("event", "welcome") == "welcome" or "data" not in fields:
            return text
        frame = json.loads(fields["data"])
        frame["channel"] = leak = "conformance.leaked-by-the-relay"
        copy = f"event: {leak}\nid: {fields.get('id', '')}\ndata: {json.dumps(frame)}\n\n"
        return text + copy


class SseInvalidEventData(Fault):
    name = "sse-invalid-event-data"
    description = "SSE conformance events carry a numeric mark (the channel schema wants a string)"

    def stream_text(self, path: str, text: str) -> str:
        fields = _sse_fields(text)
        if not fields.get("event", "").startswith("conformance.") or "data" not in fields:
            return text
        frame = json.loads(fields["data"])
        if isinstance(frame.get("data"), dict) and "mark" in frame["data"]:
            frame["data"]["mark"] = 7
        head = f"event: {fields['event']}\nid: {fields.get('id', '')}\n"
        return f"{head}data: {json.dumps(frame)}\n\n"


def _without_message(status: int, body: bytes) -> bytes:
    if status < 400:
        return body
    try:
        value = json.loads(body)
    except ValueError:
        return body
    if isinstance(value, dict):
        value.pop("message", None)
    return json.dumps(value).encode()


class PublishErrorWithoutMessage(Fault):
    name = "publish-error-without-message"
    description = "POST /publish error answers lose their message member (only code is left)"

    def response_body(self, path: str, status: int, body: bytes) -> bytes:
        return _without_message(status, body) if path.endswith("/publish") else body


class SseErrorWithoutMessage(Fault):
    name = "sse-error-without-message"
    description = "GET /events error answers lose their message member (only code is left)"

    def response_body(self, path: str, status: int, body: bytes) -> bytes:
        return _without_message(status, body) if path.endswith("/events") else body


class KeepsReplacedSseStream(Fault):
    name = "keeps-replaced-sse-stream"
    description = "an SSE stream whose session another stream took over is never ended"

    def keeps_stream_open(self, path: str) -> bool:
        return path.endswith("/events")


GAP_SERVERS: tuple[tuple[type[Fault], tuple[str, ...], tuple[str, ...], str], ...] = (
    (AnnouncesSmallerBuffer, ("BUF-01",), ("LIMIT-5",), "small-buffer"),
    (SseChecksListBackwards, ("SSE-ERR-01",), ("SSE-14",), "open"),
    (SseAcceptsAnyone, ("SSE-ERR-02",), ("SSE-8",), "authenticated"),
    (ChatTextBeforeFrame, ("CHAT-LIM-01",), ("CHAT-6",), "open"),
    (AsyncapiForgetsAChannel, ("DOC-01",), ("HTTP-7",), "open"),
    (FamilyWinsOverExactEntry, ("ENTRY-01",), ("CHANNEL-9",), "open"),
    (IgnoresAccessPolicy, ("POLICY-01",), ("CHANNEL-13",), "open"),
    (CountBeforePolicy, ("POLICY-01",), ("CHANNEL-16",), "open"),
    (SseIgnoresAccessPolicy, ("POLICY-02",), ("SSE-12",), "open"),
    # The stream audit of SSE streams and HTTP answers (audit.py, eventstream.py, cases.py).
    (SseLeaksAnotherChannel, ("SSE-STREAM-02", "SSE-STREAM-03"), ("DELIVERY-2",), "open"),
    (SseInvalidEventData, ("SSE-STREAM-02", "ROBUST-01"), ("CHANNEL-12",), "open"),
    (PublishErrorWithoutMessage, ("PROG-HTTP-01",), ("HTTP-9",), "open"),
    (SseErrorWithoutMessage, ("SSE-ERR-01", "POLICY-02"), ("SSE-15",), "open"),
    (KeepsReplacedSseStream, ("SSE-TAKE-01",), ("SSE-13",), "open"),
)
