"""The registry of client cases (issue 12): :func:`client_case`, like the server's ``case``.

A client case is a :class:`~canaux_conformance.cases.Case` whose function takes a
:class:`~canaux_conformance.client.context.ClientCaseContext`. Client cases live in their own
registry, filled by the modules of :mod:`canaux_conformance.client.suites`, so that a server run
never sees them and a client run sees nothing else. Every requirement a client case names must
bind clients (party ``client`` or ``both`` in the requirement index): a test checks it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from canaux_conformance.cases import LEVELS, PROFILES, Case, Level, load_suites, registrar
from canaux_conformance.client.context import ClientCaseContext

__all__ = [
    "CLIENT_REGISTRY",
    "CLIENT_SUITES",
    "ClientCaseFn",
    "all_client_cases",
    "client_case",
]

ClientCaseFn = Callable[[ClientCaseContext], Awaitable[None]]

CLIENT_REGISTRY: dict[str, Case] = {}
"""Every registered client case by ID, in registration order."""
CLIENT_SUITES = "canaux_conformance.client.suites"
"""The package of the client cases, for :func:`~canaux_conformance.cases.load_suites`."""


def client_case(
    *,
    id: str,
    requirements: Sequence[str],
    level: Level = "MUST",
    profile: str = "core",
    title: str,
    timeout: float | None = None,
    timing: bool = False,
) -> Callable[[ClientCaseFn], ClientCaseFn]:
    """Register ``fn`` as the client case ``id`` (IDs start with ``CL-``).

    Client cases run a few at a time (each has its own scripted server and adapter process,
    and mostly waits on the adapter's start-up); ``timing=True`` marks a case that measures
    delays, which runs alone so that a loaded machine does not skew what it measures. The flag
    is kept in :attr:`Case.waits` (``True``: may run alongside others).
    """
    if not id.startswith("CL-"):
        raise ValueError(f"client case id {id!r} must start with 'CL-'")
    if not requirements:
        raise ValueError(f"client case {id}: name the requirements it checks")
    if level not in LEVELS or profile not in PROFILES:
        raise ValueError(f"client case {id}: bad level {level!r} or profile {profile!r}")

    return registrar(
        CLIENT_REGISTRY,
        lambda fn: Case(
            id, tuple(requirements), level, profile, title, fn, timeout, waits=not timing
        ),
        what="client case",
    )


def all_client_cases() -> list[Case]:
    """Every client case, sorted by ID."""
    load_suites(CLIENT_SUITES)
    return sorted(CLIENT_REGISTRY.values(), key=lambda c: c.id)
