"""A browser's own EventSource through the browser adapter (issue 12 item 7) [CLIENT-2, CLIENT-3].

Debian's Chromium is launched once for the module, with a DevTools endpoint on a free loopback
port; every adapter process of the runs attaches to it (``--cdp``) and opens its page in a
fresh browser context. One whole client run checks the shipped page: the SSE cases run, every
WebSocket case is not applicable (``ready.profiles``), nothing fails or errs. Two deliberately
broken pages (``tests/conformance/broken_clients/browser/``) each fail CL-SSE-01 on the
requirement they break.
"""

from __future__ import annotations

import asyncio
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from canaux_conformance.cases import BUDGETS
from canaux_conformance.client.browser.adapter import CHROMIUM_FLAGS, DEFAULT_EXECUTABLE
from canaux_conformance.client.cases import all_client_cases
from canaux_conformance.client.context import ClientCaseContext
from canaux_conformance.client.runner import ClientRunConfig, run_client, run_client_case
from canaux_conformance.outcomes import Verdict
from canaux_conformance.results import RunResult

pytestmark = pytest.mark.slow

BROKEN_PAGES = Path(__file__).parents[1] / "broken_clients" / "browser"
DEVTOOLS_RE = re.compile(r"DevTools listening on (ws://127\.0\.0\.1:\d+/\S+)")
WAIT = 15.0
"""Seconds per wait: generous for a loaded machine, where loading a page takes seconds (the
adapter's ready gets 30)."""


@pytest.fixture(scope="module")
def cdp_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One headless Chromium for the module; yields its DevTools WebSocket endpoint."""
    if not DEFAULT_EXECUTABLE.exists():
        pytest.fail(f"{DEFAULT_EXECUTABLE} not found: `make docs-deps` installs Debian's chromium")
    profile = tmp_path_factory.mktemp("chromium-profile")
    process = subprocess.Popen(
        [
            str(DEFAULT_EXECUTABLE),
            *CHROMIUM_FLAGS,
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def drain() -> None:  # chromium blocks on a full stderr pipe
        assert process.stderr is not None
        for line in process.stderr:
            lines.put(line)

    threading.Thread(target=drain, name="chromium-stderr", daemon=True).start()
    seen: list[str] = []
    try:
        while True:
            try:
                line = lines.get(timeout=60)
            except queue.Empty:
                pytest.fail(f"chromium did not open its DevTools endpoint: {seen}")
            seen.append(line)
            match = DEVTOOLS_RE.search(line)
            if match:
                break
        yield match[1]
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _adapter(endpoint: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "canaux_conformance.client.browser", "--cdp", endpoint, *extra]


@pytest.fixture(scope="module")
def browser_run(cdp_endpoint: str) -> RunResult:
    # The default budget's 120 s per case: CL-SSE-02 waits out 2 x heartbeat plus a wait for a
    # stream the browser never opens, after the adapter's start-up (seconds on a loaded machine).
    config = ClientRunConfig(argv=_adapter(cdp_endpoint), budget="default", seed=12, timeout=WAIT)
    return asyncio.run(run_client(config))


@pytest.mark.timeout(240)
def test_chromium_eventsource_passes_every_sse_client_case(browser_run: RunResult) -> None:
    by_id = {r.id: r for r in browser_run.results}
    bad = {
        r.id: f"{r.verdict}: {r.message}"
        for r in browser_run.results
        if r.verdict in (Verdict.FAIL, Verdict.ERROR)
    }
    assert not bad, bad
    sse = {r.id for r in browser_run.results if r.profile == "sse"}
    assert sse >= {"CL-SSE-01", "CL-SSE-02", "CL-SSE-03", "CL-SSE-04"}
    # The MUST cases: Last-Event-ID resume, once each in order, reset, no event across a gap.
    for case_id in sorted(sse):
        if by_id[case_id].level == "MUST":
            assert by_id[case_id].verdict is Verdict.PASS, (case_id, by_id[case_id].message)
    # [SSE-11] a SHOULD: EventSource hands a page no `: ping` comments, so the page cannot
    # tell a quiet stream from a dead one; the browser waits on TCP.
    assert by_id["CL-SSE-02"].verdict in (Verdict.PASS, Verdict.NON_STRICT)
    assert browser_run.client is not None
    assert browser_run.client["name"].startswith("EventSource (chromium")
    assert browser_run.profiles == ["sse"]
    assert any(note.startswith("declared profiles: sse") for note in browser_run.notes)
    assert browser_run.exit_status == 0, browser_run.verdict_text()


def test_websocket_cases_do_not_apply_to_an_sse_only_client(browser_run: RunResult) -> None:
    others = [r for r in browser_run.results if r.profile != "sse"]
    assert others, "the run had no WebSocket case to skip"
    for result in others:
        assert result.verdict is Verdict.SKIPPED, (result.id, result.verdict)
        assert not result.applicable, result.id
        assert "ready.profiles" in result.message, result.message
    assert browser_run.unverified() == {}


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("page", "requirement"),
    [("fresh-eventsource.html", "CLIENT-2"), ("bare-eventsource.html", "CLIENT-3")],
)
def test_a_broken_page_fails_cl_sse_01_on_what_it_breaks(
    cdp_endpoint: str, page: str, requirement: str
) -> None:
    case = next(c for c in all_client_cases() if c.id == "CL-SSE-01")
    ctx = ClientCaseContext(
        adapter_argv=_adapter(cdp_endpoint, "--page", str(BROKEN_PAGES / page)),
        case_id=case.id,
        seed=12,
        budget=BUDGETS["quick"],
        timeout=WAIT,
    )
    result = asyncio.run(run_client_case(case, ctx, case_timeout=120))
    assert result.verdict is Verdict.FAIL, (result.verdict, result.message)
    assert result.requirement == requirement, result.message
