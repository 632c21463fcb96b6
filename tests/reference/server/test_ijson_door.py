"""The I-JSON door over real sockets: hostile but valid JSON never reaches another session.

Issue 10 item 1: one publish of ``"\\ud800"`` was acked, then every other subscriber was
dropped (1006) and every resume poisoned. Each test here sends hostile JSON through one door
(WebSocket frame, legacy socket, HTTP publish body) while bystanders on the same channel watch
over WebSocket and SSE: the sender gets the specified refusal [TRANSPORT-18, HTTP-3,
LEGACY-5]; the bystanders see no event, no gap, no close, and the WebSocket one can resume
[SECURITY-4, SECURITY-7].
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from canaux.server.testing import RunningServer, running_server

from .wire import (
    PUBLISH_TOKEN,
    TIMEOUT,
    Bystander,
    SSEReader,
    close_code,
    http_publish,
    make_config,
    open_ws,
    recv,
    recv_until,
    request,
    send,
    session,
    stream,
)

pytestmark = pytest.mark.anyio

CHANNEL = "conformance.bystander"

# Data members as JSON text: each is valid JSON that I-JSON forbids [TRANSPORT-18].
HOSTILE = {
    "lone-surrogate": '{"text":"\\ud800"}',
    "surrogate-name": '{"\\udfff":1}',
    "noncharacter": '{"text":"\\uffff"}',
    "raw-noncharacter": '{"text":"\ufdd0"}',
    "duplicate-name": '{"a":1,"a":2}',
    "1e400": '{"n":1e400}',
    "huge-integer": '{"n":123456789012345678901234567890}',
    "5001-digits": '{"n":' + "7" * 5001 + "}",
    "1e-400": '{"n":1e-400}',
    "depth-65": "[" * 64 + "]" * 64,
    "depth-1000": "[" * 1000 + "]" * 1000,  # [#10] finding 7: was internal_error (RecursionError)
}


def publish_text(data_json: str, frame_id: str = "h1", channel: str = CHANNEL) -> str:
    return f'{{"type":"publish","id":"{frame_id}","channel":"{channel}","data":{data_json}}}'


class Watchers:
    """A WebSocket bystander and an SSE bystander on :data:`CHANNEL`."""

    def __init__(self, ws: Bystander, sse: SSEReader, session_id: str) -> None:
        self.ws = ws
        self.sse = sse
        self.session_id = session_id
        self.sse_seq = 0

    async def check(self) -> None:
        """Both see the next event, with the next seq and nothing before it [SECURITY-4]."""
        await self.ws.check()  # publishes a fresh mark and reads it with the next seq
        message = await self.sse.next_message()
        frame = json.loads(message["data"])
        assert frame["type"] == "event", frame
        assert frame["seq"] == self.sse_seq + 1, frame
        self.sse_seq = frame["seq"]


@contextlib.asynccontextmanager
async def watched(server: RunningServer) -> AsyncIterator[Watchers]:
    async with session(server) as (ws, welcome):
        bystander = Bystander(server, ws)
        bystander.session_id = welcome["session"]  # type: ignore[attr-defined]
        reply = await request(ws, {"type": "subscribe", "id": "watch", "channel": CHANNEL})
        assert reply["type"] == "ack"
        async with stream(server, f"channels={CHANNEL}") as sse:
            first = await sse.next_message()
            assert first["event"] == "welcome"
            yield Watchers(bystander, sse, welcome["session"])


async def resume_after_drop(server: RunningServer, watchers: Watchers) -> None:
    """The WebSocket bystander's session still resumes, with a replay that holds no poison."""
    ws = watchers.ws.ws
    await ws.close()
    async with session(
        server, resume={"session": watchers.session_id, "seq": watchers.ws.last_seq}
    ) as (again, welcome):
        assert welcome["resumed"] is True, welcome
        assert welcome["seq"] == watchers.ws.last_seq
        watchers.ws.ws = again
        await watchers.ws.check()


@pytest.mark.parametrize("data_json", HOSTILE.values(), ids=HOSTILE.keys())
async def test_hostile_publish_on_ws_closes_1007_and_nobody_else_notices(data_json: str) -> None:
    async with running_server(make_config()) as server, watched(server) as watchers:
        async with session(server) as (ws, _):
            await request(ws, {"type": "subscribe", "id": "s1", "channel": CHANNEL})
            await send(ws, publish_text(data_json))
            # [TRANSPORT-18] refused at the door: no ack, no event, close 1007.
            frames: list[dict[str, Any]] = []
            with contextlib.suppress(Exception):
                async with asyncio.timeout(TIMEOUT):
                    while True:
                        frames.append(json.loads(await ws.recv()))
            assert ws.close_code == 1007, (ws.close_code, frames)
            assert not [f for f in frames if f.get("type") in ("ack", "event")]
        await watchers.check()
        await resume_after_drop(server, watchers)


@pytest.mark.parametrize("data_json", HOSTILE.values(), ids=HOSTILE.keys())
async def test_hostile_http_publish_is_400_and_nobody_notices(data_json: str) -> None:
    async with running_server(make_config()) as server, watched(server) as watchers:
        body = f'{{"channel":"{CHANNEL}","data":{data_json}}}'
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            response = await client.post(
                server.base_url + "/publish",
                content=body.encode("utf-8", "surrogatepass"),
                headers={
                    "Authorization": f"Bearer {PUBLISH_TOKEN}",
                    "Content-Type": "application/json",
                },
            )
        # [HTTP-3] not an I-JSON body: 400 bad_frame, nothing published.
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "bad_frame"
        await watchers.check()
        await resume_after_drop(server, watchers)


async def test_hostile_system_notice_over_http_never_reaches_legacy_or_sse() -> None:
    # Issue 10: POST /publish on `system` dropped WebSocket, SSE and legacy clients alike.
    async with (
        running_server(make_config()) as server,
        open_ws(server, "/api/ws", subprotocols=[]) as legacy,
        stream(server, "channels=system") as sse,
    ):
        assert (await sse.next_message())["event"] == "welcome"
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            bad = await client.post(
                server.base_url + "/publish",
                content=b'{"channel":"system","data":{"level":"info","text":"\\ud800"}}',
                headers={"Authorization": f"Bearer {PUBLISH_TOKEN}"},
            )
        assert bad.status_code == 400
        ok = await http_publish(server, "system", {"level": "info", "text": "after"})
        assert ok.status_code == 202
        assert (await recv(legacy))["data"]["text"] == "after"
        assert json.loads((await sse.next_message())["data"])["data"]["text"] == "after"


@pytest.mark.parametrize("path", ["/ws/chat", "/api/ws"])
@pytest.mark.parametrize(
    "text",
    ['{"message":"\\ud800"}', '{"message":"hi","message":"ho"}', '{"message":"\\ufffe"}'],
    ids=["lone-surrogate", "duplicate-name", "noncharacter"],
)
async def test_hostile_legacy_frame_closes_1007(path: str, text: str) -> None:
    # [LEGACY-5] the I-JSON rules of TRANSPORT-18 hold on legacy sockets too.
    async with running_server(make_config()) as server, watched(server) as watchers:
        async with open_ws(server, path, subprotocols=[]) as ws:
            await send(ws, text)
            assert await close_code(ws) == 1007
        await watchers.check()


async def test_hostile_playqueue_track_never_poisons_the_snapshot() -> None:
    async with running_server(make_config()) as server, watched(server) as watchers:
        async with session(server) as (ws, _):
            add = (
                '{"type":"publish","id":"q1","channel":"playqueue","data":'
                '{"op":"add","track":{"id":"t1","title":"\\ud800"}}}'
            )
            await send(ws, add)
            assert await close_code(ws) == 1007
        # A new subscriber still gets a snapshot [QUEUE-1].
        async with session(server) as (ws, _):
            await send(ws, json.dumps({"type": "subscribe", "id": "s", "channel": "playqueue"}))
            frames = await recv_until(ws, lambda f: f.get("type") == "event")
            assert frames[-1]["data"]["type"] == "state"
        await watchers.check()


@pytest.mark.parametrize(
    ("data_json", "delivered"),
    [
        ('{"n":-0}', {"n": 0}),
        ('{"n":-0.0}', {"n": 0}),
        ('{"n":0.123456789012345678901234567890}', {"n": 0.12345678901234568}),
        ('{"n":9007199254740991}', {"n": 9007199254740991}),
        ('{"n":1e300}', {"n": 1e300}),
        ('{"t":"\\ud83c\\udfb5 \ufffd"}', {"t": "\U0001f3b5 \ufffd"}),
        # The frame is depth 1, data 2, and 62 arrays reach depth 64 [TRANSPORT-18] (7).
        ('{"d":' + "[" * 62 + "]" * 62 + "}", {"d": json.loads("[" * 62 + "]" * 62)}),
    ],
    ids=["-0", "-0.0", "30-digits", "2**53-1", "1e300", "pair-and-fffd", "depth-64"],
)
async def test_i_json_data_is_delivered_as_its_doubles(data_json: str, delivered: Any) -> None:
    # [TRANSPORT-19] accepted, and delivered with every number the same double.
    async with running_server(make_config()) as server, session(server) as (ws, _):
        await request(ws, {"type": "subscribe", "id": "s1", "channel": CHANNEL})
        await send(ws, publish_text(data_json))
        frames = await recv_until(ws, lambda f: f.get("type") == "event")
        assert frames[-1]["data"] == delivered


class TestHello:
    """[HANDSHAKE-5] [HANDSHAKE-18] [TRANSPORT-10] [TRANSPORT-22] the first frame's checks."""

    @pytest.mark.parametrize(
        ("text", "code"),
        [
            ('{"type":"hello","version":9007199254740993}', 1007),
            ('{"type":"hello","version":1e300}', 4400),
            ('{"type":"hello","version":9007199254740991}', 4406),
            ('{"type":"hello","version":1,"token":"\\ud800"}', 1007),
            ('{"type":"hello","version":1,"version":1}', 1007),
            # Oversize and not a hello: the length is checked first [TRANSPORT-22].
            (json.dumps({"type": "subscribe", "pad": "x" * 70_000}), 1009),
            # Not I-JSON and not a hello: 1007 before 4400.
            ('{"type":"ping","nonce":"\\udc00"}', 1007),
        ],
        ids=["2**53+1", "1e300", "2**53-1", "token-surrogate", "dup", "oversize-other", "ping"],
    )
    async def test_first_frame(self, server: RunningServer, text: str, code: int) -> None:
        async with open_ws(server) as ws:
            await send(ws, text)
            assert await close_code(ws) == code


class TestFrameLengthInBytes:
    """[TRANSPORT-6] [LIMIT-2] the length is counted in UTF-8 bytes, not characters."""

    @pytest.mark.parametrize(("char", "size"), [("é", 2), ("€", 3), ("🎵", 4)])
    async def test_multibyte_frame_just_over_the_limit_closes_1009(
        self, char: str, size: int
    ) -> None:
        limit = 4096
        async with (
            running_server(make_config(max_frame_bytes=limit)) as server,
            session(server) as (ws, _),
        ):
            envelope = len(publish_text('{"t":""}').encode())
            fill = (limit - envelope) // size
            fits = publish_text(
                json.dumps({"t": char * fill}, ensure_ascii=False, separators=(",", ":"))
            )
            assert len(fits.encode()) <= limit
            await request(ws, {"type": "subscribe", "id": "s1", "channel": CHANNEL})
            await send(ws, fits)
            frames = await recv_until(ws, lambda f: f.get("type") == "ack")
            assert frames[-1]["id"] == "h1"
            over = publish_text(
                json.dumps({"t": char * (fill + 1)}, ensure_ascii=False, separators=(",", ":")),
                frame_id="h2",
            )
            assert len(over) <= limit < len(over.encode())
            await send(ws, over)
            assert await close_code(ws) == 1009


async def test_a_repeated_id_is_checked_after_the_frame_and_before_the_channel(
    server: RunningServer,
) -> None:
    """[OPS-21] bad_frame first (not remembered), then the remembered reply before any check."""
    async with session(server) as (ws, _):
        mark = secrets.token_hex(4)
        first = {"type": "publish", "id": "p1", "channel": CHANNEL, "data": {"mark": mark}}
        assert (await request(ws, first))["type"] == "ack"
        bad = await request(ws, {"type": "publish", "id": "p1", "channel": "Bad!", "data": {}})
        assert (bad["code"], bad["pointer"]) == ("bad_frame", "/channel")
        # A valid frame with the same id: the remembered ack, though the channel is unknown.
        again = await request(ws, {"type": "publish", "id": "p1", "channel": "nope", "data": 1})
        assert again == {"type": "ack", "id": "p1"}
