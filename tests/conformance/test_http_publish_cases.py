"""The HTTP publish cases (HTTP-PUB-*) against the reference server and broken front ends.

The reference server (``python -m canaux serve --conformance --publish-token T``) must pass
every case [HTTP-1..HTTP-5]. Each broken variant is a small HTTP front end that relays
``POST /publish`` and ``GET /health`` to the reference server with one fault (any token
accepted, an unknown channel answered 200, …); WebSocket clients still talk to the reference
server directly. Exactly the cases that watch for that fault must fail, citing the right
requirement, and every other case must still pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import selectors
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from canaux_conformance.cases import REGISTRY, Case, CaseContext
from canaux_conformance.outcomes import Verdict
from canaux_conformance.results import CaseResult
from canaux_conformance.runner import RunConfig, probe, run, run_case
from canaux_conformance.suites import http_publish
from canaux_conformance.target import LISTENING_RE, ServerInfo, Target

TOKEN = "T-conformance-test"
STARTUP_SECONDS = 60.0


def _http_cases() -> list[Case]:
    assert http_publish.__name__  # importing the module registered its cases
    return [c for c in REGISTRY.values() if c.id.startswith("HTTP-PUB-")]


def _bounded(coro: Awaitable[Any], seconds: float = 120) -> Any:
    async def main() -> Any:
        async with asyncio.timeout(seconds):
            return await coro

    return asyncio.run(main())


# ----------------------------------------------------------------- the reference server


@pytest.fixture(scope="module")
def reference_url() -> Iterator[str]:
    """``canaux serve`` on a free port with a publish token; its WebSocket URL."""
    command = [sys.executable, "-m", "canaux", "serve", "--host", "127.0.0.1", "--port", "0",
               "--conformance", "--publish-token", TOKEN, "--log-level", "warning"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("CANAUX_PUBLISH_TOKEN", None)
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert process.stdout is not None
    stdout = process.stdout
    seen: list[str] = []
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            url = None
            while url is None:
                if not selector.select(timeout=STARTUP_SECONDS):
                    pytest.fail("no listening line from canaux serve:\n" + "".join(seen))
                line = stdout.readline()
                if not line:
                    pytest.fail("canaux serve exited before listening:\n" + "".join(seen))
                seen.append(line)
                found = LISTENING_RE.search(line)
                url = found.group("url") if found else None
        # Keep reading so a chatty server never blocks on a full pipe.
        threading.Thread(target=lambda: stdout.read(), daemon=True).start()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


async def _run_all(target: Target, server: ServerInfo | None) -> dict[str, CaseResult]:
    results: dict[str, CaseResult] = {}
    for case in _http_cases():
        ctx = CaseContext(target=target, case_id=case.id, server=server, timeout=10.0)
        results[case.id] = await run_case(case, ctx, case_timeout=60.0)
    return results


def _summary(results: dict[str, CaseResult]) -> str:
    return "\n".join(f"{r.id} {r.verdict} [{r.requirement}] {r.message}" for r in results.values())


class TestReferenceServer:
    def test_every_case_passes(self, reference_url: str) -> None:
        """HTTP-1..HTTP-5 hold on the reference server: no case fails, skips or errs."""

        async def main() -> dict[str, CaseResult]:
            target = Target.from_url(reference_url, publish_token=TOKEN, derive=True)
            server, notes = await probe(target, 10.0)
            assert server is not None, notes
            return await _run_all(target, server)

        results = _bounded(main())
        assert len(results) == 10
        assert {r.verdict for r in results.values()} == {Verdict.PASS}, _summary(results)

    def test_runner_gives_its_own_reference_server_a_publish_url_and_token(self) -> None:
        """Without a URL the runner starts the reference server itself, derives /publish and
        hands it the token it started the server with: the cases run rather than skip."""
        result = _bounded(run(RunConfig(only=["HTTP-PUB-*"], budget="quick", timeout=10.0)))
        verdicts = {r.id: r.verdict for r in result.results}
        assert len(verdicts) == 10
        assert set(verdicts.values()) == {Verdict.PASS}, verdicts

    def test_every_case_skips_without_a_publish_url(self) -> None:
        """No --publish-url: each case says why it did not run, before touching the network."""
        target = Target.from_url("ws://127.0.0.1:9/ws")
        results = _bounded(_run_all(target, None))
        assert {r.verdict for r in results.values()} == {Verdict.SKIPPED}
        assert all("--publish-url" in r.message for r in results.values()), _summary(results)


# ----------------------------------------------------------------- broken front ends

Forward = Callable[[str, str | None, bytes], Awaitable[httpx.Response]]
"""(method, Authorization header, body) → the reference server's answer."""


@dataclass(frozen=True)
class Broken:
    """A front end with one fault and the cases that must catch it (case ID → requirement)."""

    name: str
    fault: Callable[[str, str | None, bytes, Forward], Awaitable[tuple[int, Any]]]
    catches: dict[str, str]


def _relayed(response: httpx.Response) -> tuple[int, Any]:
    return response.status_code, response.json()


async def _any_token(method: str, auth: str | None, body: bytes, forward: Forward) -> Any:
    return _relayed(await forward(method, f"Bearer {TOKEN}", body))


async def _publishes_then_401(method: str, auth: str | None, body: bytes, forward: Forward) -> Any:
    response = await forward(method, f"Bearer {TOKEN}", body)
    if method == "POST" and auth != f"Bearer {TOKEN}":
        return 401, {"code": "unauthorized", "message": "answered 401 after publishing"}
    return _relayed(response)


async def _unknown_channel_ok(method: str, auth: str | None, body: bytes, forward: Forward) -> Any:
    status, answer = _relayed(await forward(method, auth, body))
    if answer.get("code") == "unknown_channel":
        return 200, {"channel": json.loads(body)["channel"], "delivered": True}
    return status, answer


async def _no_pointer(method: str, auth: str | None, body: bytes, forward: Forward) -> Any:
    status, answer = _relayed(await forward(method, auth, body))
    answer.pop("pointer", None)
    return status, answer


async def _accepted_as_200(method: str, auth: str | None, body: bytes, forward: Forward) -> Any:
    status, answer = _relayed(await forward(method, auth, body))
    return (200 if status == 202 else status), answer


async def _oversize_as_400(method: str, auth: str | None, body: bytes, forward: Forward) -> Any:
    status, answer = _relayed(await forward(method, auth, body))
    return (400 if status == 413 else status), answer


async def _health_without_counts(
    method: str, auth: str | None, body: bytes, forward: Forward
) -> Any:
    status, answer = _relayed(await forward(method, auth, body))
    if method == "GET":
        return status, {"status": answer["status"]}
    return status, answer


BROKEN = [
    Broken("any-token", _any_token, {"HTTP-PUB-03": "HTTP-2", "HTTP-PUB-04": "HTTP-2"}),
    Broken(
        "publishes-then-401",
        _publishes_then_401,
        {"HTTP-PUB-03": "HTTP-2", "HTTP-PUB-04": "HTTP-2"},
    ),
    Broken("unknown-channel-200", _unknown_channel_ok, {"HTTP-PUB-05": "HTTP-1"}),
    Broken("422-without-pointer", _no_pointer, {"HTTP-PUB-07": "HTTP-3"}),
    Broken("accepted-as-200", _accepted_as_200, {"HTTP-PUB-01": "HTTP-4", "HTTP-PUB-02": "HTTP-4"}),
    Broken("oversize-as-400", _oversize_as_400, {"HTTP-PUB-09": "HTTP-3"}),
    Broken("health-without-counts", _health_without_counts, {"HTTP-PUB-10": "HTTP-5"}),
]


class Front:
    """A one-request-per-connection HTTP relay to ``upstream`` applying ``fault``."""

    def __init__(self, upstream: str, broken: Broken) -> None:
        self.upstream = upstream.rstrip("/")
        self.broken = broken
        self.server: asyncio.Server | None = None
        self.http = httpx.AsyncClient(timeout=10.0, trust_env=False)

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        await self.http.aclose()

    async def _forward(self, method: str, auth: str | None, body: bytes, path: str) -> Any:
        headers = {"Content-Type": "application/json"}
        if auth is not None:
            headers["Authorization"] = auth
        return await self.http.request(method, self.upstream + path, content=body, headers=headers)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {
                k.strip().lower(): v.strip()
                for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))

            async def forward(m: str, auth: str | None, b: bytes) -> httpx.Response:
                response: httpx.Response = await self._forward(m, auth, b, path)
                return response

            status, answer = await self.broken.fault(
                method, headers.get("authorization"), body, forward
            )
            payload = json.dumps(answer).encode()
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


@pytest.mark.parametrize("broken", BROKEN, ids=[b.name for b in BROKEN])
def test_a_broken_endpoint_fails_the_case_that_checks_its_requirement(
    reference_url: str, broken: Broken
) -> None:
    """Each fault fails exactly the cases meant to catch it, citing the requirement it breaks."""

    async def main() -> dict[str, CaseResult]:
        upstream = Target.from_url(reference_url, derive=True)
        assert upstream.publish_url is not None
        front = Front(upstream.publish_url.rsplit("/", 1)[0], broken)
        base = await front.start()
        try:
            target = Target.from_url(
                reference_url, publish_url=f"{base}/publish", publish_token=TOKEN
            )
            server, notes = await probe(target, 10.0)
            assert server is not None, notes
            return await _run_all(target, server)
        finally:
            await front.close()

    results = _bounded(main())
    failed = {r.id: r.requirement for r in results.values() if r.verdict is Verdict.FAIL}
    assert failed == broken.catches, _summary(results)
    others = {r.verdict for r in results.values() if r.id not in broken.catches}
    assert others == {Verdict.PASS}, _summary(results)
