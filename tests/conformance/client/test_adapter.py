"""Tests of the adapter driver (conformance/canaux_conformance/client/adapter.py).

Fake adapters are small Python programs written here; each breaks spec/client-adapter.md in one
way, and the driver must turn that into an AdapterError (a set-up error), never a client failure.
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from canaux_conformance.client.adapter import Adapter, AdapterError
from canaux_conformance.outcomes import CaseSkipped
from canaux_conformance.transcript import Transcript

T = TypeVar("T")

READY = (
    '{"msg": "ready", "protocol": 1, "client": {"name": "fake", "version": "0"},'
    ' "backoff": {"base_ms": 10, "cap_ms": 100, "configurable": false}, "unsupported": ["x"]}'
)


def _program(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "fake_adapter.py"
    path.write_text(
        "import json, sys\n"
        "def out(line):\n"
        "    sys.stdout.write(line + '\\n'); sys.stdout.flush()\n" + textwrap.dedent(body)
    )
    return [sys.executable, str(path)]


def _run(scenario: Callable[[Adapter], Awaitable[T]], argv: list[str]) -> T:
    async def main() -> T:
        adapter = Adapter(argv, Transcript(), timeout=2.0)
        try:
            async with asyncio.timeout(30):
                return await scenario(adapter)
        finally:
            await adapter.aclose()

    return asyncio.run(main())


ECHO = f"""
out({READY!r})
sys.stderr.write("adapter log line\\n"); sys.stderr.flush()
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd["cmd"] == "publish":
        out(json.dumps({{"msg": "done", "n": cmd["n"]}}))
        out(json.dumps({{"msg": "ack", "n": cmd["n"], "id": "p1"}}))
    elif cmd["cmd"] == "nope":
        out(json.dumps({{"msg": "done", "n": cmd["n"], "unsupported": "nope"}}))
    else:
        out(json.dumps({{"msg": "done", "n": cmd["n"]}}))
"""


class TestAWellBehavedAdapter:
    def test_ready_is_read_and_commands_are_numbered_and_answered(self, tmp_path: Path) -> None:
        async def scenario(adapter: Adapter) -> tuple[int, str, str]:
            info = await adapter.start()
            done = await adapter.command("publish", channel="conformance.a", data={"x": 1})
            ack = await adapter.wait_for(lambda m: m.kind == "ack", timeout=2, what="ack")
            assert adapter.outcome(int(done.get("n"))) is ack
            return info.base_ms, info.client_name, str(ack.get("id"))

        assert _run(scenario, _program(tmp_path, ECHO)) == (10, "fake", "p1")

    def test_an_unsupported_command_skips_the_case(self, tmp_path: Path) -> None:
        async def scenario(adapter: Adapter) -> None:
            await adapter.start()
            assert not adapter.supports("x")
            await adapter.command("nope")

        with pytest.raises(CaseSkipped, match="nope"):
            _run(scenario, _program(tmp_path, ECHO))

    def test_stderr_is_kept_for_the_report(self, tmp_path: Path) -> None:
        async def scenario(adapter: Adapter) -> str:
            await adapter.start()
            await adapter.command("close")
            await adapter.aclose()
            return adapter.stderr

        assert "adapter log line" in _run(scenario, _program(tmp_path, ECHO))


class TestABrokenAdapterIsAnAdapterError:
    @pytest.mark.parametrize(
        ("body", "match"),
        [
            ("out('not json')\nsys.stdin.read()", "not JSON"),
            ("out('[1, 2]')\nsys.stdin.read()", "not a JSON object"),
            ('out(\'{"msg": "hello"}\')\nsys.stdin.read()', "unknown message"),
            ("sys.exit(0)", "closed its standard output"),
            (
                'out(\'{"msg": "ready", "protocol": 2, "client": {}, "backoff": {}}\')\n'
                "sys.stdin.read()",
                "protocol 2",
            ),
            (
                'out(\'{"msg": "ready", "protocol": 1, "client": {}, '
                '"backoff": {"base_ms": 0, "cap_ms": 1}}\')\nsys.stdin.read()',
                "base_ms",
            ),
        ],
    )
    def test_at_start(self, tmp_path: Path, body: str, match: str) -> None:
        with pytest.raises(AdapterError, match=match):
            _run(lambda adapter: adapter.start(), _program(tmp_path, body))

    def test_a_missing_command_is_an_adapter_error(self) -> None:
        with pytest.raises(AdapterError, match="cannot start"):
            _run(lambda adapter: adapter.start(), ["/nonexistent/adapter-program"])

    def test_a_done_that_never_comes(self, tmp_path: Path) -> None:
        body = f"out({READY!r})\nsys.stdin.read()"

        async def scenario(adapter: Adapter) -> None:
            await adapter.start()
            await adapter.command("subscribe", channel="conformance.a")

        with pytest.raises(AdapterError, match="no done for command 1"):
            _run(scenario, _program(tmp_path, body))

    def test_a_second_outcome_for_one_publish(self, tmp_path: Path) -> None:
        body = f"""
out({READY!r})
for line in sys.stdin:
    n = json.loads(line)["n"]
    out(json.dumps({{"msg": "done", "n": n}}))
    out(json.dumps({{"msg": "ack", "n": n}}))
    out(json.dumps({{"msg": "failed", "n": n, "kind": "closed"}}))
"""

        async def scenario(adapter: Adapter) -> None:
            await adapter.start()
            await adapter.command("publish", channel="conformance.a", data=1)
            await adapter.wait_for(lambda m: m.kind == "failed", timeout=2, what="failed")
            adapter.check()

        with pytest.raises(AdapterError, match="second outcome"):
            _run(scenario, _program(tmp_path, body))

    def test_a_fatal_message(self, tmp_path: Path) -> None:
        body = 'out(\'{"msg": "fatal", "message": "no client library"}\')\nsys.stdin.read()'
        with pytest.raises(AdapterError, match="no client library"):
            _run(lambda adapter: adapter.start(), _program(tmp_path, body))

    def test_an_adapter_that_ignores_end_of_input_is_killed(self, tmp_path: Path) -> None:
        body = f"import time\nout({READY!r})\nsys.stdin.read()\ntime.sleep(60)"

        async def scenario(adapter: Adapter) -> int | None:
            adapter.stop_grace = 0.5
            await adapter.start()
            await adapter.aclose()
            assert adapter._process is not None
            return adapter._process.returncode

        assert _run(scenario, _program(tmp_path, body)) != 0


class TestWaitingForAMessage:
    """``wait_for`` is ``observe`` that turns "nothing came" into an AdapterError saying why."""

    def test_nothing_within_the_timeout(self, tmp_path: Path) -> None:
        body = f"out({READY!r})\nsys.stdin.read()"

        async def scenario(adapter: Adapter) -> None:
            await adapter.start()
            assert await adapter.observe(lambda m: m.kind == "ack", timeout=0.2) is None
            await adapter.wait_for(lambda m: m.kind == "ack", timeout=0.2, what="ack")

        with pytest.raises(AdapterError, match=r"wrote no ack within 0\.2s"):
            _run(scenario, _program(tmp_path, body))
