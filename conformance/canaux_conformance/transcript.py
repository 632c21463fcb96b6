"""What the clients of one case sent and received: the transcript printed with findings."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from canaux_conformance.ijson import readable_json

__all__ = ["Direction", "Transcript", "TranscriptEntry"]

Direction = Literal["open", "send", "recv", "close", "note"]

_ARROWS: dict[str, str] = {"open": "==", "send": "->", "recv": "<-", "close": "xx", "note": "##"}


@dataclass(frozen=True)
class TranscriptEntry:
    """One thing that happened on one client's connection."""

    client: str
    direction: Direction
    at: float
    """Seconds since the transcript started."""
    text: str
    """The frame as sent/received (raw text), or a description for open/close/note."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "direction": self.direction,
            "at": self.at,
            "text": self.text,
        }


@dataclass
class Transcript:
    """Everything the clients of one case sent and received, in order."""

    entries: list[TranscriptEntry] = field(default_factory=list)
    limit: int = 5000
    """Entries kept; a flood case must not turn the report into megabytes."""
    dropped: int = 0
    _start: float | None = None

    def _now(self) -> float:
        now = asyncio.get_running_loop().time()
        if self._start is None:
            self._start = now
        return now - self._start

    def add(self, client: str, direction: Direction, text: str) -> None:
        if len(self.entries) >= self.limit:
            self.dropped += 1
            return
        self.entries.append(TranscriptEntry(client, direction, round(self._now(), 4), text))

    def note(self, text: str, client: str = "suite") -> None:
        """A line of explanation from the case itself."""
        self.add(client, "note", text)

    def clients(self) -> list[str]:
        return list(dict.fromkeys(e.client for e in self.entries if e.direction != "note"))

    def replay(self) -> dict[str, list[Any]]:
        """Per client, the frames it sent (decoded where JSON): send them again to reproduce."""
        sent: dict[str, list[Any]] = {}
        for entry in self.entries:
            if entry.direction != "send":
                continue
            try:
                value: Any = json.loads(entry.text)
            except ValueError:
                value = entry.text
            sent.setdefault(entry.client, []).append(value)
        return sent

    def render(self, max_text: int = 400) -> str:
        """Human-readable transcript: one line per entry, then the replayable frames per client."""
        lines = []
        for e in self.entries:
            text = (
                e.text
                if len(e.text) <= max_text
                else e.text[:max_text] + f"… ({len(e.text)} chars)"
            )
            lines.append(f"{e.at:8.3f}s {e.client:>8} {_ARROWS[e.direction]} {text}")
        if self.dropped:
            lines.append(f"… {self.dropped} more entries not kept")
        replay = self.replay()
        if replay:
            lines.append("")
            lines.append("replay (frames sent, per client):")
            for client, frames in replay.items():
                shown = [readable_json(f) for f in frames[:50]]
                more = f", … {len(frames) - 50} more" if len(frames) > 50 else ""
                lines.append(f"  {client}: [{', '.join(shown)}{more}]")
        return "\n".join(lines)

    def as_list(self) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self.entries]
