"""A broken server for LEG-HEALTH-01 (http-publish.md HTTP-5): the reference that keeps
counting a legacy connection in ``GET /health`` after it closed.

The relays of this folder cannot break the count: ``/health`` is the server's own answer. This
is the mutant ``legacy.py LegacyLink.run``: ``self._runtime.connections.discard(self)``
deleted, which survived the power run of seed 20261208, rebuilt as a patch of the reference's
legacy link (tests/conformance/test_legacy_health.py applies it with ``monkeypatch``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from canaux.server.legacy import LegacyLink

__all__ = ["never_forgets_legacy_links"]


def never_forgets_legacy_links() -> Callable[[LegacyLink], Coroutine[Any, Any, None]]:
    """A ``LegacyLink.run`` that leaves the link among the runtime's open connections."""
    original = LegacyLink.run

    async def run(self: LegacyLink) -> None:
        try:
            await original(self)
        finally:
            self._runtime.connections.add(self)

    return run
