"""Server processes seen from outside (Linux ``/proc``): which process holds a connection,
a process's children, waiting for a process to end; and ``canaux serve`` run as a command."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from canaux_conformance.target import LISTENING_RE

__all__ = ["ServeProcess", "children", "command_line", "holder_of", "serve_process", "wait_gone"]

STARTUP_TIMEOUT = 60.0
"""Bound of a start: a worker is a fresh interpreter, and the machine is shared."""


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return sorted(found)


def command_line(pid: int) -> str:
    """The command line of process ``pid``, its arguments separated by spaces."""
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def _socket_inode(local_port: int, remote_port: int) -> str | None:
    """The inode of the IPv4 loopback socket ``127.0.0.1:local_port`` connected to
    ``127.0.0.1:remote_port`` (/proc/net/tcp: addresses in hex, ports big-endian)."""
    wanted = (f"0100007F:{local_port:04X}", f"0100007F:{remote_port:04X}")
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (fields[1], fields[2]) == wanted:
            return fields[9]
    return None


def holder_of(server_port: int, client_port: int, pids: list[int]) -> int | None:
    """Which of ``pids`` holds the server end of the connection from ``client_port``."""
    inode = _socket_inode(server_port, client_port)
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) == target:
                    return pid
    return None


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until process ``pid`` (any, not only a child) has ended; False past ``timeout``."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)


@dataclass
class ServeProcess:
    """A running ``canaux serve``: its URL, port, process and every line of its stdout."""

    url: str
    port: int
    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    _new_line: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def line_matching(self, text: str, *, within: float) -> str:
        """The first stdout line containing ``text`` (waits for it, ``within`` seconds)."""
        async with asyncio.timeout(within), self._new_line:
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                await self._new_line.wait()

    async def _pump(self) -> None:
        assert self.process.stdout is not None
        while raw := await self.process.stdout.readline():
            async with self._new_line:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._new_line.notify_all()


@contextlib.asynccontextmanager
async def serve_process(*flags: str, cwd: Path | None = None) -> AsyncIterator[ServeProcess]:
    """``canaux serve --conformance --port 0 FLAGS``, stopped (killed if need be) at the end."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "canaux", "serve", "--conformance", "--port", "0",
        "--log-level", "warning", *flags,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        cwd=cwd,
    )  # fmt: skip
    assert process.stdout is not None
    pump: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT):
            first: list[str] = []
            while not (
                found := LISTENING_RE.search(line := (await process.stdout.readline()).decode())
            ):
                assert line, f"canaux serve exited before listening: {first}"
                first.append(line)
        url = found.group("url")
        running = ServeProcess(url, int(url.rsplit(":", 1)[1].split("/")[0]), process)
        running.lines.extend([*first, line.rstrip("\n")])
        pump = asyncio.create_task(running._pump())
        yield running
    finally:
        pids = children(process.pid)
        if process.returncode is None:
            process.kill()
        await process.wait()
        for pid in pids:  # workers of a supervisor killed here: they stop by themselves
            if not wait_gone(pid, 30):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
        if pump is not None:
            await pump
