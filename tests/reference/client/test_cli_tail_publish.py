"""``canaux tail`` and ``canaux publish`` as real processes against ``canaux serve``."""

from __future__ import annotations

import asyncio
import json
import re
import sys

import pytest

from .served import read_line_matching, served

pytestmark = pytest.mark.anyio


async def canaux(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "canaux",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(process: asyncio.subprocess.Process) -> tuple[int, str, str]:
    async with asyncio.timeout(30):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_tail_prints_what_publish_sends() -> None:
    async with served() as server:
        tail = await canaux("tail", "conformance.cli", "--url", server.ws_url, "--count", "1")
        try:
            assert tail.stderr is not None
            # tail says so once its subscription is acked: the publish cannot be missed.
            await read_line_matching(tail.stderr, re.compile(r"canaux: following"), within=30)
            publish = await canaux(
                "publish", "conformance.cli", '{"mark": "cli-1", "body": [1, 2]}',
                "--url", server.ws_url,
            )  # fmt: skip
            code, out, err = await finish(publish)
            assert code == 0, err
            assert json.loads(out) == {"channel": "conformance.cli", "acked": True}
            code, out, _ = await finish(tail)
            assert code == 0
            lines = out.splitlines()
            assert [json.loads(line) for line in lines] == [
                {"channel": "conformance.cli", "data": {"mark": "cli-1", "body": [1, 2]}}
            ]
        finally:
            if tail.returncode is None:
                tail.kill()
                await tail.wait()


async def test_publish_prints_the_error_code_and_fails_on_rejection() -> None:
    async with served() as server:
        publish = await canaux("publish", "conformance.cli", "42", "--url", server.ws_url)
        code, out, err = await finish(publish)
        assert code == 1
        assert out == ""
        assert "invalid_payload" in err
        forbidden = await canaux("publish", "system", '{"level": "info", "text": "x"}',
                                 "--url", server.ws_url)  # fmt: skip
        code, _, err = await finish(forbidden)
        assert code == 1
        assert "forbidden" in err


async def test_publish_refuses_invalid_json_argument() -> None:
    publish = await canaux(
        "publish", "conformance.cli", "{not json", "--url", "ws://127.0.0.1:9/ws"
    )
    code, _, err = await finish(publish)
    assert code == 2
    assert "not valid JSON" in err
