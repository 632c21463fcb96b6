"""Run ``canaux serve`` as a real process, for tests that stop and restart the backend."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

__all__ = ["ServedProcess", "read_line_matching", "served"]

_LISTENING = re.compile(r"listening on ws://[^:]+:(\d+)/ws")


@dataclass
class ServedProcess:
    process: asyncio.subprocess.Process
    port: int

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


async def read_line_matching(
    stream: asyncio.StreamReader, pattern: re.Pattern[str], within: float = 20.0
) -> re.Match[str]:
    """Read lines until one matches ``pattern`` (bounded); fail if the stream ends first."""
    seen: list[str] = []
    async with asyncio.timeout(within):
        while True:
            raw = await stream.readline()
            if not raw:
                raise AssertionError(f"stream ended before {pattern.pattern!r}: {seen}")
            line = raw.decode("utf-8", "replace").rstrip("\n")
            seen.append(line)
            match = pattern.search(line)
            if match:
                return match


async def stop(process: asyncio.subprocess.Process) -> int:
    """SIGTERM (a graceful shutdown: clients get 1001), then SIGKILL if it lingers."""
    if process.returncode is None:
        process.terminate()
        try:
            async with asyncio.timeout(15):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode


@asynccontextmanager
async def served(port: int = 0, *extra: str) -> AsyncIterator[ServedProcess]:
    """``python -m canaux serve --conformance`` on ``port``; yields once it is listening."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "canaux",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--conformance",
        "--log-level",
        "warning",
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert process.stdout is not None
        match = await read_line_matching(process.stdout, _LISTENING)
        # Keep draining the output so the server never blocks on a full pipe.
        drain = asyncio.ensure_future(_drain(process.stdout))
        try:
            yield ServedProcess(process, int(match.group(1)))
        finally:
            await stop(process)
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
    finally:
        await stop(process)


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass
