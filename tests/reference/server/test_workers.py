"""``canaux serve --workers N`` (canaux.server.workers): N processes on one port, one cluster."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from canaux_conformance.target import LISTENING_RE

from .wire import TIMEOUT, recv_until, request, send

pytestmark = pytest.mark.anyio

CHANNEL = "conformance.workers"


@contextlib.asynccontextmanager
async def serving(*flags: str) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "canaux", "serve", "--conformance", "--port", "0",
        "--log-level", "warning", *flags,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        async with asyncio.timeout(30):
            while not (found := LISTENING_RE.search((await process.stdout.readline()).decode())):
                assert process.returncode is None
        yield found.group("url"), process
    finally:
        # The whole group: workers left behind would hold the output pipe open.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        async with asyncio.timeout(30):
            await process.wait()
            print((await process.stdout.read()).decode(errors="replace")[-4000:])


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


@contextlib.asynccontextmanager
async def hello(url: str, **members: Any) -> AsyncIterator[tuple[ClientConnection, dict[str, Any]]]:
    from websockets.asyncio.client import connect

    async with asyncio.timeout(TIMEOUT):
        ws = await connect(url, subprotocols=["canaux.v1"])  # type: ignore[list-item]
    try:
        await send(ws, {"type": "hello", "version": 1, **members})
        [welcome] = await recv_until(ws, lambda f: f.get("type") == "welcome")
        yield ws, welcome
    finally:
        await ws.close()


class TestWorkers:
    async def test_two_workers_on_one_port_serve_one_cluster(self, redis_url: str) -> None:
        """Both workers run; a publish reaches every subscriber whichever worker holds it
        [CLUSTER-2]; a session resumes on whichever worker the next connection reaches
        [CLUSTER-1]; SIGTERM stops them all gracefully (status 0)."""
        async with serving("--workers", "2", "--broker", redis_url) as (url, parent):
            assert len(children(parent.pid)) == 2
            async with contextlib.AsyncExitStack() as stack:
                clients = [await stack.enter_async_context(hello(url)) for _ in range(6)]
                for n, (ws, _) in enumerate(clients):
                    reply = await request(
                        ws, {"type": "subscribe", "id": f"s{n}", "channel": CHANNEL}
                    )
                    assert reply["type"] == "ack", reply
                publisher = clients[0][0]
                data = {"mark": "m1", "body": {}}
                frame = {"type": "publish", "id": "p1", "channel": CHANNEL, "data": data}
                await send(publisher, frame)
                for ws, _ in clients:
                    frames = await recv_until(ws, lambda f: f.get("type") == "event")
                    assert frames[-1]["data"] == data
            session_id, seq = clients[1][1]["session"], 1
            for _ in range(4):
                resume = {"session": session_id, "seq": seq}
                async with hello(url, resume=resume) as (_, welcome):
                    assert welcome["resumed"] is True, welcome
                    assert welcome["seq"] == seq
            parent.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                assert await parent.wait() == 0
            assert children(parent.pid) == []

    async def test_more_than_one_worker_needs_a_shared_broker(self) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "canaux", "serve", "--port", "0", "--workers", "2",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**os.environ},
        )  # fmt: skip
        async with asyncio.timeout(30):
            output, _ = await process.communicate()
        assert process.returncode == 2
        assert b"--broker redis://" in output
