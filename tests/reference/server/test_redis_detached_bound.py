"""[LIMIT-12] on a Redis-backed node: a resume sees every detach the node already took.

A session's detach is stored in Redis by a background task (the client's close handshake ends
before it ran); the script storing it is what discards the identity's oldest detached session
beyond ``max_detached_sessions``. A resume that arrives meanwhile must not still find the
session that store discards (the conformance case MEM-01 found it resumed about one run in ten).
The last save is held back here, so the resume certainly arrives while it is under way.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from canaux.server.redis_sessions import RedisSessionStore
from canaux.server.testing import running_server

from .wire import make_config, open_ws, recv, send, session

pytestmark = pytest.mark.anyio

KEPT = 2


async def test_a_resume_during_the_save_that_discards_its_session_is_refused(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = asyncio.Event()
    saves = 0
    real_save = RedisSessionStore.save

    async def held_save(self: RedisSessionStore, *args: Any, **kwargs: Any) -> None:
        nonlocal saves
        saves += 1
        if saves != KEPT + 1:
            await real_save(self, *args, **kwargs)
            return
        # The detach that pushes the first session out: its script waits for the gate.
        script = self._save

        async def held_script(**kw: Any) -> Any:
            await gate.wait()
            return await script(**kw)

        self._save = held_script  # type: ignore[assignment]
        try:
            await real_save(self, *args, **kwargs)
        finally:
            self._save = script

    monkeypatch.setattr(RedisSessionStore, "save", held_save)
    config = dataclasses.replace(make_config(max_detached_sessions=KEPT), broker=redis_url)
    async with running_server(config) as node:
        ids = []
        for _ in range(KEPT + 1):
            async with session(node, token="one") as (_, welcome):
                ids.append(welcome["session"])
        async with open_ws(node) as ws:
            await send(ws, {"type": "hello", "version": 1, "token": "one",
                            "resume": {"session": ids[0], "seq": 0}})  # fmt: skip
            try:
                welcome = await recv(ws, timeout_s=1.0)  # the fix waits for the held save
            except TimeoutError:
                gate.set()
                welcome = await recv(ws)
            gate.set()
            assert welcome["type"] == "welcome", welcome
            assert welcome["resumed"] is False, welcome
            assert welcome["session"] != ids[0]
