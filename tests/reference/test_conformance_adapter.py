"""The reference client's conformance adapter, driven over its pipes against the real server.

The suite's own cases judge the client through this program; these tests check the program
itself: the lines of the adapter protocol (spec appendix, v1) for both flavours.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from canaux.server import ServerConfig, Unauthorized
from canaux.server.testing import RunningServer, running_server

pytestmark = pytest.mark.anyio

WAIT = 10.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    async with running_server(ServerConfig(conformance=True)) as running:
        yield running


class Adapter:
    """The adapter as a child process: commands in, messages out."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.n = 0
        self.seen: list[dict[str, Any]] = []

    async def send(self, cmd: str, **members: Any) -> int:
        assert self.process.stdin is not None
        self.n += 1
        line = json.dumps({"cmd": cmd, "n": self.n, **members}) + "\n"
        self.process.stdin.write(line.encode())
        await self.process.stdin.drain()
        return self.n

    async def next(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        async with asyncio.timeout(WAIT):
            line = await self.process.stdout.readline()
        assert line, f"adapter exited; seen {self.seen}"
        message = json.loads(line)
        assert isinstance(message, dict)
        self.seen.append(message)
        return message

    def fresh(self) -> None:
        """Forget what was seen: later waits look at new messages only."""
        self.seen.clear()

    async def until(self, **members: Any) -> dict[str, Any]:
        """The first message, seen already or next, with these members."""
        for message in self.seen:
            if all(message.get(k) == v for k, v in members.items()):
                return message
        while True:
            message = await self.next()
            if all(message.get(k) == v for k, v in members.items()):
                return message

    async def command(self, cmd: str, **members: Any) -> dict[str, Any]:
        self.fresh()
        n = await self.send(cmd, **members)
        return await self.until(msg="done", n=n)


async def start(*args: str) -> Adapter:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "canaux.conformance_adapter",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    return Adapter(process)


async def stop(adapter: Adapter) -> int:
    assert adapter.process.stdin is not None
    adapter.process.stdin.close()
    async with asyncio.timeout(WAIT):
        return await adapter.process.wait()


@pytest.mark.parametrize("flavour", ["reference", "compat"])
async def test_an_adapter_delivers_events_and_answers_publishes(
    server: RunningServer, flavour: str
) -> None:
    adapter = await start("--client", flavour)
    ready = await adapter.next()
    assert ready["msg"] == "ready"
    assert ready["protocol"] == 1
    assert ready["backoff"] == {"base_ms": 500, "cap_ms": 20000, "configurable": True}
    assert await adapter.command("subscribe", channel="conformance.a") == {"msg": "done", "n": 1}
    await adapter.command("connect", url=server.ws_url, token=None,
                          backoff={"base_ms": 20, "cap_ms": 200})  # fmt: skip
    await adapter.until(msg="state", state="connected")
    n = await adapter.send("publish", channel="conformance.a", data={"mark": "m1", "x": [1.5]})
    await adapter.until(msg="ack", n=n)
    event = await adapter.until(msg="event")
    assert event == {"msg": "event", "channel": "conformance.a", "data": {"mark": "m1", "x": [1.5]}}
    refused = await adapter.send("publish", channel="system", data={"level": "info", "text": "x"})
    answer = await adapter.until(n=refused, msg="refused")
    assert answer["code"] == "forbidden"
    assert await adapter.command("close") == {"msg": "done", "n": refused + 1}
    assert {"msg": "state", "state": "closed"} in adapter.seen, "closed before close returned"
    assert await stop(adapter) == 0


async def test_a_publish_too_large_is_refused_at_once(server: RunningServer) -> None:
    adapter = await start()
    await adapter.next()
    await adapter.command("connect", url=server.ws_url, token=None)
    await adapter.until(msg="state", state="connected")
    done = await adapter.command("publish", channel="conformance.a", data={"b": "x" * 2**21})
    assert done["error"]["kind"] == "too_large"
    assert (await adapter.command("publish", channel="conformance.a", data=1, id="x"))[
        "unsupported"
    ] == "publish.id"
    assert (await adapter.command("dance"))["unsupported"] == "dance"
    assert await stop(adapter) == 0


async def _only_good(token: str | None) -> str:
    if token != "good":
        raise Unauthorized("bad token")
    return "user"


async def test_a_close_code_marked_no_is_reported_with_the_state() -> None:
    async with running_server(ServerConfig(conformance=True, authenticate=_only_good)) as server:
        adapter = await start()
        await adapter.next()
        await adapter.command("connect", url=server.ws_url, token="bad")
        closed = await adapter.until(msg="state", state="closed")
        assert closed["code"] == 4401  # [CLIENT-4] reported, not retried
        assert await stop(adapter) == 0


async def test_a_token_list_is_a_provider() -> None:
    async with running_server(ServerConfig(conformance=True, authenticate=_only_good)) as server:
        adapter = await start("--client", "compat")
        await adapter.next()
        await adapter.command("connect", url=server.ws_url, tokens=["good"], token="bad")
        await adapter.until(msg="state", state="connected")
        assert await stop(adapter) == 0


async def test_an_sse_stream_reports_its_events(server: RunningServer) -> None:
    adapter = await start()
    await adapter.next()
    await adapter.command("sse", url=server.events_url, channels=["conformance.s"], token=None)
    await adapter.command("connect", url=server.ws_url, token=None)
    await adapter.until(msg="state", state="connected")
    # The stream is open once its welcome came; publish until its event shows (bounded).
    for attempt in range(20):
        n = await adapter.send("publish", channel="conformance.s", data={"mark": f"s{attempt}"})
        await adapter.until(msg="ack", n=n)
        try:
            async with asyncio.timeout(0.5):
                event = await adapter.until(msg="event", channel="conformance.s")
        except TimeoutError:
            continue
        assert event["data"]["mark"].startswith("s")
        break
    else:
        raise AssertionError(f"no SSE event reached the adapter: {adapter.seen}")
    assert await adapter.command("close") == {"msg": "done", "n": adapter.n}
    assert await stop(adapter) == 0
