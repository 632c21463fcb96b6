"""A text message that is not UTF-8 ([#10] finding 7, TRANSPORT-5): 1007, and one log line.

uvicorn logs each one as an ERROR with a full traceback; a client can send them at will, so the
reference's WebSocket protocol logs one INFO line instead (canaux.server.ws_protocol).
"""

from __future__ import annotations

import logging

import pytest

from canaux.server.testing import running_server

from .wire import close_code, make_config, request, session

pytestmark = pytest.mark.anyio

BAD = [
    pytest.param(b'{"type":"ping","nonce":"\xff"}', id="invalid-start-byte"),
    pytest.param(b'{"type":"ping","nonce":"\xed\xa0\x80"}', id="raw-surrogate"),
    pytest.param(b'{"type":"ping","nonce":"\xc3', id="truncated"),
]


@pytest.mark.parametrize("payload", BAD)
async def test_invalid_utf8_closes_1007_with_one_concise_log_line(
    payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_server(make_config()) as server, session(server) as (bystander, _):
        async with session(server) as (ws, _):
            caplog.clear()
            await ws.send(payload, text=True)
            assert await close_code(ws) == 1007
        # Nobody else notices [SECURITY-4].
        reply = await request(bystander, {"type": "subscribe", "id": "s", "channel": "system"})
        assert reply == {"type": "ack", "id": "s"}
    about = [r for r in caplog.records if "utf-8" in r.getMessage().lower()]
    assert len(about) == 1, [r.getMessage() for r in about]
    (record,) = about
    assert record.levelno <= logging.INFO
    assert record.exc_info is None
    assert "1007" in record.getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
