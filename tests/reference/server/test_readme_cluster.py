"""The README's "two nodes on one Redis", run as written (ports: free ones, and port 0).

The commands are read from the README itself, so the test fails the day they stop working:
Redis on a free port (Redis cannot listen on port 0), both nodes on ``--port 0`` (their
listening lines give the ports), ``canaux tail`` on node 2 and ``canaux publish`` on node 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shlex
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from canaux_conformance.target import LISTENING_RE

from .redis_server import RedisServer

pytestmark = pytest.mark.anyio

README = Path(__file__).resolve().parents[3] / "README.md"
CANAUX = str(Path(sys.executable).with_name("canaux"))
WAIT = 60.0
"""Bound of each wait (a start is a fresh interpreter on a shared machine)."""


def readme_commands() -> list[list[str]]:
    """The shell lines of the README's block after "Try two nodes on one Redis"."""
    text = README.read_text(encoding="utf-8")
    block = re.search(r"Try two nodes on one Redis:\s*```sh\n(.*?)```", text, re.DOTALL)
    assert block is not None, "the README lost its two-node example"
    commands = []
    for line in block.group(1).splitlines():
        words = shlex.split(line, comments=True)
        if words and words[-1] == "&":
            words.pop()
        if words:
            commands.append(words)
    return commands


def with_port(words: list[str], port: int) -> list[str]:
    at = words.index("--port") + 1
    return [*words[:at], str(port), *words[at + 1 :]]


def with_url(words: list[str], flag: str, url: str) -> list[str]:
    at = words.index(flag) + 1
    return [*words[:at], url, *words[at + 1 :]]


class ReadmeRedis(RedisServer):
    """The README's ``redis-server`` command, on a free port."""

    def __init__(self, words: list[str]) -> None:
        super().__init__()
        self.words = words

    def _command(self, port: int) -> list[str]:
        return with_port(self.words, port)


@contextlib.asynccontextmanager
async def nodes(*commands: list[str]) -> AsyncIterator[list[str]]:
    """The README's ``canaux serve`` commands on port 0, started together; their URLs."""
    processes = []
    try:
        for words in commands:
            assert words[0] == ".venv/bin/canaux", words
            processes.append(
                await asyncio.create_subprocess_exec(
                    CANAUX,
                    *with_port(words, 0)[1:],
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                )
            )
        async with asyncio.timeout(WAIT):
            urls = await asyncio.gather(*(listening(p) for p in processes))
        yield list(urls)
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
        async with asyncio.timeout(WAIT):
            for process in processes:
                await process.wait()


async def listening(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    while not (found := LISTENING_RE.search((await process.stdout.readline()).decode())):
        assert process.returncode is None
    return found.group("url")


async def test_the_readme_cluster_runs_as_written() -> None:
    redis_line, serve_1, serve_2, tail, publish = readme_commands()
    assert redis_line[0] == "redis-server", redis_line
    with ReadmeRedis(redis_line) as redis:
        url = redis.url
        async with nodes(
            with_url(serve_1, "--broker", url), with_url(serve_2, "--broker", url)
        ) as (url_1, url_2):
            assert tail[:2] == [".venv/bin/canaux", "tail"], tail
            follower = await asyncio.create_subprocess_exec(
                CANAUX,
                *with_url(tail, "--url", url_2)[1:],
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            assert follower.stderr is not None
            try:
                async with asyncio.timeout(WAIT):
                    # "following" is printed once its subscription was answered (OPS-6).
                    while b"canaux: following" not in await follower.stderr.readline():
                        assert follower.returncode is None
                assert publish[:2] == [".venv/bin/canaux", "publish"], publish
                publisher = await asyncio.create_subprocess_exec(
                    CANAUX, *with_url(publish, "--url", url_1)[1:]
                )
                assert follower.stdout is not None
                async with asyncio.timeout(WAIT):
                    assert await publisher.wait() == 0
                    line = await follower.stdout.readline()
            finally:
                if follower.returncode is None:
                    follower.terminate()
                async with asyncio.timeout(WAIT):
                    await follower.wait()
    channel, data = publish[2], json.loads(publish[3])
    assert json.loads(line) == {"channel": channel, "data": data}, line
