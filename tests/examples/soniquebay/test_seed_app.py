"""The seed note's three manual tests, run in chromium against the running seed app.

The design note ("Refactorisation du Système de Communication WebSocket", section Tests):

1. send a chat message: the reply shows as it streams;
2. stop the backend, start it again: the frontend reconnects by itself (here every widget is
   then seen to update again, from something published on each channel after the restart;
   and once more after the backend is killed instead of stopped);
3. several widgets (and tabs) on several channels: each channel gets only its messages, and
   there is ONE WebSocket (counted by the backend itself, ``/canaux/health``).

Waits are Playwright's, on what the page shows, each bounded; nothing sleeps.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.docs.conftest import CHECKS_DIR
from tests.examples.soniquebay.seed_app import SeedApp

pytestmark = pytest.mark.slow

WAIT_MS = 30_000
"""Bound of a wait on something the app does at once (a render, a reply, a scan)."""
RECONNECT_MS = 60_000
"""Bound of the wait for the reconnection: the client's backoff is random (full jitter)."""

# Records every state each chat reply goes through, as the DOM shows it: state, chunk count,
# text. Playwright's own polling could miss a short-lived state; a MutationObserver cannot.
RECORD_REPLIES = """() => {
  window.__replies = [];
  const last = new Map();
  const record = () => {
    document.querySelectorAll('[data-testid="chat-reply"]').forEach((el, index) => {
      const entry = {index, state: el.dataset.state, chunks: Number(el.dataset.chunks),
                     text: el.textContent};
      const key = JSON.stringify(entry);
      if (last.get(index) !== key) { last.set(index, key); window.__replies.push(entry); }
    });
  };
  new MutationObserver(record).observe(document.body,
    {subtree: true, childList: true, attributes: true, characterData: true});
}"""


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context()
    try:
        yield context
    finally:
        context.close()


def open_page(context: BrowserContext, app: SeedApp, path: str = "/") -> Page:
    """A tab on ``path`` of the frontend, once the frontend's connection is up."""
    page = context.new_page()
    page.goto(app.frontend_url + path)
    expect(page.get_by_test_id("connection")).to_have_text("connected", timeout=RECONNECT_MS)
    return page


def ask(page: Page, text: str) -> None:
    page.get_by_test_id("chat-input").fill(text)
    page.get_by_test_id("chat-send").click()


def expect_reply(page: Page, question: str) -> str:
    """Wait for the last reply to be done; it answers ``question``; returns its text."""
    reply = page.get_by_test_id("chat-reply").last
    expect(reply).to_have_attribute("data-state", "done", timeout=WAIT_MS)
    expected = re.compile(
        rf'^SoniqueBay heard "{re.escape(question)}"\. The library holds \d+ tracks\.$'
    )
    expect(reply).to_have_text(expected, timeout=WAIT_MS)
    return reply.inner_text()


def scan(page: Page, tracks: int) -> None:
    """Click Scan; the library, the task's progress and a notice all show its result."""
    tasks = page.get_by_test_id("task")
    before = tasks.count()
    page.get_by_test_id("library-scan").click()
    expect(tasks).to_have_count(before + 1, timeout=WAIT_MS)
    expect(tasks.last).to_have_attribute("data-status", "done", timeout=WAIT_MS)
    expect(tasks.last).to_contain_text(f"done {tracks}/{tracks}", timeout=WAIT_MS)
    expect(page.get_by_test_id("library-summary")).to_contain_text(
        f"{tracks} tracks", timeout=WAIT_MS
    )
    expect(page.get_by_test_id("library-track")).to_have_count(tracks, timeout=WAIT_MS)
    expect(
        page.get_by_test_id("notice").filter(has_text=f"Library scan finished: {tracks} tracks")
    ).not_to_have_count(0, timeout=WAIT_MS)


def notice(app: SeedApp, text: str) -> None:
    """An operator's notice, published by the backend in-process on ``system``."""
    answer = app.http.post(f"{app.api}/api/notices", json={"text": text})
    assert answer.status_code == 202, answer.text


def one_connection(app: SeedApp) -> dict[str, Any]:
    health = app.health()
    assert health["connections"] == 1, f"the backend counts {health}"
    assert health["sessions"] == 1, f"the backend counts {health}"
    return health


def test_a_chat_reply_streams_in_before_it_is_done(
    seed_app: SeedApp, context: BrowserContext
) -> None:
    """Manual test 1: the reply shows chunk by chunk, then is marked done [CHAT-1]."""
    page = open_page(context, seed_app)
    page.evaluate(RECORD_REPLIES)
    question = "Bonjour SoniqueBay"
    ask(page, question)
    final = expect_reply(page, question)

    states: list[dict[str, Any]] = page.evaluate("window.__replies")
    done = [s for s in states if s["state"] == "done"]
    assert len(done) == 1, states
    before_done = states[: states.index(done[0])]
    streaming = [s for s in before_done if s["state"] == "streaming"]
    assert streaming, f"the reply was never seen streaming before done: {states}"
    for state in streaming:
        assert final.startswith(state["text"].strip()), (state, final)
    # Some of the reply, not all of it, was on the page before it was done.
    partial = [s for s in streaming if 0 < len(s["text"].strip()) < len(final)]
    assert partial, f"the reply never showed partly, only whole: {states}"
    counts = [s["chunks"] for s in streaming]
    assert counts == sorted(counts), f"chunks went backwards: {states}"


def test_b_after_a_backend_restart_every_widget_updates_again(
    seed_app: SeedApp, context: BrowserContext
) -> None:
    """Manual test 2: stop and restart the backend on its port; the page reconnects by itself
    and each channel's widget shows what is published after the restart."""
    page = open_page(context, seed_app)
    queue_items = page.get_by_test_id("queue-item")
    scan(page, tracks=3)
    page.get_by_test_id("queue-clear").click()
    expect(queue_items).to_have_count(0, timeout=WAIT_MS)
    page.get_by_test_id("library-add").first.click()
    expect(queue_items).to_have_count(1, timeout=WAIT_MS)

    resets = page.get_by_test_id("resets")
    before = int(resets.inner_text().rsplit(" ", 1)[-1])
    seed_app.stop_backend()
    connection = page.get_by_test_id("connection")
    expect(connection).to_have_text("reconnecting", timeout=WAIT_MS)
    (seed_app.music / "Miles Davis" / "Freddie Freeloader.mp3").write_bytes(b"")
    seed_app.start_backend()
    expect(connection).to_have_text("connected", timeout=RECONNECT_MS)
    # A restarted backend has no sessions: the frontend got a new one [RESUME-5].
    expect(resets).to_have_text(f"new sessions: {before + 1}", timeout=WAIT_MS)

    # playqueue: the new backend's queue is empty; its snapshot on re-subscribe shows it.
    expect(queue_items).to_have_count(0, timeout=WAIT_MS)
    expect(page.get_by_test_id("queue-summary")).to_have_attribute(
        "data-version", "0", timeout=WAIT_MS
    )
    # system: a notice published by the restarted backend.
    mark = f"Back after the restart {secrets.token_hex(3)}"
    notice(seed_app, mark)
    expect(page.get_by_test_id("notice").filter(has_text=mark)).to_have_count(1, timeout=WAIT_MS)
    # progress, library (and system again): a scan on the restarted backend finds four tracks.
    scan(page, tracks=4)
    # playqueue again: a command from the page, answered with the new state.
    page.get_by_test_id("library-add").last.click()
    expect(queue_items).to_have_count(1, timeout=WAIT_MS)
    # chat: a new question, a new streamed answer, which knows the new scan.
    ask(page, "Still there?")
    assert "holds 4 tracks" in expect_reply(page, "Still there?")
    one_connection(seed_app)
    CHECKS_DIR.mkdir(parents=True, exist_ok=True)  # for people to look at
    page.screenshot(path=CHECKS_DIR / "soniquebay-after-restart.png", full_page=True)


def test_c_several_widgets_and_tabs_share_one_websocket(
    seed_app: SeedApp, context: BrowserContext
) -> None:
    """Manual test 3: tabs with different widgets; each channel reaches only its widgets;
    the backend counts one WebSocket connection (and one session) for all of them."""
    everything = open_page(context, seed_app, "/")
    chat = open_page(context, seed_app, "/chat")
    queue = open_page(context, seed_app, "/queue")
    for page, widgets in (
        (everything, ("chat", "library", "playqueue", "progress", "notices")),
        (chat, ("chat", "notices")),
        (queue, ("library", "playqueue")),
    ):
        for widget in widgets:
            expect(page.get_by_test_id(widget)).to_be_visible(timeout=WAIT_MS)
    one_connection(seed_app)

    # system reaches the notice widgets, and only them.
    mark = f"Only on system {secrets.token_hex(3)}"
    notice(seed_app, mark)
    for page in (everything, chat):
        expect(page.get_by_test_id("notices")).to_contain_text(mark, timeout=WAIT_MS)
        for widget in ("chat", "library", "playqueue", "progress"):
            if page.get_by_test_id(widget).count():
                expect(page.get_by_test_id(widget)).not_to_contain_text(mark)
    expect(queue.locator("body")).not_to_contain_text(mark)

    # chat: the reply goes to the tab that asked; nothing of it in the others' widgets.
    question = f"Just this tab {secrets.token_hex(3)}"
    ask(chat, question)
    expect_reply(chat, question)
    expect(everything.get_by_test_id("chat")).not_to_contain_text(question)
    for page in (everything, chat):
        expect(page.get_by_test_id("notices")).not_to_contain_text(question)

    # playqueue: a command in one tab shows in every queue widget, nowhere else.
    queue.get_by_test_id("queue-clear").click()
    for page in (everything, queue):
        expect(page.get_by_test_id("queue-item")).to_have_count(0, timeout=WAIT_MS)
    one_connection(seed_app)


def test_d_after_a_backend_crash_the_page_reconnects_too(
    seed_app: SeedApp, context: BrowserContext
) -> None:
    """Manual test 2 the hard way: the backend is killed (no close frame, no notice); the
    frontend sees the socket die, reconnects once a backend listens on the port again, and
    the widgets update."""
    page = open_page(context, seed_app)
    resets = page.get_by_test_id("resets")
    before = int(resets.inner_text().rsplit(" ", 1)[-1])
    seed_app.kill_backend()
    connection = page.get_by_test_id("connection")
    expect(connection).to_have_text("reconnecting", timeout=WAIT_MS)
    seed_app.start_backend()
    expect(connection).to_have_text("connected", timeout=RECONNECT_MS)
    expect(resets).to_have_text(f"new sessions: {before + 1}", timeout=WAIT_MS)
    mark = f"Back after the crash {secrets.token_hex(3)}"
    notice(seed_app, mark)
    expect(page.get_by_test_id("notice").filter(has_text=mark)).to_have_count(1, timeout=WAIT_MS)
    ask(page, "Still there after the crash?")
    expect_reply(page, "Still there after the crash?")
    one_connection(seed_app)
