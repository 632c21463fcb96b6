"""The backend process stops and starts again; the client carries on by itself.

Seed note, "Test de reconnexion": stop the backend, start it again, the frontend reconnects
automatically. A restarted process has lost every session, so the client gets
``resumed: false``, resets, re-subscribes and keeps working (CLIENT-1, CLIENT-2, RESUME-5).
"""

from __future__ import annotations

import pytest

from canaux.client import Client, ClientState

from .served import served
from .support import Recorder

pytestmark = pytest.mark.anyio


async def test_client_survives_a_backend_restart_client_2_resume_5() -> None:
    channel = "conformance.restart"
    got = Recorder()
    resets = Recorder()
    states = Recorder()
    async with served() as first:
        port = first.port
        # A small backoff cap keeps the test short; the schedule is still full jitter.
        client = Client(first.ws_url, backoff_base=0.1, backoff_cap=1.0)
        client.register_handler(channel, got)
        client.on_reset(lambda: resets(True))
        client.on_state(states)
        await client.connect()
        await client.wait_ready()
        await client.send(channel, {"mark": "before"})
        await got.wait_for(1)
        old_session = client.session
    # The process is gone (it closed every socket with 1001 on the way out).
    try:
        await states.wait_until(lambda s: s and s[-1] is ClientState.RECONNECTING)
        async with served(port) as second:
            assert second.port == port
            await resets.wait_for(1, within=30)
            await states.wait_until(lambda s: s[-1] is ClientState.CONNECTED, within=30)
            await client.wait_ready()
            assert client.session != old_session
            await client.send(channel, {"mark": "after"})
            assert await got.wait_for(2) == [{"mark": "before"}, {"mark": "after"}]
            assert client.channels == {channel}
    finally:
        await client.close()
    assert states.items[0] is ClientState.CONNECTING
    assert ClientState.RECONNECTING in states.items
    assert states.items[-1] is ClientState.CLOSED
