"""Survivors judged EQUIVALENT: the mutated server behaves, on the wire, exactly like the original.

Each entry names the file and the one-line diff (the stripped line before and after), not a
line number, so it keeps matching while the code around it moves; when the line itself
changes the entry stops matching and the survivor is counted again until someone re-judges
it. Add an entry only with the reason no client could ever tell the difference.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.power.mutations import Mutation

__all__ = ["EQUIVALENTS", "Equivalent", "judged_equivalent"]


@dataclass(frozen=True)
class Equivalent:
    path: str
    before: str
    after: str
    reason: str


EQUIVALENTS: tuple[Equivalent, ...] = ()


def judged_equivalent(mutation: Mutation, source: str) -> Equivalent | None:
    """The entry that judges ``mutation`` (applied to ``source``) equivalent, if any."""
    before, after = mutation.diff(source)
    for entry in EQUIVALENTS:
        if (entry.path, entry.before, entry.after) == (mutation.path, before, after):
            return entry
    return None
