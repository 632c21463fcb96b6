"""Handlers of the standard channels (spec §10): chat, playqueue, progress, system."""

from __future__ import annotations

__all__: list[str] = []
