"""Canaux conformance suite: checks any server, requirement by requirement (spec "Conformance").

This package never imports the reference implementation ``canaux``: it speaks raw frames
(:class:`RawClient`), validates them against ``canaux_schemas`` and keeps its own model.
Writing a case::

    from canaux_conformance import CaseContext, CaseFailed, case

    @case(id="ROUTE-99", requirements=("DELIVERY-2",), title="…")
    async def route_99(ctx: CaseContext) -> None: ...
"""

__version__ = "0.1.0"

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped, Verdict
from canaux_conformance.proxy import FaultProxy
from canaux_conformance.wire import RawClient

__all__ = [
    "CaseContext",
    "CaseFailed",
    "CaseSkipped",
    "FaultProxy",
    "RawClient",
    "Verdict",
    "__version__",
    "case",
]
