"""``canaux serve --workers N`` (canaux.server.workers): N processes on one port, one cluster.

Which worker holds a connection is read from outside, as an operator would (Linux ``/proc``:
the socket's inode, and which process has it open): the server exposes nothing for it.
Connections are spread by the kernel, so the tests open them until each worker holds one
(bounded: the chance that 64 connections all reach one of two workers is nil).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import signal
import socket
import sys
import textwrap
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from canaux.server.workers import bind_listener, supervise

from .processes import ServeProcess, children, command_line, holder_of, serve_process, wait_gone
from .wire import SUBPROTOCOLS, TIMEOUT, close_code, recv_until, request, send

pytestmark = pytest.mark.anyio

CHANNEL = "conformance.workers"
ATTEMPTS = 64
"""Connections opened at most to reach a given worker."""


async def gone(pid: int, within: float = 30.0) -> bool:
    return await asyncio.to_thread(wait_gone, pid, within)


async def open_on(
    stack: contextlib.AsyncExitStack, url: str, port: int, pids: list[int], wanted: int | None
) -> tuple[ClientConnection, int]:
    """A new WebSocket (no hello yet) held by worker ``wanted`` (any worker when None), and
    that worker's pid; the connections that reached another worker are closed untouched."""
    for _ in range(ATTEMPTS):
        async with asyncio.timeout(TIMEOUT):
            ws = await connect(url, subprotocols=SUBPROTOCOLS)
        holder = holder_of(port, ws.local_address[1], pids)
        assert holder in pids, (holder, pids)
        if wanted is None or holder == wanted:
            stack.push_async_callback(ws.close)
            return ws, holder
        await ws.close()
    raise AssertionError(f"{ATTEMPTS} connections, none reached worker {wanted}")


async def hello(ws: ClientConnection, **members: Any) -> dict[str, Any]:
    await send(ws, {"type": "hello", "version": 1, **members})
    [welcome] = await recv_until(ws, lambda f: f.get("type") == "welcome")
    return welcome


async def subscribed(ws: ClientConnection, name: str) -> dict[str, Any]:
    welcome = await hello(ws)
    reply = await request(ws, {"type": "subscribe", "id": f"sub-{name}", "channel": CHANNEL})
    assert reply["type"] == "ack", reply
    return welcome


async def event_from(ws: ClientConnection, mark: str) -> dict[str, Any]:
    frames = await recv_until(
        ws, lambda f: f.get("type") == "event" and f["data"].get("mark") == mark
    )
    return frames[-1]


@contextlib.asynccontextmanager
async def two_workers(redis_url: str) -> AsyncIterator[tuple[ServeProcess, list[int]]]:
    async with serve_process("--workers", "2", "--broker", redis_url) as server:
        pids = children(server.process.pid)
        assert len(pids) == 2, pids
        yield server, pids


class TestTwoWorkers:
    async def test_one_port_two_workers_one_cluster(self, redis_url: str) -> None:
        """Connections reach both workers; a publish through either reaches the subscribers
        held by both [CLUSTER-2, CLUSTER-3]; a session made on one resumes on the other with
        the events it missed [CLUSTER-1, RESUME-2]; SIGTERM stops both gracefully (status 0);
        the address was printed once, when both listened."""
        async with (
            two_workers(redis_url) as (server, (one, two)),
            contextlib.AsyncExitStack() as stack,
        ):
            url, port, pids = server.url, server.port, [one, two]
            sub_one, _ = await open_on(stack, url, port, pids, one)
            sub_two, _ = await open_on(stack, url, port, pids, two)
            pub_one, _ = await open_on(stack, url, port, pids, one)
            pub_two, _ = await open_on(stack, url, port, pids, two)
            for name, ws in (("one", sub_one), ("two", sub_two)):
                await subscribed(ws, name)
            for name, publisher in (("via-one", pub_one), ("via-two", pub_two)):
                await hello(publisher)
                data = {"mark": name, "body": {}}
                frame = {"type": "publish", "id": name, "channel": CHANNEL, "data": data}
                assert (await request(publisher, frame))["type"] == "ack"
                for subscriber in (sub_one, sub_two):
                    assert (await event_from(subscriber, name))["data"] == data

            # A session of worker one, dropped; two events published meanwhile (through two).
            leaving, _ = await open_on(stack, url, port, pids, one)
            welcome = await subscribed(leaving, "leaving")
            await leaving.close()
            for n in range(2):
                frame = {
                    "type": "publish",
                    "id": f"missed-{n}",
                    "channel": CHANNEL,
                    "data": {"mark": f"missed-{n}", "body": {}},
                }
                assert (await request(pub_two, frame))["type"] == "ack"
            back, _ = await open_on(stack, url, port, pids, two)
            resumed = await hello(back, resume={"session": welcome["session"], "seq": 0})
            assert resumed["resumed"] is True, resumed
            for n in range(2):
                assert (await event_from(back, f"missed-{n}"))["data"]["mark"] == f"missed-{n}"

            # SIGTERM: every worker closes its clients with 1001 [close-codes.md] and exits 0.
            server.process.send_signal(signal.SIGTERM)
            for ws in (sub_one, sub_two, back):
                assert await close_code(ws) == 1001
            async with asyncio.timeout(60):
                assert await server.process.wait() == 0
            for pid in pids:
                assert await gone(pid)
            announced = [line for line in server.lines if "listening on" in line]
            assert len(announced) == 1, server.lines

    async def test_a_dead_worker_is_replaced_and_the_other_serves_on(self, redis_url: str) -> None:
        async with two_workers(redis_url) as (server, pids), contextlib.AsyncExitStack() as stack:
            victim, survivor = pids
            on_victim, _ = await open_on(stack, server.url, server.port, pids, victim)
            on_survivor, _ = await open_on(stack, server.url, server.port, pids, survivor)
            await subscribed(on_victim, "victim")
            await subscribed(on_survivor, "survivor")
            os.kill(victim, signal.SIGKILL)
            line = await server.line_matching(f"worker {victim} exited", within=60)
            assert "SIGKILL" in line, line
            assert "starting another" in line, line
            assert await close_code(on_victim) != 1001  # dropped, not closed by the server
            # The survivor's client never noticed.
            data = {"mark": "still-here", "body": {}}
            frame = {"type": "publish", "id": "still-here", "channel": CHANNEL, "data": data}
            assert (await request(on_survivor, frame))["type"] == "ack"
            # Two workers again, the replacement accepting connections of its own.
            line = await server.line_matching(f"(replaces {victim})", within=60)
            replacement = int(line.split("worker ", 1)[1].split()[0])
            assert children(server.process.pid) == sorted([survivor, replacement])
            ws, _ = await open_on(
                stack, server.url, server.port, [survivor, replacement], replacement
            )
            await subscribed(ws, "replacement")

            # The supervisor killed outright: its workers notice and stop by themselves.
            server.process.kill()
            await server.process.wait()
            for pid in (survivor, replacement):
                assert await gone(pid), f"worker {pid} outlived its supervisor"


class TestRefusals:
    async def test_more_than_one_worker_needs_a_shared_broker(self) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "canaux", "serve", "--port", "0", "--workers", "2",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        async with asyncio.timeout(60):
            output, _ = await process.communicate()
        assert process.returncode == 2
        assert b"--workers 2 needs a broker the workers share" in output
        assert b"--broker redis://" in output


WORKER = textwrap.dedent(
    """
    import signal, socket, sys
    from canaux.server.workers import WorkerLink
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    fds = sys.argv[-1]  # after --worker-fds
    listen_fd, control_fd = (int(fd) for fd in fds.split(","))
    link = WorkerLink(control_fd)
    payload = link.receive()
    if payload == b"fail":
        sys.exit(3)
    link.listening()
    socket.socket(fileno=listen_fd).accept()  # serves one connection, then "dies"
    sys.exit(0)
    """
)


class TestSupervisor:
    """:func:`supervise` with stand-in workers (fresh interpreters, as the real ones)."""

    def test_a_worker_that_dies_before_listening_stops_everything(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        announced: list[int] = []
        with bind_listener("127.0.0.1", 0) as listener:
            status = supervise(
                [sys.executable, "-c", WORKER], b"fail", 2, listener, announce=announced.append
            )
        assert status == 1
        assert announced == []
        assert "before it was listening; stopping" in capsys.readouterr().out

    def test_announces_once_every_worker_listens_and_replaces_a_dead_one(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        announced: list[int] = []
        with bind_listener("127.0.0.1", 0) as listener:
            port = listener.getsockname()[1]

            def clients() -> None:
                # Each stand-in serves one connection and exits: 3 connections, 3 exits
                # (the third served by a replacement), then a stop.
                for _ in range(3):
                    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as c:
                        assert c.recv(1) == b""
                os.kill(os.getpid(), signal.SIGTERM)

            def announce(port: int) -> None:
                announced.append(port)
                threading.Thread(target=clients, daemon=True).start()

            status = supervise(
                [sys.executable, "-c", WORKER], b"ok", 2, listener, announce=announce
            )
        assert announced == [port]
        out = capsys.readouterr().out
        assert out.count("starting another") >= 2, out
        assert status == 0


GUIDE = Path(__file__).resolve().parents[3] / "docs" / "content" / "guides" / "fastapi.md"


def guide_app(redis_url: str) -> str:
    """The FastAPI guide's mounted example, its Canaux app made as its section "More than one
    process" says (``ServerConfig(broker=…)``), with the test's Redis and the conformance.*
    channels."""
    text = GUIDE.read_text(encoding="utf-8")
    example = re.search(r"## Mounted in FastAPI\s*```python\n(.*?)```", text, re.DOTALL)
    section = re.search(r"### More than one process(.*?)(?:\n## |\Z)", text, re.DOTALL)
    assert example is not None, "the guide lost its mounted example"
    assert section is not None, "the guide lost its section on several processes"
    [line] = re.findall(r"^canaux = create_app\(ServerConfig\(broker=.*$", section.group(1), re.M)
    code = example.group(1)
    assert "canaux = create_app(ServerConfig())\n" in code
    line = line.split("  #", 1)[0].replace("redis://127.0.0.1:6379/0", redis_url)
    # With the conformance.* channels, which clients may publish on.
    line = line.replace("ServerConfig(", "ServerConfig(conformance=True, ")
    return code.replace("canaux = create_app(ServerConfig())", line)


def guide_uvicorn_command() -> list[str]:
    text = GUIDE.read_text(encoding="utf-8")
    [line] = re.findall(r"^uvicorn myapp:\S+ .*--workers \d+.*$", text, re.M)
    return shlex.split(line, comments=True)


class TestUvicornWorkers:
    async def test_the_guides_uvicorn_workers_serve_one_cluster(
        self, redis_url: str, tmp_path: Path
    ) -> None:
        """The FastAPI guide's ``uvicorn myapp:api --workers N`` with the mounted app on one
        Redis (two workers, port 0): both take connections, a publish through one reaches a
        subscriber of the other, a session resumes across them."""
        (tmp_path / "myapp.py").write_text(guide_app(redis_url), encoding="utf-8")
        words = guide_uvicorn_command()
        words[words.index("--port") + 1] = "0"
        words[words.index("--workers") + 1] = "2"
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", *words, "--host", "127.0.0.1",
            cwd=tmp_path,
            stdin=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stderr is not None
        try:
            port, started = 0, 0
            async with asyncio.timeout(120):
                while started < 2:
                    line = (await process.stderr.readline()).decode()
                    assert line, "uvicorn exited"
                    if found := re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", line):
                        port = int(found.group(1))
                    started += "Application startup complete" in line
            workers = [pid for pid in children(process.pid) if "spawn_main" in command_line(pid)]
            assert len(workers) == 2, workers
            one, two = workers
            url = f"ws://127.0.0.1:{port}/canaux/ws"
            async with contextlib.AsyncExitStack() as stack:
                subscriber, _ = await open_on(stack, url, port, workers, one)
                publisher, _ = await open_on(stack, url, port, workers, two)
                await subscribed(subscriber, "subscriber")
                leaving, _ = await open_on(stack, url, port, workers, two)
                welcome = await subscribed(leaving, "leaving")
                await leaving.close()
                await hello(publisher)
                data = {"mark": "through-two", "body": {}}
                frame = {"type": "publish", "id": "p", "channel": CHANNEL, "data": data}
                assert (await request(publisher, frame))["type"] == "ack"
                assert (await event_from(subscriber, "through-two"))["data"] == data
                back, _ = await open_on(stack, url, port, workers, one)
                resumed = await hello(back, resume={"session": welcome["session"], "seq": 0})
                assert resumed["resumed"] is True, resumed
                assert (await event_from(back, "through-two"))["data"] == data
        finally:
            if process.returncode is None:
                process.terminate()
            async with asyncio.timeout(60):
                await process.wait()
