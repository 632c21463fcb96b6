"""Text of the SSE binding (spec sse.md): messages, comments, resume positions.

A stream starts with a ``welcome`` message without an ``id:`` line [SSE-1]; each event follows
as ``event: <channel>`` / ``id: <session>:<seq>`` / ``data: <event frame>``; an idle stream gets
``: ping`` comments [SSE-4]. A client resumes with ``Last-Event-ID: <session>:<seq>`` [SSE-2].
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["PING_COMMENT", "event_message", "parse_event_id", "welcome_message"]

PING_COMMENT: Final = ": ping\n\n"

_SESSION_RE: Final = re.compile(r"^[A-Za-z0-9_-]{22,128}\Z")
_SEQ_RE: Final = re.compile(r"^(0|[1-9][0-9]{0,17})\Z")


def _data_lines(text: str) -> str:
    # Compact JSON has no raw line breaks, but SSE would split a "data:" line on CR or LF,
    # so this stays correct for any text.
    return "".join(f"data: {line}\n" for line in re.split(r"\r\n|\r|\n", text))


def welcome_message(welcome_json: str) -> str:
    """The first message of a stream: the welcome frame, with no ``id:`` line [SSE-1]."""
    return f"event: welcome\n{_data_lines(welcome_json)}\n"


def event_message(channel: str, session: str, seq: int, event_json: str) -> str:
    """One event: its channel as SSE event name and ``<session>:<seq>`` as its id [SSE-1]."""
    return f"event: {channel}\nid: {session}:{seq}\n{_data_lines(event_json)}\n"


def parse_event_id(value: str | None) -> tuple[str, int] | None:
    """``(session, seq)`` from a ``Last-Event-ID`` value, or ``None`` when it is not one."""
    if not value:
        return None
    session, sep, seq = value.strip().rpartition(":")
    if not sep or not _SESSION_RE.match(session) or not _SEQ_RE.match(seq):
        return None
    return session, int(seq)
