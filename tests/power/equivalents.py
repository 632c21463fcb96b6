"""Survivors judged EQUIVALENT: the mutated server behaves, on the wire, like a conformant one.

An entry matches a mutation by file and by any of: the enclosing scope, the operator, and the
one-line diff (the stripped line before and after). None of these is a line number, so an
entry keeps matching while the code around it moves; when the line itself changes a
``before``/``after`` entry stops matching and the survivor counts again until someone
re-judges it. Add an entry only with the reason no client could ever tell the difference
(or could tell only a different *conformant* server from this one).
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.power.mutations import Mutation

__all__ = ["EQUIVALENTS", "Equivalent", "judged_equivalent"]


@dataclass(frozen=True)
class Equivalent:
    path: str
    reason: str
    scope: str | None = None
    operator: str | None = None
    before: str | None = None
    after: str | None = None

    def matches(self, mutation: Mutation, before: str, after: str) -> bool:
        wanted = (self.path, self.scope, self.operator, self.before, self.after)
        actual = (mutation.path, mutation.scope, mutation.operator, before, after)
        return all(w is None or w == a for w, a in zip(wanted, actual, strict=True))


EQUIVALENTS: tuple[Equivalent, ...] = (
    Equivalent(
        path="canaux/protocol/limits.py",
        scope="Limits",
        operator="constant",
        reason="a default limit moved by one: the welcome announces it, the server enforces "
        "what it announces, and any value the spec allows makes a conformant server (the "
        "power run also sets the heartbeat, hello timeout and resume window on the command "
        "line, so those three defaults never reach it)",
    ),
    Equivalent(
        path="canaux/protocol/channels.py",
        scope="Catalogue._check_entry",
        reason="checks the catalogue an application configures, once, when the server is "
        "built: a mutant here either refuses the reference's catalogue (the server does not "
        "start: stillborn) or accepts it and serves exactly the same catalogue",
    ),
    Equivalent(
        path="canaux/server/channels/standard.py",
        scope="standard_channels",
        operator="delete",
        before="channels.append(conformance_channel())",
        reason="the catalogue loses conformance.*: a server MAY leave the family out (CONF-2), "
        "so this is another conformant server; the suite says so by skipping the cases that "
        "need the family",
    ),
    Equivalent(
        path="canaux/server/run.py",
        scope="_announce",
        before="flush=True,",
        after="flush=False,",
        reason="the listening lines go to stdout, not the wire; the power run's server has "
        "PYTHONUNBUFFERED=1, so they are flushed either way",
    ),
)


def judged_equivalent(mutation: Mutation, source: str) -> Equivalent | None:
    """The entry that judges ``mutation`` (applied to ``source``) equivalent, if any."""
    before, after = mutation.diff(source)
    for entry in EQUIVALENTS:
        if entry.matches(mutation, before, after):
            return entry
    return None
