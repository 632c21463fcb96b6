"""Browser check 3: chromium's own EventSource resumes an SSE stream cut mid-burst [SSE-1, SSE-2].

The reference server runs as a real subprocess (``python -m canaux serve``). The browser
reaches it through a small loopback proxy that serves the check page (same origin, so no
CORS is involved) and relays everything else byte for byte, and that can cut every open
``/events`` stream the way a network drop does. The test publishes a burst with
``POST /publish``, cuts the stream in the middle of it, and checks that the browser's own
reconnect — with ``Last-Event-ID``, sent by chromium itself — delivers every event exactly
once, in order, on the same session [RESUME-2, RESUME-3, DELIVERY-1, DELIVERY-6].
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import re
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

pytestmark = pytest.mark.slow

PAGE = Path(__file__).with_name("sse_check.html")
PAGE_PATH = "/__canaux_check__/sse.html"
LISTENING_RE = re.compile(r"canaux: listening on ws://(?P<host>[^:/]+):(?P<port>\d+)/ws")
TOKEN = "browser-check-" + secrets.token_hex(8)
BURST = 60
CUT_AFTER = 20
"""Events the browser must have received before the rest of the burst starts."""
_WAIT_MS = 60_000


@contextlib.contextmanager
def reference_server() -> Iterator[str]:
    """``canaux serve`` on a free loopback port, as a subprocess; yields its HTTP base URL."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "canaux",
            "serve",
            "--port",
            "0",
            "--conformance",
            "--publish-token",
            TOKEN,
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for text in process.stdout:
            lines.put(text)

    threading.Thread(target=read, name="canaux-serve-output", daemon=True).start()
    try:
        while True:
            try:
                text = lines.get(timeout=30)
            except queue.Empty:
                pytest.fail(f"canaux serve did not say where it listens: {seen}")
            seen.append(text)
            match = LISTENING_RE.search(text)
            if match:
                yield f"http://{match['host']}:{match['port']}"
                return
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@dataclass
class CutProxy:
    """A loopback relay in front of the server that serves the check page and can cut streams."""

    upstream_port: int
    page: bytes
    port: int = 0
    event_requests: list[dict[str, str]] = field(default_factory=list)
    """Headers (lower-cased names) of every ``GET /events`` relayed, in order."""
    _streams: set[asyncio.StreamWriter] = field(default_factory=set)
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        await self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def cut(self) -> int:
        """Drop every open ``/events`` stream abruptly, on both sides; how many were cut."""
        writers = list(self._streams)
        self._streams.clear()
        for writer in writers:
            writer.transport.abort()
        return len(writers) // 2

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(30):
                head = await reader.readuntil(b"\r\n\r\n")
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.transport.abort()
            return
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        path = request_line.split(" ")[1] if " " in request_line else ""
        if path.split("?")[0] == PAGE_PATH:
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                + f"Content-Length: {len(self.page)}\r\n".encode()
                + b"Cache-Control: no-store\r\nConnection: close\r\n\r\n"
                + self.page
            )
            await writer.drain()
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        if path.startswith("/events"):
            headers = dict(
                (name.strip().lower(), value.strip())
                for name, _, value in (line.partition(":") for line in header_lines if line)
            )
            self.event_requests.append(headers)
            self._streams.update((writer, up_writer))
        up_writer.write(head)
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        self._streams.discard(writer)
        self._streams.discard(up_writer)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        finally:
            sink.close()


@contextlib.contextmanager
def running_proxy(upstream_port: int) -> Iterator[tuple[CutProxy, asyncio.AbstractEventLoop]]:
    """The proxy on its own event loop in a background thread (the test thread drives chromium)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="cut-proxy", daemon=True)
    thread.start()
    proxy = CutProxy(upstream_port, PAGE.read_bytes())
    try:
        asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(timeout=30)
        yield proxy, loop
    finally:
        asyncio.run_coroutine_threadsafe(proxy.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


def _wait(page: Page, expression: str, proxy: CutProxy) -> None:
    """Wait (bounded) for ``expression`` on the page; on time-out, fail with what the page saw."""
    try:
        page.wait_for_function(expression, timeout=_WAIT_MS)
    except PlaywrightTimeoutError:
        seen = page.evaluate("window.canauxCheck")
        pytest.fail(
            f"timed out waiting for {expression}; page state: {seen}; "
            f"/events requests: {proxy.event_requests}"
        )


def _publish(client: httpx.Client, base: str, channel: str, mark: str) -> None:
    answer = client.post(
        f"{base}/publish",
        json={"channel": channel, "data": {"mark": mark}},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 202, answer.text


@pytest.mark.timeout(240)
def test_browser_eventsource_resumes_a_cut_stream_exactly_once_in_order(
    browser: Browser, checks_dir: Path
) -> None:
    channel = f"conformance.sse-{secrets.token_hex(4)}"
    marks = [f"m-{n}" for n in range(BURST)] + ["end"]
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # The cut itself makes chromium log a failed request; anything else is a fault.
        if (
            message.type == "error"
            and "ERR_" not in message.text
            and "/events" not in str(message.location.get("url", ""))
        ):
            errors.append(message.text)

    with (
        reference_server() as base,
        running_proxy(int(base.rsplit(":", 1)[1])) as (proxy, loop),
        httpx.Client(timeout=30) as http,
    ):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", on_console)
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            page.goto(
                f"http://127.0.0.1:{proxy.port}{PAGE_PATH}?channel={channel}",
                wait_until="load",
                timeout=_WAIT_MS,
            )
            _wait(page, "window.canauxCheck.welcomes.length === 1", proxy)

            for mark in marks[:CUT_AFTER]:
                _publish(http, base, channel, mark)
            _wait(page, f"window.canauxCheck.events.length >= {CUT_AFTER}", proxy)

            # The rest of the burst goes out from another thread; the stream is cut while it runs.
            started = threading.Event()
            failures: list[BaseException] = []

            def rest_of_burst() -> None:
                try:
                    with httpx.Client(timeout=30) as publisher:
                        for number, mark in enumerate(marks[CUT_AFTER:]):
                            _publish(publisher, base, channel, mark)
                            if number == 4:
                                started.set()
                except BaseException as error:  # reported by the main thread
                    failures.append(error)
                    started.set()

            publisher_thread = threading.Thread(target=rest_of_burst, name="burst")
            publisher_thread.start()
            assert started.wait(timeout=60), "the burst did not start"
            cut = asyncio.run_coroutine_threadsafe(proxy.cut(), loop).result(timeout=30)
            publisher_thread.join(timeout=120)
            assert not publisher_thread.is_alive(), "publishing the burst did not finish"
            assert failures == [], failures
            assert cut == 1, f"expected one open /events stream to cut, found {cut}"

            # "end" is published last: once it is in, everything before it has had its chance.
            _wait(page, "window.canauxCheck.events.some(e => e.mark === 'end')", proxy)
            state: dict[str, Any] = page.evaluate("window.canauxCheck")
            page.screenshot(path=checks_dir / "sse-resume.png", full_page=True)
        finally:
            page.close()

    welcomes = state["welcomes"]
    events = state["events"]
    assert len(welcomes) == 2, f"expected exactly one reconnect: {welcomes}"
    first, second = welcomes
    assert first["resumed"] is False, welcomes
    # Same session, resumed: the replay continues the numbering [RESUME-2].
    assert second["session"] == first["session"], welcomes
    assert second["resumed"] is True, welcomes
    session = first["session"]

    # Every event exactly once, in publish order, numbered without a gap [DELIVERY-1, DELIVERY-6].
    assert [e["mark"] for e in events] == marks
    assert [e["seq"] for e in events] == list(range(1, len(marks) + 1))
    assert [e["id"] for e in events] == [f"{session}:{e['seq']}" for e in events]

    # The browser reconnected by itself, carrying the id of the last event it had [SSE-2].
    assert len(proxy.event_requests) == 2, proxy.event_requests
    assert "last-event-id" not in proxy.event_requests[0]
    resumed_from = proxy.event_requests[1].get("last-event-id", "")
    assert resumed_from.startswith(f"{session}:"), proxy.event_requests[1]
    last_before_cut = int(resumed_from.rsplit(":", 1)[1])
    assert CUT_AFTER <= last_before_cut < len(marks), resumed_from
    assert errors == [], errors
