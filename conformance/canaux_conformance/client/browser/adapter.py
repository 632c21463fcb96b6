"""The browser adapter (spec appendix "Client adapter protocol", v1): ``EventSource`` under test.

The client under test is a browser's own ``EventSource``; the application is a page
(:data:`PAGE`, or ``--page FILE``) that Playwright drives in a headless Chromium::

    canaux-conformance client -- python -m canaux_conformance.client.browser
    canaux-conformance client -- python -m canaux_conformance.client.browser \\
        --executable /opt/my-chromium/chrome
    canaux-conformance client -- python -m canaux_conformance.client.browser \\
        --cdp http://127.0.0.1:9222          # a Chromium already running (--remote-debugging-port)

An ``EventSource`` only reads, so the adapter declares ``"profiles": ["sse"]`` in its ``ready``:
the suite runs the SSE client cases and reports every WebSocket case as not applicable. The
``sse`` command opens the page at the origin of the suite's SSE endpoint (Playwright answers the
page's own request, so the endpoint is same-origin and no CORS is involved, as for a page served
by the server it reads) and calls the page's ``canauxStart({url, channels})``; the page reports
what it observes through ``canauxReport(message)``, which the adapter writes as lines. The
browser's reconnection delay is its own (Chromium: 3 s until the server sends ``retry:``); the
suite's SSE cases send ``retry:`` so that they depend on no browser's default.

The page contract is all a replacement page has to follow (see ``eventsource.html``), so the
same adapter checks an application's own EventSource code: ``--page my-app.html``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page, Route

__all__ = ["CHROMIUM_FLAGS", "DEFAULT_EXECUTABLE", "PAGE", "main"]

PROTOCOL = 1
PAGE = Path(__file__).with_name("eventsource.html")
"""The application page: EventSource plus what the spec asks of a client beyond it."""
DEFAULT_EXECUTABLE = Path("/usr/bin/chromium")
"""Debian's Chromium; Playwright's own browser download is never used unless asked for."""
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
"""A quiet, fresh, headless Chromium that dials nowhere by itself."""
PAGE_PATH = "/__canaux_adapter__/app.html"
RECONNECTION_MS = 3000
"""Chromium's reconnection time before a ``retry:`` field sets another (what ``ready`` says)."""
_REPORTED = frozenset({"event", "reset", "state"})
_UNSUPPORTED = ("connect", "subscribe", "unsubscribe", "publish", "sse.token")


def write(message: dict[str, Any]) -> None:
    """One adapter protocol message, one line, flushed."""
    sys.stdout.write(json.dumps(message, allow_nan=False) + "\n")
    sys.stdout.flush()


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m canaux_conformance.client.browser",
        description="A conformance adapter whose client is a browser's own EventSource.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--executable",
        type=Path,
        default=None,
        help=f"the Chromium to launch (default {DEFAULT_EXECUTABLE}, else Playwright's own)",
    )
    where.add_argument(
        "--cdp",
        metavar="URL",
        default=None,
        help="attach to a running Chromium instead (its --remote-debugging-port endpoint)",
    )
    parser.add_argument(
        "--page", type=Path, default=PAGE, help="the application page (default: the shipped one)"
    )
    parser.add_argument(
        "--browser-arg", action="append", default=[], metavar="FLAG", help="an extra flag"
    )
    return parser


class BrowserAdapter:
    """The application: one page with one EventSource, driven by commands."""

    def __init__(self, browser: Browser, page_html: str) -> None:
        self.browser = browser
        self.page_html = page_html
        self.context: BrowserContext | None = None
        self.page: Page | None = None
        self.started = False

    async def prepare(self) -> None:
        """Everything but the stream, before ``ready`` (which may take 30 s, a ``done`` only
        the suite's ``--timeout``): a fresh context, the page, and one load of it at a loopback
        origin, so that the renderer is up when ``sse`` loads it at the endpoint's origin."""
        self.context = await self.browser.new_context()
        page = self.page = await self.context.new_page()
        page.on("console", lambda m: log(f"page console {m.type}: {m.text}"))
        page.on("pageerror", lambda e: log(f"page error: {e}"))
        await page.expose_function("canauxReport", self.report)

        async def serve(route: Route) -> None:
            await route.fulfill(status=200, content_type="text/html", body=self.page_html)

        # Playwright answers the page's own request at any origin: the endpoint is never asked
        # for it. The route is removed before the stream starts, so the EventSource's requests
        # are not touched.
        await page.route("**" + PAGE_PATH, serve)
        await page.goto("http://127.0.0.1:9" + PAGE_PATH, wait_until="load")

    def report(self, message: Any) -> None:
        """What the page observed, as a line (``canauxReport``)."""
        if isinstance(message, dict) and message.get("msg") in _REPORTED:
            write(message)
        else:
            log(f"the page reported something that is not event/reset/state: {message!r}")

    async def handle(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Carry out one command; its ``done`` message."""
        done: dict[str, Any] = {"msg": "done", "n": cmd.get("n")}
        name = cmd.get("cmd")
        if name == "sse":
            return await self.sse(cmd, done)
        if name == "close":
            if self.page is not None and self.started:
                await self.page.evaluate("() => window.canauxStop()")
            return done
        return {**done, "unsupported": str(name)}

    async def sse(self, cmd: dict[str, Any], done: dict[str, Any]) -> dict[str, Any]:
        if cmd.get("token") is not None:
            # EventSource sends no Authorization header; browsers authenticate with cookies.
            return {**done, "unsupported": "sse.token"}
        url, channels = cmd.get("url"), cmd.get("channels")
        parts = urlsplit(str(url))
        if self.started:
            return {**done, "error": {"kind": "other", "message": "one stream per adapter"}}
        if parts.scheme not in ("http", "https") or not isinstance(channels, list):
            return {**done, "error": {"kind": "invalid", "message": f"bad sse command {cmd!r}"}}
        assert self.page is not None, "prepare() first"
        origin = f"{parts.scheme}://{parts.netloc}"
        loop = asyncio.get_running_loop()
        began = loop.time()
        await self.page.goto(origin + PAGE_PATH, wait_until="load")
        await self.page.unroute_all()
        loaded = loop.time()
        await self.page.evaluate(
            "config => window.canauxStart(config)",
            {"url": origin + parts.path, "channels": [str(c) for c in channels]},
        )
        self.started = True
        log(f"sse: page loaded at {origin} in {loaded - began:.3f}s, stream started after "
            f"{loop.time() - loaded:.3f}s more")  # fmt: skip
        return done

    async def aclose(self) -> None:
        if self.context is not None:
            with contextlib.suppress(Exception):
                await self.context.close()


async def serve_commands(adapter: BrowserAdapter) -> None:
    """Read commands until standard input closes, answering each in order."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        try:
            cmd = json.loads(line)
        except ValueError:
            log(f"not a JSON command: {line[:200]!r}")
            continue
        if not isinstance(cmd, dict):
            log(f"not a JSON object: {line[:200]!r}")
            continue
        try:
            write(await adapter.handle(cmd))
        except Exception as exc:  # the browser failed the application: a broken set-up
            write({"msg": "fatal", "message": f"{cmd.get('cmd')}: {type(exc).__name__}: {exc}"})
            raise


async def run(args: argparse.Namespace, page_html: str, executable: Path | None) -> int:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        write({
            "msg": "fatal",
            "message": "the browser adapter needs Playwright: "
            "pip install 'canaux[conformance-browser]' (it never downloads a browser)",
        })  # fmt: skip
        return 1
    async with async_playwright() as playwright:
        if args.cdp is not None:
            browser = await playwright.chromium.connect_over_cdp(args.cdp, timeout=30_000)
        else:
            browser = await playwright.chromium.launch(
                executable_path=str(executable) if executable is not None else None,
                args=[*CHROMIUM_FLAGS, *args.browser_arg],
                headless=True,
                timeout=30_000,
            )
        adapter = BrowserAdapter(browser, page_html)
        try:
            await adapter.prepare()
            page = "" if args.page == PAGE else f", page {args.page.name}"
            write({
                "msg": "ready",
                "protocol": PROTOCOL,
                "client": {
                    "name": f"EventSource ({playwright.chromium.name}{page})",
                    "version": browser.version,
                    "language": "JavaScript",
                },
                "backoff": {
                    "base_ms": RECONNECTION_MS,
                    "cap_ms": RECONNECTION_MS,
                    "configurable": False,
                },
                "profiles": ["sse"],
                "unsupported": list(_UNSUPPORTED),
            })  # fmt: skip
            await serve_commands(adapter)
        finally:
            await adapter.aclose()
            with contextlib.suppress(Exception):
                await browser.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    executable = args.executable
    if executable is None and DEFAULT_EXECUTABLE.exists():
        executable = DEFAULT_EXECUTABLE
    return asyncio.run(run(args, args.page.read_text(encoding="utf-8"), executable))
