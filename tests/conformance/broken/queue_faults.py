"""Broken servers for QADD-01 and QMOVE-01 (standard-channels.md QUEUE-5): the reference
whose ``add`` moves ``current`` the wrong way when a track is inserted at or before it, and
the one whose ``move`` does when a track is moved from after it to before it.

A relay could rewrite the states it forwards, but not consistently with the ``index`` of a
later command; this is the mutant ``playqueue.py QueueState._add``: ``current += 1`` →
``current -= 1``, which survived the power run of seed 20261208, rebuilt as a patch of the
reference's queue (tests/conformance/test_queue_current.py puts it in the queue's table of
commands, ``_OPS``, with ``monkeypatch``). The second is the same mutant in
``QueueState._move`` (found by the same ``--find``, not in that run's sample).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from canaux.server.channels.playqueue import QueueState

__all__ = ["add_shifts_current_back", "move_shifts_current_back"]


def add_shifts_current_back() -> Callable[[QueueState, Mapping[str, Any]], QueueState]:
    """A ``QueueState._add`` that decrements ``current`` where the table increments it."""
    original = QueueState._add

    def add(self: QueueState, command: Mapping[str, Any]) -> QueueState:
        changed = original(self, command)
        if self.current is not None and changed.current != self.current:
            return replace(changed, current=self.current - 1)
        return changed

    return add


def move_shifts_current_back() -> Callable[[QueueState, Mapping[str, Any]], QueueState]:
    """A ``QueueState._move`` that decrements ``current`` when a track moves from after it to
    at or before it (the table increments it)."""
    original = QueueState._move

    def move(self: QueueState, command: Mapping[str, Any]) -> QueueState:
        changed = original(self, command)
        source, target, current = command.get("from"), command.get("to"), self.current
        if (
            isinstance(source, int)
            and isinstance(target, int)
            and current is not None
            and target <= current < source
        ):
            return replace(changed, current=current - 1)
        return changed

    return move
