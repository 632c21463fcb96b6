"""Two resumes of one session at the same moment ([#10] finding 7, RESUME-4, RESUME-15).

The later resume wins and the other connection is closed with 4411, but that connection sent
a valid hello and is owed its welcome first (HANDSHAKE-2): the reference used to close it with
4411 before its welcome went out.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from canaux.server.testing import running_server

from .wire import TIMEOUT, make_config, open_ws, request, send, session

pytestmark = pytest.mark.anyio

CHANNEL = "conformance.race"


async def frames_until_close(ws: ClientConnection) -> tuple[list[dict[str, Any]], int | None]:
    """Every frame until the server closes (pings skipped), and the close code."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(TIMEOUT):
        try:
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] != "ping":
                    frames.append(frame)
        except ConnectionClosed:
            pass
    return frames, ws.close_code


async def test_the_loser_of_a_resume_race_gets_its_welcome_before_4411_resume_15() -> None:
    async with running_server(make_config()) as server:
        async with session(server) as (ws, welcome):
            await request(ws, {"type": "subscribe", "id": "s1", "channel": CHANNEL})
            for n in range(3):
                await send(
                    ws, {"type": "publish", "id": f"p{n}", "channel": CHANNEL, "data": {"n": n}}
                )
            for _ in range(6):  # three acks, three events, in some order [OPS-7]
                json.loads(await ws.recv())
        session_id = welcome["session"]
        hello = json.dumps(
            {"type": "hello", "version": 1, "resume": {"session": session_id, "seq": 1}}
        )
        async with open_ws(server) as first, open_ws(server) as second:
            # Both hellos leave at once: the server handles the second before it has written
            # the first connection's welcome.
            await asyncio.gather(first.send(hello), second.send(hello))
            lost, code = await frames_until_close(first)
            won = json.loads(await second.recv())
            # [RESUME-4] the later resume holds the session; the winner is never closed.
            assert code == 4411
            assert won["type"] == "welcome"
            assert won["resumed"] is True
            assert won["session"] == session_id
            # [RESUME-15] [HANDSHAKE-2] the loser got its welcome first, then maybe part of
            # the replay (in order, from seq 2), then the close.
            assert lost, "closed with 4411 before its welcome"
            assert lost[0]["type"] == "welcome"
            assert lost[0]["resumed"] is True
            assert lost[0]["session"] == session_id
            assert [f["seq"] for f in lost[1:]] == list(range(2, 2 + len(lost) - 1))
            # The winner gets the whole replay, and live traffic after it.
            replay = [json.loads(await second.recv()) for _ in range(2)]
            assert [f["seq"] for f in replay] == [2, 3]
