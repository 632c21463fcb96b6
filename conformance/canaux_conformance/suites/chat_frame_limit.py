"""The frame limit comes before the chat text limit (standard-channels.md CHAT-6)."""

from __future__ import annotations

import contextlib
import json

from websockets.exceptions import ConnectionClosed

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped

__all__ = ["chat_lim_01_frame_limit_first"]

NOTE = "\U0001f3b5"
"""A character written as a 12-byte escaped surrogate pair (``\\ud83c\\udfb5``): one character
of the text (two UTF-16 units), twelve bytes of the frame."""

ESCAPED = 12
"""Bytes of one escaped note in the frame."""

MOST_NOTES = 8000
"""At most 16000 characters even for a server counting UTF-16 units (CHAT-3)."""


def chat_frame(frame_id: str, notes: int) -> str:
    """A chat publish whose text is ``notes`` escaped notes (every byte ASCII)."""
    data = {"type": "message", "text": NOTE * notes}
    frame = {"type": "publish", "id": frame_id, "channel": "chat", "data": data}
    return json.dumps(frame, ensure_ascii=True, separators=(",", ":"))


@case(
    id="CHAT-LIM-01",
    requirements=("CHAT-6", "TRANSPORT-6"),
    profile="chat",
    title="a chat publish longer than max_frame_bytes is closed 1009 though its text is short",
)
async def chat_lim_01_frame_limit_first(ctx: CaseContext) -> None:
    """A's chat message has at most 8000 characters (well inside the text limit) written as
    escapes, so that its frame is one byte or more over ``max_frame_bytes``: the server closes
    with 1009 and never answers it [CHAT-6, TRANSPORT-6]."""
    ctx.require_channel("chat")
    a = await ctx.client("A")
    limit = a.max_frame_bytes
    if limit is None:
        raise CaseFailed("welcome.limits has no max_frame_bytes", requirement="LIMIT-1")
    empty = len(chat_frame("chat-big", 0))
    # The smallest count over the limit: the case is about the first byte too many.
    notes = max(1, (limit - empty) // ESCAPED + 1)
    if notes > MOST_NOTES:
        raise CaseSkipped(
            f"max_frame_bytes {limit}: no chat text of at most {MOST_NOTES} characters makes a "
            "frame that long",
            applicable=False,
        )
    text = chat_frame("chat-big", notes)
    ctx.note(f"a chat publish of {notes} characters in a {len(text)}-byte frame (limit {limit})")
    with contextlib.suppress(ConnectionClosed):
        await a.send_text(text, beyond_limits=True)
    code = await a.expect_close(requirement="CHAT-6")
    answers = [f for f in a.received if f.get("id") == "chat-big"]
    if code != 1009 or answers:
        raise CaseFailed(
            f"a {len(text)}-byte chat publish (max_frame_bytes {limit}) with a {notes}-character"
            f" text was answered {[f.get('type') for f in answers]} and closed with {code}; "
            "the frame limit comes first: 1009 and no answer",
            requirement="CHAT-6",
        )
